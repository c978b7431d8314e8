/**
 * Key-encryption key rotation (`npm run rotate-kek`, src/secrets/rotate.cli.ts) on both
 * dialects: a service running with the new key + the old one keeps issuing while the
 * rotation re-wraps every secret; afterwards the service runs with the new key only, and
 * every row of `secrets` is under it. Embedded mode (master.key) through the real CLI.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { LocalKek } from '../../src/crypto/envelope.js';
import { createLogger } from '../../src/log.js';
import { SecretStore } from '../../src/secrets/secret-store.js';
import { rotateKek } from '../../src/secrets/rotate.cli.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, DIALECTS, makeEnv, type DialectName, type TestEnv } from '../helpers/harness.js';

const ROOT = join(import.meta.dirname, '../..');

function baseEnv(dialect: DialectName, dataDir: string): Record<string, string> {
  const pgUrl = dialect === 'postgres' ? inject('pgUrl') : undefined;
  return {
    CERTA_PORT: '0',
    CERTA_HOST: '127.0.0.1',
    CERTA_DATA_DIR: dataDir,
    CERTA_ADMIN_EMAIL: ADMIN_EMAIL,
    CERTA_ADMIN_PASSWORD: ADMIN_PASSWORD,
    CERTA_LOG_LEVEL: 'silent',
    CERTA_JOBS: 'false',
    CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true',
    CERTA_TARGET_ALLOW: '127.0.0.0/8',
    ...(pgUrl ? { CERTA_DATABASE_URL: pgUrl, CERTA_DB_POOL_SIZE: '5' } : {}),
  };
}

/** Start (or restart) an App on the same database with the given keys. */
async function start(dialect: DialectName, dataDir: string, pgSchema: string | undefined, keys: Record<string, string>): Promise<TestEnv> {
  const config = loadConfig({ ...baseEnv(dialect, dataDir), ...keys });
  const app = new App({ config, pgSchema, logger: createLogger(config.logLevel) });
  await app.start();
  const res = await fetch(`${app.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }) });
  const { token } = (await res.json()) as { token: string };
  return makeEnv(dialect, app, dataDir, token);
}

async function issue(e: TestEnv, profile: string, cn: string): Promise<number> {
  const r = await e.client().POST('/api/v1/certificates', { body: { profile, subject: { commonName: cn }, sans: { dns: [cn] }, validityDays: 5 } });
  if (r.response.status !== 201) throw new Error(`issuance failed: ${JSON.stringify(r.error)}`);
  return r.response.status;
}

async function kekIds(e: TestEnv): Promise<Record<string, number>> {
  const rows = await e.app.store.db.selectFrom('secrets').select(['kek_id']).execute();
  const out: Record<string, number> = {};
  for (const r of rows) out[r.kek_id] = (out[r.kek_id] ?? 0) + 1;
  return out;
}

/** A receiver for the webhook channel's test message (proves its sealed config still opens). */
let receiver: Server;
let receiverUrl = '';
beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

for (const dialect of DIALECTS) {
  describe(`KEK rotation [${dialect}]`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), `certa-kek-${dialect}-`));
    const pgSchema = dialect === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
    const keyA = randomBytes(32).toString('base64');
    const keyB = randomBytes(32).toString('base64');
    const kekA = LocalKek.fromBase64(keyA);
    const kekB = LocalKek.fromBase64(keyB);
    let running: TestEnv | null = null;
    const stop = async () => {
      await running?.app.stop();
      running = null;
    };
    afterAll(async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (pgSchema) {
        const c = new pg.Client({ connectionString: inject('pgUrl') });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
        await c.end();
      }
    });

    it('ok/rotation while a service with new + old keys keeps issuing; afterwards the new key alone suffices', async () => {
      // Step 1: CAs and a channel secret under key A.
      running = await start(dialect, dataDir, pgSchema, { CERTA_MASTER_KEY: keyA });
      const api = running.client();
      const root = await api.POST('/api/v1/authorities', { body: { name: 'rot-root', kind: 'root', subject: { commonName: 'Rotation Root' } } });
      expect(root.response.status, JSON.stringify(root.error)).toBe(201);
      for (const [name, alg] of [['rot-int', 'ecdsa-p384'], ['rot-int-rsa', 'rsa-2048']] as const) {
        const int = await api.POST('/api/v1/authorities', { body: { name, kind: 'intermediate', parentId: 'rot-root', subject: { commonName: name }, keyAlgorithm: alg } });
        expect(int.response.status, JSON.stringify(int.error)).toBe(201);
      }
      await api.POST('/api/v1/profiles', { body: { name: 'rot-web', authorityId: 'rot-int', allowedDomains: ['rot.example.test'], allowSubdomains: true, usage: 'server' } });
      const ch = await api.POST('/api/v1/notification-channels', { body: { name: 'rot-hook', type: 'webhook', config: { url: `${receiverUrl}/hook`, secret: 'webhook-signing-secret-0123456789' } } });
      expect(ch.response.status, JSON.stringify(ch.error)).toBe(201);
      expect(await issue(running, 'rot-web', 'a.rot.example.test')).toBe(201);
      const underA = (await kekIds(running))[kekA.id];
      expect(underA).toBeGreaterThanOrEqual(4);
      expect(Object.keys(await kekIds(running))).toEqual([kekA.id]);
      await stop();

      // Step 2: every replica redeployed with B as the key and A as a previous one.
      running = await start(dialect, dataDir, pgSchema, { CERTA_MASTER_KEY: keyB, CERTA_PREVIOUS_MASTER_KEYS: keyA });
      const svc = running;
      expect(await issue(svc, 'rot-web', 'b.rot.example.test')).toBe(201);

      // An interrupted run (after its first batch of 2) leaves a consistent, resumable state.
      const partial = new SecretStore(svc.app.store.db, kekB, { now: () => new Date() }, [kekA]);
      await expect(partial.rewrapAll({ batch: 2, onProgress: () => { throw new Error('interrupted'); } })).rejects.toThrow('interrupted');
      expect((await kekIds(svc))[kekA.id]).toBe(underA - 2);

      // Step 3: the rotation runs while the service keeps issuing (and creating new secrets).
      const config = loadConfig({ ...baseEnv(dialect, dataDir), CERTA_MASTER_KEY: keyB, CERTA_PREVIOUS_MASTER_KEYS: keyA });
      let issuing = true;
      const issued: number[] = [];
      const load = (async () => {
        for (let i = 0; issuing || i < 3; i++) issued.push(await issue(svc, 'rot-web', `c${i}.rot.example.test`));
      })();
      const created = svc.client().POST('/api/v1/authorities', { body: { name: 'rot-int-2', kind: 'intermediate', parentId: 'rot-root', subject: { commonName: 'During rotation' } } });
      const outcome = await rotateKek({ config, pgSchema, batch: 1 });
      issuing = false;
      await load;
      expect((await created).response.status).toBe(201);
      expect(outcome.failed).toEqual([]);
      expect(outcome.kekId).toBe(kekB.id);
      expect(outcome.rewrapped).toBe(underA - 2);
      expect(issued.length).toBeGreaterThanOrEqual(3);
      expect(issued.every((s) => s === 201)).toBe(true);
      expect(Object.keys(await kekIds(svc))).toEqual([kekB.id]);
      // Run again: nothing left to do.
      const again = await rotateKek({ config, pgSchema });
      expect(again.rewrapped).toBe(0);
      expect(again.failed).toEqual([]);
      await stop();

      // Step 4: the old key retired: B alone opens everything (CA keys and the channel secret).
      running = await start(dialect, dataDir, pgSchema, { CERTA_MASTER_KEY: keyB });
      const only = running;
      expect(await issue(only, 'rot-web', 'd.rot.example.test')).toBe(201);
      await only.client().POST('/api/v1/profiles', { body: { name: 'rot-rsa', authorityId: 'rot-int-rsa', allowedDomains: ['rsa.rot.example.test'], usage: 'server' } });
      expect(await issue(only, 'rot-rsa', 'rsa.rot.example.test')).toBe(201);
      const sub = await only.client().POST('/api/v1/authorities', { body: { name: 'rot-int-3', kind: 'intermediate', parentId: 'rot-root', subject: { commonName: 'After rotation' } } });
      expect(sub.response.status, JSON.stringify(sub.error)).toBe(201);
      const t = await only.client().POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: 'rot-hook' } } });
      expect(t.data?.ok, JSON.stringify(t.data ?? t.error)).toBe(true);
      const ids = await kekIds(only);
      expect(Object.keys(ids)).toEqual([kekB.id]);
      await stop();
    });

    it('error/a row under a key that is not loaded: reported with its key id, the others are still re-wrapped', async () => {
      const keyC = randomBytes(32).toString('base64');
      const kekC = LocalKek.fromBase64(keyC);
      running = await start(dialect, dataDir, pgSchema, { CERTA_MASTER_KEY: keyB });
      // A secret sealed under some key C nobody configured.
      const foreign = new SecretStore(running.app.store.db, kekC, { now: () => new Date() });
      const orphan = await foreign.put('test:orphan', Buffer.from('orphan'));
      await stop();
      const keyD = randomBytes(32).toString('base64');
      const config = loadConfig({ ...baseEnv(dialect, dataDir), CERTA_MASTER_KEY: keyD, CERTA_PREVIOUS_MASTER_KEYS: keyB });
      const outcome = await rotateKek({ config, pgSchema });
      expect(outcome.failed.map((f) => [f.id, f.kekId])).toEqual([[orphan, kekC.id]]);
      expect(outcome.failed[0].error).toMatch(new RegExp(`no key-encryption key ${kekC.id} is loaded`));
      expect(outcome.rewrapped).toBeGreaterThan(4);
      // With C loaded, a second run finishes the job.
      const done = await rotateKek({ config: loadConfig({ ...baseEnv(dialect, dataDir), CERTA_MASTER_KEY: keyD, CERTA_PREVIOUS_MASTER_KEYS: `${keyB},${keyC}` }), pgSchema });
      expect(done.rewrapped).toBe(1);
      expect(done.failed).toEqual([]);
    });
  });
}

function rotateCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
    for (const k of ['CERTA_MASTER_KEY', 'CERTA_PREVIOUS_MASTER_KEYS', 'CERTA_DATABASE_URL']) if (!(k in env)) delete childEnv[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/secrets/rotate.cli.ts', ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

describe('KEK rotation CLI, embedded mode (master.key) [sqlite]', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'certa-kek-cli-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('ok/--new-key-file re-wraps everything, installs the new master.key and keeps the old one; the service then issues', async () => {
    // The service generated master.key on first start.
    let e = await start('sqlite', dataDir, undefined, {});
    await e.client().POST('/api/v1/authorities', { body: { name: 'emb-root', kind: 'root', subject: { commonName: 'Embedded Root' } } });
    await e.client().POST('/api/v1/profiles', { body: { name: 'emb-web', authorityId: 'emb-root', allowedDomains: ['emb.example.test'], usage: 'server' } });
    expect(await issue(e, 'emb-web', 'emb.example.test')).toBe(201);
    const total = Object.values(await kekIds(e)).reduce((a, b) => a + b, 0);
    await e.app.stop();
    const oldKey = readFileSync(join(dataDir, 'master.key'), 'utf8');
    const oldId = LocalKek.fromBase64(oldKey).id;
    const env = { CERTA_DATA_DIR: dataDir, CERTA_LOG_LEVEL: 'silent' };

    // A wrong CERTA_MASTER_KEY without the old key: clear error, exit 1, nothing changed.
    const wrongKey = randomBytes(32).toString('base64');
    const wrong = await rotateCli([], { ...env, CERTA_MASTER_KEY: wrongKey });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`is under ${oldId}`);
    expect(wrong.err).toMatch(/CERTA_PREVIOUS_MASTER_KEYS/);
    expect(wrong.out).toMatch(/re-wrapped 0 secret/);
    const bad = await rotateCli(['--bogus'], env);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/unknown argument "--bogus"/);

    const newKey = randomBytes(32).toString('base64');
    const newId = LocalKek.fromBase64(newKey).id;
    const file = join(dataDir, '..', `new-${randomBytes(4).toString('hex')}.key`);
    writeFileSync(file, newKey + '\n', { mode: 0o600 });
    try {
      const r = await rotateCli(['--new-key-file', file], env);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`re-wrapped ${total} secret(s) under ${newId}`);
      expect(readFileSync(join(dataDir, 'master.key'), 'utf8').trim()).toBe(newKey);
      expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
      const retired = join(dataDir, `master.key.retired-${oldId.replace('local:', '')}`);
      expect(existsSync(retired)).toBe(true);
      expect(readFileSync(retired, 'utf8')).toBe(oldKey);
      // Resumable / idempotent.
      const again = await rotateCli(['--new-key-file', file], env);
      expect(again.code, again.err).toBe(0);
      expect(again.out).toContain('re-wrapped 0 secret(s)');
      // --new-key-file is refused when CERTA_MASTER_KEY is in use.
      const mixed = await rotateCli(['--new-key-file', file], { ...env, CERTA_MASTER_KEY: newKey });
      expect(mixed.code).toBe(1);
      expect(mixed.err).toMatch(/--new-key-file is for embedded mode/);
    } finally {
      rmSync(file, { force: true });
    }

    e = await start('sqlite', dataDir, undefined, {});
    try {
      expect(await issue(e, 'emb-web', 'emb.example.test')).toBe(201);
      expect(Object.keys(await kekIds(e))).toEqual([newId]);
    } finally {
      await e.app.stop();
    }
  });
});
