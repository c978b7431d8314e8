/**
 * Fault test: `kill -9` under concurrent issuance, on both dialects. The real service runs
 * as a child process with its jobs on and an `issued` rule to a webhook receiver in this
 * process; 16 clients issue continuously; the process is SIGKILLed mid-load, restarted on
 * the same data dir / database, and the worker drains the outbox. Then:
 *  - every certificate acknowledged with 201 is in the inventory, no serial twice;
 *  - every acknowledged certificate got its `issued` notification through exactly one
 *    delivery (one delivery id), and a delivery reached the receiver more than once only if
 *    its send was in flight at the kill (one channel: at most one such send).
 * Before the transactional outbox, the notification of a certificate committed just before
 * the kill was lost (its delivery was written after the commit, in memory until then).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { DIALECTS } from '../helpers/harness.js';

const ADMIN_URL = process.env.CERTA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CLIENTS = 16;
/** The kill comes once this many certificates were acknowledged (and the load is in full swing). */
const ACKED_BEFORE_KILL = 150;
/** A crashed worker's claims come back when their lease (60 s minimum) ends: drain for longer. */
const DRAIN_TIMEOUT_MS = 120_000;

for (const dialect of DIALECTS) {
  describe(`kill -9 under concurrent issuance [${dialect}]`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), `certa-crash-${dialect}-`));
    const dbName = `certa_crash_${randomBytes(5).toString('hex')}`;
    let env: Record<string, string>;
    let service: ServiceProcess | undefined;
    let receiver: Receiver;
    /** delivery id -> requests received; certificate id -> delivery ids. */
    const requestsPerDelivery = new Map<string, number>();
    const deliveriesPerCert = new Map<string, Set<string>>();

    beforeAll(async () => {
      if (dialect === 'postgres') {
        const admin = new pg.Client({ connectionString: ADMIN_URL });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${dbName}`);
        await admin.end();
      }
      env = {
        CERTA_DATA_DIR: dataDir,
        CERTA_ADMIN_EMAIL: 'admin@crash.test',
        CERTA_ADMIN_PASSWORD: 'admin-password-for-crash-tests',
        CERTA_JOBS: 'true',
        CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true',
        CERTA_TARGET_ALLOW: '127.0.0.0/8,::1',
        CERTA_LOG_LEVEL: 'error',
        ...(dialect === 'postgres' ? { CERTA_DATABASE_URL: ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`) } : {}),
      };
      receiver = await startReceiver({
        route: (req) => {
          const id = String(req.headers['x-certa-delivery']);
          requestsPerDelivery.set(id, (requestsPerDelivery.get(id) ?? 0) + 1);
          const body = JSON.parse(req.body) as { event: string; certificates: Array<{ id: string }> };
          if (body.event === 'issued') {
            for (const c of body.certificates) deliveriesPerCert.set(c.id, (deliveriesPerCert.get(c.id) ?? new Set()).add(id));
          }
          return undefined;
        },
      });
    });

    afterAll(async () => {
      await service?.kill('SIGKILL');
      await receiver?.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (dialect === 'postgres') {
        const admin = new pg.Client({ connectionString: ADMIN_URL });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await admin.end();
      }
    });

    async function call(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: any }> {
      const res = await fetch(service!.url + path, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    }

    async function login(): Promise<string> {
      const r = await call('POST', '/api/v1/auth/login', null, { email: env.CERTA_ADMIN_EMAIL, password: env.CERTA_ADMIN_PASSWORD });
      expect(r.status).toBe(200);
      return r.json.token;
    }

    it('ok/every acknowledged certificate is stored once and announced once', { timeout: 240_000 }, async () => {
      // Step 1: the service, a CA, a profile, a webhook channel and an `issued` rule.
      service = await startService({ env });
      let token = await login();
      const root = await call('POST', '/api/v1/authorities', token, { name: 'crash-root', kind: 'root', subject: { commonName: 'Crash Root' }, keyAlgorithm: 'ecdsa-p256' });
      expect(root.status, JSON.stringify(root.json)).toBe(201);
      const profile = await call('POST', '/api/v1/profiles', token, { name: 'crash', authorityId: root.json.id, allowedDomains: ['crash.test'], allowSubdomains: true, usage: 'server' });
      expect(profile.status, JSON.stringify(profile.json)).toBe(201);
      const ch = await call('POST', '/api/v1/notification-channels', token, { name: 'crash-hook', type: 'webhook', config: { url: receiver.url } });
      expect(ch.status, JSON.stringify(ch.json)).toBe(201);
      const rule = await call('POST', '/api/v1/notification-rules', token, { name: 'crash-issued', channelIds: [ch.json.id], events: ['issued'], thresholdsDays: [], includeExpired: false });
      expect(rule.status, JSON.stringify(rule.json)).toBe(201);

      // Step 2: 16 clients issue until the kill; only 201s count as acknowledged.
      const acked: Array<{ id: string; serial: string }> = [];
      let failedAfterKill = 0;
      let killed = false;
      let n = 0;
      const clients = Array.from({ length: CLIENTS }, async () => {
        while (!killed) {
          const cn = `h${n++}.crash.test`;
          try {
            const r = await call('POST', '/api/v1/certificates', token, { profile: 'crash', subject: { commonName: cn }, sans: { dns: [cn] }, keyAlgorithm: 'ecdsa-p256', validityDays: 30 });
            if (r.status === 201) acked.push({ id: r.json.id, serial: r.json.serialNumber });
            else if (!killed) throw new Error(`issuance answered ${r.status}: ${JSON.stringify(r.json)}`);
          } catch (err) {
            if (!killed) throw err;
            failedAfterKill++;
          }
        }
      });
      const deadline = Date.now() + 60_000;
      while (acked.length < ACKED_BEFORE_KILL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      killed = true;
      expect(await service.kill('SIGKILL')).toBe('SIGKILL');
      await Promise.all(clients);
      const ackedAtKill = acked.length;
      const receivedAtKill = deliveriesPerCert.size;

      // Step 3: restart on the same data and let the worker drain (claims of the killed
      // worker come back when their lease ends).
      service = await startService({ env });
      token = await login();
      const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
      const missing = () => acked.filter((c) => !deliveriesPerCert.has(c.id));
      while (missing().length && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 250));
      // Nothing left in the outbox, so no late duplicate can still arrive.
      for (;;) {
        const open = await Promise.all(
          (['pending', 'sending'] as const).map(async (status) => (await call('GET', `/api/v1/notification-deliveries?status=${status}&limit=10`, token)).json.items.length),
        );
        if (open.every((x) => x === 0) || Date.now() > drainDeadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }

      // Step 4: the inventory holds every acknowledged certificate, each serial once.
      const stored: Array<{ id: string; serialNumber: string }> = [];
      for (let cursor: string | null = null; ; ) {
        const page = await call('GET', `/api/v1/certificates?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
        expect(page.status).toBe(200);
        stored.push(...page.json.items);
        cursor = page.json.nextCursor;
        if (!cursor) break;
      }
      const storedIds = new Set(stored.map((c) => c.id));
      expect(acked.filter((c) => !storedIds.has(c.id))).toEqual([]);
      expect(new Set(stored.map((c) => c.serialNumber)).size).toBe(stored.length);

      // Step 5: every acknowledged certificate announced through exactly one delivery; a
      // delivery received twice only if its send was in flight at the kill.
      const lost = missing();
      const twoDeliveries = acked.filter((c) => (deliveriesPerCert.get(c.id)?.size ?? 0) > 1);
      const resent = [...requestsPerDelivery.values()].filter((k) => k > 1).length;
      console.log(
        `[${dialect}] acknowledged ${ackedAtKill} (${failedAfterKill} requests cut by the kill, ${stored.length} stored); ` +
          `${receivedAtKill} announced before the kill; after the drain: lost ${lost.length}, two deliveries ${twoDeliveries.length}, ` +
          `deliveries received twice ${resent}`,
      );
      expect(lost.map((c) => c.id)).toEqual([]);
      expect(twoDeliveries).toEqual([]);
      expect(resent).toBeLessThanOrEqual(1);
      // Certificates stored but not acknowledged (committed, answer cut by the kill) are announced too.
      expect(stored.filter((c) => !deliveriesPerCert.has(c.id)).map((c) => c.id)).toEqual([]);
    });
  });
}
