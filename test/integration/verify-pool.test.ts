/**
 * Costly verifications run off the event loop: a hostile mesh of same-named cross-signed CAs
 * (every candidate at every step verifies, so path building faces width^depth paths) sent
 * concurrently must not hold up /healthz; oversized bundles are refused before any parsing;
 * a full pool answers 503 with Retry-After; a job past its time budget loses its worker, and
 * the next job gets a fresh one; revocation records still reach a job running in a worker.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_EMAIL, ADMIN_PASSWORD, DIALECTS, forEachDialect } from '../helpers/harness.js';
import { startService, type ServiceProcess } from '../helpers/processes.js';
import { hostileMesh, type HostileMesh } from '../helpers/hostile-mesh.js';
import { DomainError } from '../../src/errors.js';
import { VerifyPool } from '../../src/verification/verify.pool.js';
import type { VerifyJob } from '../../src/verification/verify.job.js';

/** 30 levels x 17 CAs (511 certificates, as in the issue), and meshes that fit the 64-certificate cap. */
let big: HostileMesh;
const capped: HostileMesh[] = [];
beforeAll(async () => {
  big = await hostileMesh(30, 17);
  // Enough distinct ones that a worker's signature cache (8192 pairs) cannot hold them all.
  for (let i = 0; i < 12; i++) capped.push(await hostileMesh(4, 15));
}, 120_000);

/** Anything with a base URL and an admin token: the in-process test app or a service process. */
interface Target {
  url: string;
  adminToken: string;
}

async function post(t: Target, body: unknown): Promise<Response> {
  return fetch(`${t.url}/api/v1/verify/chain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const hostileBody = (m: HostileMesh) => ({ certificates: m.bundlePem, trustAnchors: m.rootPem, hostname: 'other.example.test', maxDepth: 20 });

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

forEachDialect('verify pool: hostile meshes under load', (env) => {
  it('the 511-certificate mesh is refused before parsing: 400 naming the limit', async () => {
    const res = await post(env(), hostileBody(big));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; detail: string; errors: Array<{ field: string }> };
    expect(body.code).toBe('bad_request');
    expect(body.detail).toContain('at most 64 certificates');
    expect(body.errors[0].field).toBe('/body/certificates');
  });

  it('a capped mesh ends at the search budget with a report (budgetExhausted), not a stall', async () => {
    const res = await post(env(), hostileBody(capped[0]));
    expect(res.status).toBe(200);
    const report = (await res.json()) as { valid: boolean; warnings: Array<{ code: string }> };
    expect(report.valid).toBe(false);
    expect(report.warnings.map((w) => w.code)).toContain('budgetExhausted');
  });

  it('a revoked Certa certificate in a bundle large enough for the pool is still reported revoked', async () => {
    const api = env().client();
    const root = await api.POST('/api/v1/authorities', { body: { name: 'pool-root', kind: 'root', subject: { commonName: 'Pool Root' }, keyAlgorithm: 'ecdsa-p256' } });
    expect(root.response.status).toBe(201);
    const prof = await api.POST('/api/v1/profiles', { body: { name: 'pool-web', authorityId: root.data!.id, allowedDomains: ['example.test'], allowSubdomains: true, usage: 'server' } });
    expect(prof.response.status).toBe(201);
    const leaf = await api.POST('/api/v1/certificates', { body: { profile: 'pool-web', subject: { commonName: 'pool.example.test' }, sans: { dns: ['pool.example.test'] }, keyAlgorithm: 'ecdsa-p256', validityDays: 30 } });
    expect(leaf.response.status).toBe(201);
    // Irrelevant certificates make it a pool job (more than 4 certificates).
    const padding = capped[1].bundlePem.split(/(?=-----BEGIN)/).slice(1, 7).join('');
    const body = { certificates: leaf.data!.certificatePem + padding, hostname: 'pool.example.test', trust: ['internal' as const] };
    const before = await api.POST('/api/v1/verify/chain', { body });
    expect(before.response.status).toBe(200);
    expect(before.data!.valid, JSON.stringify(before.data!.errors)).toBe(true);
    const rev = await api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: leaf.data!.id } }, body: { reason: 'keyCompromise' } });
    expect(rev.response.status).toBe(200);
    const after = await api.POST('/api/v1/verify/chain', { body });
    expect(after.response.status).toBe(200);
    expect(after.data!.errors.map((x) => x.code)).toEqual(['revoked']);
  });
  it('verifyEndpoint: a server presenting a long chain is validated in the pool, with its report', async () => {
    const m = await hostileMesh(6, 1);
    const server = tls.createServer({ key: m.leafKeyPem, cert: m.bundlePem }, (sock) => sock.end());
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port, servername: 'mesh.example.test', trust: ['supplied'], trustAnchors: m.rootPem } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(200);
      expect(r.data!.valid, JSON.stringify(r.data!.errors)).toBe(true);
      expect(r.data!.path).toHaveLength(8);
      expect(r.data!.endpoint!.presentedChain).toHaveLength(7);
    } finally {
      await new Promise((r) => server.close(() => r(undefined)));
    }
  });
});

/**
 * The service in its own process (npm start), so the load generator's own work does not
 * share the event loop it measures; on each database.
 */
for (const dialect of DIALECTS) {
  describe(`verify pool: /healthz under hostile load, service process [${dialect}]`, () => {
    let svc: ServiceProcess;
    let target: Target;
    let dataDir: string;
    let db: { admin: pg.Client; name: string } | undefined;
    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'certa-verify-pool-'));
      const env: Record<string, string> = { CERTA_DATA_DIR: dataDir, CERTA_ADMIN_EMAIL: ADMIN_EMAIL, CERTA_ADMIN_PASSWORD: ADMIN_PASSWORD, CERTA_JOBS: 'false' };
      if (dialect === 'postgres') {
        const url = new URL(inject('pgUrl'));
        const name = `certa_vpool_${randomBytes(5).toString('hex')}`;
        const admin = new pg.Client({ connectionString: url.href });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${name}`);
        db = { admin, name };
        url.pathname = `/${name}`;
        env.CERTA_DATABASE_URL = url.href;
      }
      svc = await startService({ env });
      const res = await fetch(`${svc.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }) });
      target = { url: svc.url, adminToken: ((await res.json()) as { token: string }).token };
    }, 90_000);
    afterAll(async () => {
      await svc?.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      if (db) {
        await db.admin.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
        await db.admin.end();
      }
    });

  it('hostile requests 12 at a time for 8 s: /healthz p99 < 200 ms, every answer a report or a 4xx/503 problem', async () => {
    const e = target;
    const until = Date.now() + 8000;
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    const senders = Array.from({ length: 12 }, async (_, i) => {
      for (let n = 0; Date.now() < until; n++) {
        const mesh = (i + n) % 5 === 0 ? big : capped[(i + n) % capped.length];
        const res = await post(e, hostileBody(mesh));
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        if (res.status === 503) {
          if (res.headers.get('retry-after') !== '1' || JSON.parse(text).code !== 'overloaded') bad.push(`503 ${res.headers.get('retry-after')} ${text}`);
        } else if (res.status !== 200 && res.status !== 400) bad.push(`${res.status} ${text}`);
      }
    });
    const latencies: number[] = [];
    const sampler = (async () => {
      while (Date.now() < until) {
        const t = performance.now();
        const res = await fetch(`${e.url}/healthz`);
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        latencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all([...senders, sampler]);
    const worst = p99(latencies);
    console.log(`[${dialect}] /healthz p99 ${worst.toFixed(1)} ms over ${latencies.length} samples; hostile answers ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(bad).toEqual([]);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(latencies.length).toBeGreaterThan(50);
    expect(worst).toBeLessThan(200);
  }, 60_000);


    it('the service is still alive and stops cleanly on SIGTERM', async () => {
      expect(svc.alive(), svc.output()).toBe(true);
      expect(await svc.kill('SIGTERM')).toBe(0);
    }, 30_000);
  });
}

forEachDialect(
  'verify pool: a full queue answers 503 overloaded with Retry-After',
  (env) => {
    it('one worker, no queue: concurrent pool jobs beyond the first are refused at once, then it serves again', async () => {
      const results = await Promise.all(capped.map((m) => post(env(), hostileBody(m)).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { code: string; detail: string } }))));
      const refused = results.filter((r) => r.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.retryAfter).toBe('1');
        expect(r.body.code).toBe('overloaded');
        expect(r.body.detail).toContain('too many verifications in progress');
      }
      expect(results.every((r) => r.status === 200 || r.status === 503)).toBe(true);
      const again = await post(env(), hostileBody(capped[0]));
      expect(again.status).toBe(200);
    });
  },
  { env: { CERTA_VERIFY_WORKERS: '1', CERTA_VERIFY_QUEUE: '0' } },
);

describe('verify pool: time budget and worker replacement (real worker threads)', () => {
  const chain = async () => {
    const m = await hostileMesh(5, 1);
    const job: VerifyJob = {
      certificates: m.bundlePem,
      certificatesField: '/body/certificates',
      certificatesWhat: 'certificates',
      trustAnchors: m.rootPem,
      trust: ['supplied'],
      peerNames: [{ kind: 'dns', value: 'mesh.example.test' }],
      at: new Date(),
      checkRevocation: true,
    };
    return job;
  };
  let pool: VerifyPool;
  const lost: string[] = [];
  beforeAll(() => {
    pool = new VerifyPool({ workers: 1, queue: 4, timeoutMs: 300, onWorkerLost: (r) => lost.push(r) });
  });
  afterAll(() => pool.stop());

  it('a job past its budget gets 503 overloaded and its worker is replaced; the next job runs on a fresh one', async () => {
    const job = await chain();
    // The revocation lookup (a database read in the service) hangs: the job cannot finish.
    const hanging = pool.run(job, () => new Promise(() => {}));
    const err = await hanging.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('overloaded');
    expect((err as DomainError).message).toContain('time budget of 300 ms');
    expect((err as DomainError).headers).toEqual({ 'Retry-After': '1' });
    expect(lost).toEqual(['the verification exceeded its time budget of 300 ms']);
    expect(pool.load.workers).toBe(0);
    const seen: string[] = [];
    const report = await pool.run(job, (_issuer, serial) => {
      seen.push(serial);
      return { revoked: false };
    });
    expect(report.valid, JSON.stringify(report.errors)).toBe(true);
    expect(report.path).toHaveLength(7);
    // Leaf and five intermediates, each looked up on this thread.
    expect(seen).toHaveLength(6);
    expect(pool.load).toEqual({ running: 0, queued: 0, workers: 1 });
  });

  it('a lookup that fails fails the job with that same error (e.g. the database is down)', async () => {
    const job = await chain();
    const boom = new DomainError('database_unavailable', 'the database is unreachable');
    await expect(pool.run(job, () => Promise.reject(boom))).rejects.toBe(boom);
    // The worker survives a failed job.
    expect(pool.load.workers).toBe(1);
  });

  it('unusable input inside a worker is the same 400 problem as on the event loop', async () => {
    const job = await chain();
    const err = await pool.run({ ...job, certificates: [String(job.certificates), 'not base64!'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('bad_certificate');
    expect((err as DomainError).errors?.[0].field).toBe('/body/certificates');
  });
});
