/** Handlers for the system tag: probes, metrics and the spec itself. */
import type { HandlerMap } from '../handler.js';
import { ok } from '../handler.js';
import { DomainError } from '../../errors.js';
import { openapiDocument } from '../../spec.js';

export const systemHandlers = (deps: { renderMetrics: () => Promise<string> }): HandlerMap => ({
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
