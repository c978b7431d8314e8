/**
 * "The database cannot serve" through the HTTP pipeline of an in-process App, on both
 * dialects, with real failures: 503 problem+json `database_unavailable` with Retry-After,
 * never a 500 and never a wait beyond the configured timeouts; liveness and metrics keep
 * answering, readiness does not; service resumes by itself.
 * - PostgreSQL: a private cluster stopped and started again; a network that stops
 *   carrying packets (a TCP proxy that freezes: the query deadline and the connect timeout).
 * - SQLite: another connection holding the write lock beyond busy_timeout.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestApp } from '../helpers/harness.js';
import { createPrivateCluster, type PrivateCluster } from '../helpers/processes.js';
import type { App } from '../../src/app.js';
import { AuditWriter } from '../../src/rights/audit.usecases.js';
import { isDatabaseUnavailable } from '../../src/store/db.js';
import { newId } from '../../src/lib/ids.js';
import { Scratch } from '../helpers/openssl.js';

type Started = Awaited<ReturnType<typeof startTestApp>>;

async function call(app: App, method: string, path: string, token?: string, body?: unknown) {
  const started = Date.now();
  const res = await fetch(app.url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, ms: Date.now() - started, type: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), json, text };
}

async function login(app: App): Promise<string> {
  const r = await call(app, 'POST', '/api/v1/auth/login', undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  expect(r.status).toBe(200);
  return r.json.token;
}

function expectUnavailable(r: Awaited<ReturnType<typeof call>>) {
  expect(r.status, r.text).toBe(503);
  expect(r.type).toMatch(/^application\/problem\+json/);
  expect(r.json).toMatchObject({ status: 503, code: 'database_unavailable', type: 'https://certa.dev/problems/database_unavailable' });
  expect(r.retryAfter).toMatch(/^[1-9]\d*$/);
}

const role = (name: string) => ({ name, description: 'db-unavailable test', permissions: ['certificates:read'] });

describe('PostgreSQL stopped (private cluster), in-process App', () => {
  let cluster: PrivateCluster | undefined;
  let started: Started | undefined;

  beforeAll(async () => {
    cluster = await createPrivateCluster();
    started = await startTestApp('postgres', { env: { CERTA_DATABASE_URL: cluster.url(), CERTA_DB_CONNECT_TIMEOUT_MS: '2000' } });
  });
  afterAll(async () => {
    await cluster?.start().catch(() => {});
    await started?.cleanup();
    await cluster?.destroy();
  });

  it('ok/503 database_unavailable + Retry-After while stopped; /healthz and /metrics answer, /readyz does not; back by itself', async () => {
    const app = started!.app;
    const token = await login(app);
    expect((await call(app, 'GET', '/api/v1/certificates', token)).status).toBe(200);
    await cluster!.stop();
    try {
      const read = await call(app, 'GET', '/api/v1/certificates', token);
      expectUnavailable(read);
      // A mutation too; its (failing) audit record does not make the client wait longer.
      const write = await call(app, 'POST', '/api/v1/roles', token, role('while-down'));
      expectUnavailable(write);
      expect(write.ms).toBeLessThan(2000);
      // A public endpoint, and login (which counts failures in the database).
      expectUnavailable(await call(app, 'GET', `/pki/crl/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}.crl`));
      expectUnavailable(await call(app, 'POST', '/api/v1/auth/login', undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD }));
      const ready = await call(app, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.code).toBe('not_ready');
      expect((await call(app, 'GET', '/healthz')).status).toBe(200);
      const metrics = await call(app, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('certa_http_requests_total{operation="listCertificates",status="503"}');
    } finally {
      await cluster!.start();
    }
    expect((await call(app, 'GET', '/readyz')).status).toBe(200);
    expect((await call(app, 'GET', '/api/v1/certificates', token)).status).toBe(200);
    expect((await call(app, 'POST', '/api/v1/roles', token, role('after-restart'))).status).toBe(201);
  });

  it('ok/OCSP answers `tryLater` (RFC 6960) while the database is down, as openssl reads it; `good` again after', async () => {
    const app = started!.app;
    const token = await login(app);
    const s = new Scratch();
    try {
      const root = await call(app, 'POST', '/api/v1/authorities', token, { name: 'ocsp-outage-root', kind: 'root', subject: { commonName: 'OCSP Outage Root' }, keyAlgorithm: 'ecdsa-p256' });
      expect(root.status, root.text).toBe(201);
      const profile = await call(app, 'POST', '/api/v1/profiles', token, { name: 'ocsp-outage', authorityId: root.json.id, allowedDomains: ['example.test'], allowSubdomains: true, usage: 'server' });
      expect(profile.status, profile.text).toBe(201);
      const leaf = await call(app, 'POST', '/api/v1/certificates', token, { profile: 'ocsp-outage', subject: { commonName: 'ocsp.example.test' }, sans: { dns: ['ocsp.example.test'] } });
      expect(leaf.status, leaf.text).toBe(201);
      s.write('root.pem', root.json.certificatePem);
      s.write('leaf.pem', leaf.json.certificatePem);
      const ocsp = () => s.opensslAsync(['ocsp', '-issuer', 'root.pem', '-cert', 'leaf.pem', '-url', `${app.url}/pki/ocsp/${root.json.id}`, '-CAfile', 'root.pem']);
      expect((await ocsp()).out).toMatch(/leaf\.pem: good/);
      s.ok('ocsp', '-issuer', 'root.pem', '-cert', 'leaf.pem', '-no_nonce', '-reqout', 'req.der');
      const getPath = `/pki/ocsp/${root.json.id}/${encodeURIComponent(s.read('req.der').toString('base64'))}`;
      await cluster!.stop();
      try {
        // A nonce makes every request new, so the answer cannot come from the cache.
        const down = await ocsp();
        expect(down.out).toMatch(/Responder Error: trylater \(3\)/);
        // GET (RFC 5019), never asked before, so not pre-signed: tryLater, not cacheable.
        const get = await fetch(app.url + getPath);
        expect(get.status).toBe(200);
        expect(get.headers.get('content-type')).toBe('application/ocsp-response');
        expect(get.headers.get('cache-control')).toBe('no-store');
        expect(get.headers.get('retry-after')).toBe('5');
        // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED tryLater(3) } and nothing else.
        expect(Buffer.from(await get.arrayBuffer()).toString('hex')).toBe('30030a0103');
      } finally {
        await cluster!.start();
      }
      expect((await ocsp()).out).toMatch(/leaf\.pem: good/);
    } finally {
      s.cleanup();
    }
  });

  it('ok/background jobs survive the outage: each pass fails, logs and returns; they work again after', async () => {
    const app = started!.app;
    const job = (name: string) => app.jobs.find((j) => j.name === name) as unknown as { tick?(): Promise<void>; runOnce?(): Promise<unknown> };
    await cluster!.stop();
    try {
      await expect(job('crl-refresh').tick!()).resolves.toBeUndefined();
      await expect(job('notify-sweep').tick!()).resolves.toBeUndefined();
      // The delivery worker's loop catches what a round throws; the round itself reports it.
      await expect(job('notify-delivery').runOnce!()).rejects.toThrow();
    } finally {
      await cluster!.start();
    }
    await expect(job('crl-refresh').tick!()).resolves.toBeUndefined();
    await expect(job('notify-sweep').tick!()).resolves.toBeUndefined();
    await expect(job('notify-delivery').runOnce!()).resolves.toMatchObject({ claimed: 0 });
  });
});

/**
 * A TCP relay to the shared PostgreSQL server that can stop carrying packets: established
 * connections go silent both ways and new ones are accepted but never answered (what a
 * vanished host or a network partition looks like).
 */
async function freezableProxy(target: URL) {
  const pairs = new Set<[Socket, Socket]>();
  const held = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (frozen) {
      held.add(client);
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.add([client, upstream]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    freeze() {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const s of held) s.destroy();
      held.clear();
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('PostgreSQL behind a network that goes silent, in-process App', () => {
  let proxy: Awaited<ReturnType<typeof freezableProxy>> | undefined;
  let started: Started | undefined;

  beforeAll(async () => {
    const pgUrl = new URL(inject('pgUrl'));
    proxy = await freezableProxy(pgUrl);
    const viaProxy = new URL(pgUrl);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    started = await startTestApp('postgres', {
      env: { CERTA_DATABASE_URL: viaProxy.toString(), CERTA_DB_POOL_SIZE: '1', CERTA_DB_CONNECT_TIMEOUT_MS: '800', CERTA_DB_QUERY_TIMEOUT_MS: '800' },
    });
  });
  afterAll(async () => {
    proxy?.thaw();
    await started?.cleanup();
    await proxy?.close();
  });

  it('ok/bounded 503s (query deadline, then connect timeout, then the pool wait), back once packets flow', async () => {
    const app = started!.app;
    const token = await login(app);
    expect((await call(app, 'GET', '/api/v1/certificates', token)).status).toBe(200);
    proxy!.freeze();
    // The pooled connection goes silent: its query misses the deadline, the connection is closed.
    const first = await call(app, 'GET', '/api/v1/certificates', token);
    expectUnavailable(first);
    expect(first.ms).toBeGreaterThanOrEqual(700);
    expect(first.ms).toBeLessThan(3000);
    // A new connection is never answered: the connect timeout; requests waiting for the one
    // pooled connection meanwhile give up after the same timeout.
    const next = await Promise.all([1, 2, 3].map(() => call(app, 'GET', '/api/v1/certificates', token)));
    for (const r of next) {
      expectUnavailable(r);
      expect(r.ms).toBeLessThan(3000);
    }
    proxy!.thaw();
    expect((await call(app, 'GET', '/api/v1/certificates', token)).status).toBe(200);
    expect((await call(app, 'GET', '/readyz')).status).toBe(200);
  });

  it('error/the audit group commit gives up on a batch as a whole, not event by event (each would wait its own timeout)', async () => {
    const writer = new AuditWriter(started!.app.services);
    const event = (i: number) => ({
      id: newId(),
      at: new Date().toISOString(),
      actor_user_id: null,
      actor_email: null,
      actor_token_id: null,
      action: 'dbUnavailableTest',
      target: `e-${i}`,
      outcome: 'success' as const,
      status: 200,
      request_id: `r-${i}`,
      ip: null,
      detail: null,
    });
    proxy!.freeze();
    try {
      const begun = Date.now();
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => writer.write(event(i))));
      // One try and one retry of the batch (~2 x 800 ms), where 20 single inserts would take 16 s.
      expect(Date.now() - begun).toBeLessThan(5000);
      expect(results.every((r) => r.status === 'rejected' && isDatabaseUnavailable(r.reason))).toBe(true);
    } finally {
      proxy!.thaw();
    }
    await writer.write(event(99));
  });
});

describe('SQLite locked by another connection beyond busy_timeout, in-process App', () => {
  let started: Started | undefined;
  beforeAll(async () => {
    started = await startTestApp('sqlite');
  });
  afterAll(async () => {
    await started?.cleanup();
  });

  it('ok/a write answers 503 database_unavailable (not 500) while locked, and succeeds once the lock is gone', async () => {
    const app = started!.app;
    const token = await login(app);
    // Shorter than the 5 s default so the test does not wait (the request thread is the one waiting).
    await sql`pragma busy_timeout = 200`.execute(app.store.db);
    const other = new SqliteDatabase(join(started!.dataDir, 'certa.db'));
    try {
      other.exec('begin immediate');
      expectUnavailable(await call(app, 'POST', '/api/v1/roles', token, role('while-locked')));
      // Readers are not blocked in WAL mode.
      expect((await call(app, 'GET', '/api/v1/roles', token)).status).toBe(200);
      other.exec('rollback');
    } finally {
      other.close();
    }
    expect((await call(app, 'POST', '/api/v1/roles', token, role('after-lock'))).status).toBe(201);
  });
});
