/**
 * PostgreSQL faults against the service as a real child process (src/main.ts, as
 * production starts it):
 * - its busy backends terminated (pg_terminate_backend) under concurrent issuance: the
 *   process survives and keeps issuing;
 * - its private cluster stopped for ~10 s under load, then started: requests in the gap
 *   get 503 database_unavailable with Retry-After (never a 500, never a hang), the
 *   service recovers by itself, and no acknowledged issuance is lost.
 * Backends are picked by the service's application_name in a database of its own: the
 * test never touches a backend that is not its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPrivateCluster, startService, type PrivateCluster, type ServiceProcess } from '../helpers/processes.js';

const ADMIN_URL = process.env.CERTA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const EMAIL = 'admin@faults.test';
const PASSWORD = 'admin-password-for-faults';
const CONNECT_TIMEOUT_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Reply {
  status: number;
  ms: number;
  type: string;
  retryAfter: string | null;
  body: any;
}

async function call(base: string, method: string, path: string, token?: string, body?: unknown, timeoutMs = 30_000): Promise<Reply> {
  const started = Date.now();
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, ms: Date.now() - started, type: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), body: parsed };
}

function serviceEnv(databaseUrl: string, appName: string, dataDir: string): Record<string, string> {
  return {
    CERTA_DATABASE_URL: databaseUrl,
    CERTA_DB_APPLICATION_NAME: appName,
    CERTA_DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    CERTA_DB_POOL_SIZE: '8',
    CERTA_DATA_DIR: dataDir,
    CERTA_MASTER_KEY: randomBytes(32).toString('base64'),
    CERTA_ADMIN_EMAIL: EMAIL,
    CERTA_ADMIN_PASSWORD: PASSWORD,
  };
}

/** Log in, create a root and an issuing CA (EC P-256) and a profile; returns the token and the profile name. */
async function prepareIssuance(base: string): Promise<{ token: string; profile: string }> {
  const login = await call(base, 'POST', '/api/v1/auth/login', undefined, { email: EMAIL, password: PASSWORD });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  const token = login.body.token as string;
  const root = await call(base, 'POST', '/api/v1/authorities', token, { name: 'faults-root', kind: 'root', subject: { commonName: 'Faults Root' }, keyAlgorithm: 'ecdsa-p256', pathLength: 1 });
  expect(root.status, JSON.stringify(root.body)).toBe(201);
  const ca = await call(base, 'POST', '/api/v1/authorities', token, { name: 'faults-issuing', kind: 'intermediate', parentId: root.body.id, subject: { commonName: 'Faults Issuing' }, keyAlgorithm: 'ecdsa-p256' });
  expect(ca.status, JSON.stringify(ca.body)).toBe(201);
  const profile = await call(base, 'POST', '/api/v1/profiles', token, { name: 'faults', authorityId: ca.body.id, allowedDomains: ['faults.test'], allowSubdomains: true, usage: 'server' });
  expect(profile.status, JSON.stringify(profile.body)).toBe(201);
  return { token, profile: 'faults' };
}

let serial = 0;
const issue = (base: string, token: string, profile: string, timeoutMs?: number) => {
  const cn = `h${++serial}-${randomBytes(3).toString('hex')}.faults.test`;
  return call(base, 'POST', '/api/v1/certificates', token, { profile, subject: { commonName: cn }, sans: { dns: [cn] }, keyAlgorithm: 'ecdsa-p256', validityDays: 30 }, timeoutMs);
};

/** `workers` concurrent issuance loops until `stop()`; every reply (or transport failure) is kept. */
function issuanceLoad(base: string, token: string, profile: string, workers: number) {
  const replies: Reply[] = [];
  const failures: string[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        replies.push(await issue(base, token, profile));
      } catch (e) {
        failures.push(String((e as Error)?.cause ?? e));
        await sleep(50);
      }
    }
  });
  return {
    replies,
    failures,
    issued: () => replies.filter((r) => r.status === 201).length,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Every id in `ids` is a row of the certificates table (read straight from the database). */
async function missingFromInventory(databaseUrl: string, ids: string[]): Promise<string[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ id: string }>('SELECT id FROM certificates WHERE id = ANY($1)', [ids]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  } finally {
    await c.end();
  }
}

const isDatabaseUnavailableProblem = (r: Reply) =>
  r.status === 503 && r.type.startsWith('application/problem+json') && r.body?.code === 'database_unavailable' && /^[1-9]\d*$/.test(r.retryAfter ?? '');

describe('PostgreSQL backends terminated under concurrent issuance', () => {
  const dbName = `certa_faults_${randomBytes(4).toString('hex')}`;
  const appName = `certa-faults-${randomBytes(4).toString('hex')}`;
  let dataDir: string | undefined;
  let admin: pg.Client;
  let svc: ServiceProcess | undefined;
  let dbUrl: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'certa-faults-'));
    admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    dbUrl = url.toString();
    svc = await startService({ env: serviceEnv(dbUrl, appName, dataDir!) });
  });

  afterAll(async () => {
    await svc?.kill();
    await admin?.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin?.end();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('ok/three rounds of pg_terminate_backend: the process survives, answers and keeps issuing', { timeout: 180_000 }, async () => {
    const s = svc!;
    const { token, profile } = await prepareIssuance(s.url);
    const all: Reply[] = [];
    for (let round = 1; round <= 3; round++) {
      const load = issuanceLoad(s.url, token, profile, 16);
      // Let the pool fill up with busy clients, then cut our busy backends (running a
      // query, or inside a transaction) a few times.
      const start = load.issued();
      for (let waited = 0; load.issued() < start + 20 && waited < 20_000; waited += 50) await sleep(50);
      let terminated = 0;
      for (let i = 0; i < 5 || (terminated === 0 && i < 100); i++) {
        const { rows } = await admin.query<{ terminated: boolean }>(
          `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
            WHERE datname = $1 AND application_name = $2 AND state <> 'idle' AND pid <> pg_backend_pid()`,
          [dbName, appName],
        );
        terminated += rows.filter((r) => r.terminated).length;
        await sleep(100);
      }
      expect(terminated, `round ${round}: busy backends terminated`).toBeGreaterThan(0);
      // Go on issuing for a while after the cut.
      const after = load.issued();
      for (let waited = 0; load.issued() < after + 20 && waited < 20_000 && s.alive(); waited += 50) await sleep(50);
      await load.stop();
      all.push(...load.replies);
      expect(s.alive(), `round ${round}: the process died:\n${s.output()}`).toBe(true);
      expect(load.issued(), `round ${round}: issued after the cut`).toBeGreaterThanOrEqual(after + 20);
      expect(load.failures, `round ${round}: transport failures`).toEqual([]);
      expect((await call(s.url, 'GET', '/healthz')).status).toBe(200);
      const fresh = await issue(s.url, token, profile);
      expect(fresh.status, `round ${round}: ${JSON.stringify(fresh.body)}`).toBe(201);
    }
    // A request whose connection was cut fails alone, as 503 database_unavailable; never a 500.
    const unexpected = all.filter((r) => r.status !== 201 && !isDatabaseUnavailableProblem(r));
    expect(unexpected.map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    expect(await missingFromInventory(dbUrl, all.filter((r) => r.status === 201).map((r) => r.body.id))).toEqual([]);
    expect(s.output()).not.toMatch(/Unhandled 'error' event|uncaught|unhandled error/i);
  });
});

describe('PostgreSQL stopped for ten seconds under load, then started (private cluster)', () => {
  let dataDir: string | undefined;
  let cluster: PrivateCluster | undefined;
  let svc: ServiceProcess | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'certa-faults-'));
    cluster = await createPrivateCluster();
    svc = await startService({ env: serviceEnv(cluster.url(), 'certa-outage', dataDir) });
  });

  afterAll(async () => {
    await svc?.kill();
    await cluster?.destroy();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('ok/503 database_unavailable with Retry-After during the outage, automatic recovery, no acknowledged issuance lost', { timeout: 180_000 }, async () => {
    const s = svc!;
    const c = cluster!;
    const { token, profile } = await prepareIssuance(s.url);
    const load = issuanceLoad(s.url, token, profile, 8);
    for (let waited = 0; load.issued() < 20 && waited < 20_000; waited += 50) await sleep(50);

    // The outage: fast shutdown (connections cut, server gone), ten seconds, start again.
    const probes: Array<{ path: string; status: number; during: boolean }> = [];
    const stoppedAt = Date.now();
    await c.stop();
    const downAt = Date.now();
    while (Date.now() - stoppedAt < 10_000) {
      for (const path of ['/healthz', '/readyz']) probes.push({ path, status: (await call(s.url, 'GET', path, undefined, undefined, 10_000)).status, during: true });
      await sleep(500);
    }
    const repliesDuringOutage = load.replies.length;
    await c.start();
    const restartedAt = Date.now();

    // Recovery on its own: issuance succeeds again, and /readyz says so.
    const issuedAtRestart = load.issued();
    for (let waited = 0; load.issued() < issuedAtRestart + 20 && waited < 30_000; waited += 100) await sleep(100);
    const recoveredAfterMs = Date.now() - restartedAt;
    await load.stop();
    probes.push({ path: '/readyz', status: (await call(s.url, 'GET', '/readyz')).status, during: false });

    expect(s.alive(), `the process died:\n${s.output()}`).toBe(true);
    expect(load.failures, 'transport failures (connection refused, reset, timeout)').toEqual([]);
    // Every request failed by the outage says so: 503 problem+json, code, Retry-After; never a 500.
    const unexpected = load.replies.filter((r) => r.status !== 201 && !isDatabaseUnavailableProblem(r));
    expect(unexpected.map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    const refused = load.replies.filter((r) => r.status === 503);
    expect(refused.length, 'requests during the outage were answered 503').toBeGreaterThan(10);
    expect(load.replies.slice(0, repliesDuringOutage).filter((r) => r.status === 201).length, 'issued before the outage').toBeGreaterThanOrEqual(20);
    expect(load.issued(), 'issued after the restart').toBeGreaterThanOrEqual(issuedAtRestart + 20);
    expect(recoveredAfterMs, 'recovered soon after the restart').toBeLessThan(30_000);
    // No request hung: nothing waits much longer than the connect timeout.
    expect(Math.max(...load.replies.map((r) => r.ms)), 'slowest reply (ms)').toBeLessThan(CONNECT_TIMEOUT_MS + 2000);
    // Probes: the process stays up (liveness) but not ready while the database is gone, ready again after.
    expect(probes.filter((p) => p.during && p.path === '/healthz').every((p) => p.status === 200)).toBe(true);
    expect(probes.filter((p) => p.during && p.path === '/readyz').every((p) => p.status === 503)).toBe(true);
    expect(probes.at(-1)).toEqual({ path: '/readyz', status: 200, during: false });
    expect(downAt - stoppedAt, 'pg_ctl stop took').toBeLessThan(10_000);
    // No acknowledged write lost: every 201 is in the inventory.
    expect(await missingFromInventory(c.url(), load.replies.filter((r) => r.status === 201).map((r) => r.body.id))).toEqual([]);
    const one = load.replies.find((r) => r.status === 201)!;
    expect((await call(s.url, 'GET', `/api/v1/certificates/${one.body.id}`, token)).status).toBe(200);
    expect(s.output()).not.toMatch(/Unhandled 'error' event|uncaught|unhandled error/i);
  });
});
