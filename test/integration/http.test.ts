import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachDialect } from '../helpers/harness.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { openapiDocument } from '../../src/spec.js';
import { App } from '../../src/app.js';

forEachDialect('HTTP behaviour', (env) => {
  const auth = () => ({ authorization: `Bearer ${env().adminToken}` });

  it('error/unknown route -> 404 problem', async () => {
    const r = await env().fetch('/api/v1/nope', { headers: auth() });
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(((await r.json()) as any).code).toBe('not_found');
  });

  it('error/wrong method -> 405 with Allow', async () => {
    const r = await env().fetch('/api/v1/roles', { method: 'PUT', headers: auth() });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, POST');
  });

  it('error/malformed JSON -> 400 malformed_json', async () => {
    const r = await env().fetch('/api/v1/roles', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"name": ' });
    expect(r.status).toBe(400);
    const p: any = await r.json();
    expect(p.code).toBe('malformed_json');
    expect(p.detail).toMatch(/not valid JSON/);
  });

  it('error/body over the limit -> 413', async () => {
    const big = JSON.stringify({ name: 'x', permissions: [], description: 'a'.repeat(2 * 1024 * 1024) });
    const r = await env().fetch('/api/v1/roles', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: big });
    expect(r.status).toBe(413);
    expect(((await r.json()) as any).code).toBe('payload_too_large');
  });

  it('error/wrong content type for a JSON operation -> 415', async () => {
    const r = await env().fetch('/api/v1/roles', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'hello' });
    expect(r.status).toBe(415);
    expect(((await r.json()) as any).code).toBe('unsupported_media_type');
  });

  it('ok/X-Request-Id is accepted and returned; generated when absent', async () => {
    const r = await env().fetch('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    const r2 = await env().fetch('/healthz');
    expect(r2.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('ok/probes, metrics and the spec', async () => {
    const api = env().client(null);
    expect((await api.GET('/healthz')).data).toEqual({ status: 'ok' });
    expect((await api.GET('/readyz')).data).toEqual({ status: 'ready', database: env().dialect });
    await api.GET('/api/v1/roles');
    const m = await (await env().fetch('/metrics')).text();
    expect(m).toMatch(/certa_http_requests_total\{operation="getReadiness",status="200"\} \d+/);
    expect(m).toMatch(/certa_http_request_duration_seconds_bucket\{le="0.005",operation="getHealth",status="200"\}/);
    const spec = await (await env().fetch('/api/v1/openapi.json')).json();
    expect(spec).toEqual(openapiDocument);
  });
});

describe('unexpected errors', () => {
  it('-> 500 problem with the request id, no internals; logged with its stack', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-500-'));
    const config = loadConfig({ CERTA_PORT: '0', CERTA_HOST: '127.0.0.1', CERTA_DATA_DIR: dataDir, CERTA_ADMIN_PASSWORD: 'admin-password-for-tests', CERTA_JOBS: 'false' });
    const app = new App({ config, logger: createLogger('error', sink) });
    await app.start();
    try {
      // Break the database under the running app: every query now throws.
      await app.store.db.destroy();
      const res = await fetch(`${app.url}/api/v1/users`, { headers: { authorization: 'Bearer certa_s_whatever_token_value_here_000000000000' } });
      expect(res.status).toBe(500);
      const body: any = await res.json();
      expect(body.code).toBe('internal_error');
      expect(body.requestId).toBe(res.headers.get('x-request-id'));
      expect(JSON.stringify(body)).not.toMatch(/destroyed|kysely|stack|at /i);
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error');
      expect(logged.err.stack).toMatch(/at /);
      expect(logged.requestId).toBe(body.requestId);
      expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
    } finally {
      await app.stop().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
