/** Handlers for the system tag: probes, metrics and the spec itself. */
import type { HandlerMap } from '../handler.js';
import { ok } from '../handler.js';
import { DomainError } from '../../errors.js';
import { openapiDocument } from '../../spec.js';

/** text/html when the client ranks it above JSON (a browser), JSON otherwise. */
function prefersHtml(accept: string): boolean {
  const q = (type: string) => {
    for (const part of accept.split(',')) {
      const [t, ...params] = part.trim().toLowerCase().split(';');
      if (t.trim() !== type) continue;
      const qv = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return qv === undefined ? 1 : Number(qv);
    }
    return -1;
  };
  const html = q('text/html');
  return html > 0 && html > q('application/json');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const systemHandlers = (deps: { renderMetrics: () => Promise<string> }): HandlerMap => ({
  getIndex(c) {
    const docs = c.svc.config.docsUrl;
    const links = { openapi: '/api/v1/openapi.json', ...(docs ? { docs } : {}), health: '/healthz', readiness: '/readyz', metrics: '/metrics', login: '/api/v1/auth/login' };
    const index = { name: openapiDocument.info.title as string, version: openapiDocument.info.version as string, links };
    if (!prefersHtml(c.koa.get('accept'))) return ok(index, { Vary: 'Accept' });
    const items = Object.entries(links).map(([k, v]) => `<li>${escapeHtml(k)}: <a href="${escapeHtml(v)}">${escapeHtml(v)}</a></li>`);
    const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(index.name)}</title></head>\n<body><h1>${escapeHtml(index.name)} ${escapeHtml(index.version)}</h1>\n<ul>${items.join('')}</ul></body></html>\n`;
    return { status: 200, body: html, contentType: 'text/html; charset=utf-8', headers: { Vary: 'Accept' } };
  },
  getHealth() {
    return ok({ status: 'ok' });
  },
  async getReadiness(c) {
    if (!(await c.svc.store.ready())) throw new DomainError('not_ready', 'the database is unreachable or migrations are pending');
    return ok({ status: 'ready', database: c.svc.store.dialect });
  },
  async getMetrics() {
    return { status: 200, body: await deps.renderMetrics(), contentType: 'text/plain; version=0.0.4; charset=utf-8' };
  },
  getOpenApiDocument() {
    return ok(openapiDocument, { 'Cache-Control': 'public, max-age=300' });
  },
});
