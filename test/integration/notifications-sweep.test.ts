/**
 * The expiry sweep on both dialects, through the API: nearest threshold only, "expired",
 * exactly once across repeated and concurrent sweeps, current certificates only, and the
 * rule selector. Time is a TestClock moved forward, never slept through.
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import type { Schemas } from '../../src/spec.js';
import { TestClock } from '../helpers/clock.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { addAuthority, addCertificate } from '../../src/notify/testing/inventory.js';

const DAY = 86_400_000;
const clock = new TestClock();

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
});

forEachDialect(
  'notification expiry sweep',
  (env) => {
    const db = () => env().app.store.db;
    // An API token without expiry: the clock moves by days, sessions would expire.
    let token = '';
    const api = () => env().client(token);
    beforeAll(async () => {
      const t = await env().client().POST('/api/v1/tokens', { body: { name: 'sweep-tests', permissions: ['notifications:read', 'notifications:write'] } });
      token = t.data!.token;
    });

    async function channel(name: string): Promise<string> {
      const r = await api().POST('/api/v1/notification-channels', { body: { name, type: 'webhook', config: { url: `${receiver.url}/${name}` } } });
      expect(r.response.status).toBe(201);
      return r.data!.id;
    }

    async function rule(body: Schemas['RuleCreate']): Promise<string> {
      const r = await api().POST('/api/v1/notification-rules', { body });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      return r.data!.id;
    }

    async function sweep() {
      const r = await api().POST('/api/v1/notifications/sweep');
      expect(r.response.status).toBe(200);
      return r.data!;
    }

    async function deliveriesOf(channelId: string) {
      const r = await api().GET('/api/v1/notification-deliveries', { params: { query: { channelId, limit: 500 } } });
      return r.data!.items;
    }

    /** `kind:threshold` -> sorted certificate ids. */
    async function announced(channelId: string): Promise<Record<string, string[]>> {
      const out: Record<string, string[]> = {};
      for (const d of await deliveriesOf(channelId)) {
        const key = d.kind === 'expiring' ? `expiring:${d.thresholdDays}` : d.kind;
        out[key] = [...(out[key] ?? []), ...d.certificateIds].sort();
      }
      return out;
    }

    afterEach(async () => {
      // Rules are global: each test starts with none.
      const list = await api().GET('/api/v1/notification-rules', { params: { query: { limit: 500 } } });
      for (const r of list.data!.items) await api().DELETE('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: r.id } } });
    });

    it('ok/each certificate is announced for its nearest crossed threshold only, or as expired', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const ch = await channel('nearest');
      await rule({ name: 'nearest', channelIds: ['nearest'], selector: { authorityId: ca.id } });
      const mk = (daysLeft: number) => addCertificate(db(), { authorityId: ca.id, daysLeft, now });
      const far = await mk(45);
      const c30 = await mk(29.5);
      const c14 = await mk(13);
      const c7 = await mk(5);
      const c1 = await mk(0.5);
      const expired = await mk(-2);
      const longGone = await mk(-90);

      const r = await sweep();
      expect(r).toEqual({ enqueued: 5, certificatesMatched: 5 });
      expect(await announced(ch)).toEqual({
        'expiring:30': [c30.id],
        'expiring:14': [c14.id],
        'expiring:7': [c7.id],
        'expiring:1': [c1.id],
        expired: [expired.id],
      });
      const all = Object.values(await announced(ch)).flat();
      expect(all).not.toContain(far.id);
      expect(all).not.toContain(longGone.id);

      // Step 2: nothing new on a second sweep.
      expect(await sweep()).toEqual({ enqueued: 0, certificatesMatched: 0 });

      // Step 3: ten days later, each certificate moves to its next nearest threshold once.
      clock.advance(10 * DAY);
      expect(await sweep()).toEqual({ enqueued: 2, certificatesMatched: 3 });
      const after = await announced(ch);
      expect(after['expiring:7']).toEqual([c7.id, c14.id].sort());
      expect(after.expired).toEqual([expired.id, c7.id, c1.id].sort());
      expect(after['expiring:30']).toEqual([c30.id]);
      expect((await deliveriesOf(ch)).every((d) => d.status === 'pending' && d.attempts === 0)).toBe(true);
      expect(await sweep()).toEqual({ enqueued: 0, certificatesMatched: 0 });
    });

    it('ok/two concurrent sweeps enqueue every announcement exactly once', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const ch = await channel('concurrent');
      await rule({ name: 'concurrent', channelIds: [ch], thresholdsDays: [30, 7], selector: { authorityId: ca.id } });
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) ids.push((await addCertificate(db(), { authorityId: ca.id, daysLeft: i % 2 ? 20 : 3, now })).id);

      const [a, b, c] = await Promise.all([sweep(), sweep(), sweep()]);
      expect(a.enqueued + b.enqueued + c.enqueued).toBe(2);
      expect(a.certificatesMatched + b.certificatesMatched + c.certificatesMatched).toBe(60);
      const list = await deliveriesOf(ch);
      expect(list).toHaveLength(2);
      const seen = list.flatMap((d) => d.certificateIds);
      expect(seen.sort()).toEqual([...ids].sort());
    });

    it('ok/one delivery per channel; renewed, revoked and archived certificates are never announced', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const ch1 = await channel('multi-1');
      const ch2 = await channel('multi-2');
      await rule({ name: 'multi', channelIds: [ch1, 'multi-2'], selector: { authorityId: ca.id } });
      const current = await addCertificate(db(), { authorityId: ca.id, daysLeft: 6, now });
      const successor = await addCertificate(db(), { authorityId: ca.id, daysLeft: 365, now });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 6, now, successorId: successor.id });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 6, now, revokedAt: now.toISOString(), revocationReason: 'keyCompromise' });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 6, now, archivedAt: now.toISOString() });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: -1, now, revokedAt: now.toISOString() });

      expect(await sweep()).toEqual({ enqueued: 2, certificatesMatched: 1 });
      expect(await announced(ch1)).toEqual({ 'expiring:7': [current.id] });
      expect(await announced(ch2)).toEqual({ 'expiring:7': [current.id] });
    });

    it('ok/selector by labels, owner, authority (id or name); includeExpired false', async () => {
      const now = clock.now();
      const caA = await addAuthority(db());
      const caB = await addAuthority(db());
      const chLabel = await channel('sel-label');
      const chOwner = await channel('sel-owner');
      const chAuth = await channel('sel-authority');
      await rule({ name: 'by-label', channelIds: [chLabel], selector: { authorityId: caA.id, labels: { team: 'payments', env: 'prod' } } });
      await rule({ name: 'by-owner', channelIds: [chOwner], includeExpired: false, selector: { authorityId: caA.name, owner: 'alice' } });
      await rule({ name: 'by-authority', channelIds: [chAuth], thresholdsDays: [14], selector: { authorityId: caB.name } });

      const payments = await addCertificate(db(), { authorityId: caA.id, daysLeft: 10, now, labels: { team: 'payments', env: 'prod' } });
      await addCertificate(db(), { authorityId: caA.id, daysLeft: 10, now, labels: { team: 'payments', env: 'staging' } });
      await addCertificate(db(), { authorityId: caA.id, daysLeft: 10, now, labels: { team: 'search' } });
      const alice = await addCertificate(db(), { authorityId: caA.id, daysLeft: 20, now, owner: 'alice' });
      await addCertificate(db(), { authorityId: caA.id, daysLeft: -1, now, owner: 'alice' });
      await addCertificate(db(), { authorityId: caA.id, daysLeft: 20, now, owner: 'bob' });
      const inB = await addCertificate(db(), { authorityId: caB.id, daysLeft: 3, now, owner: 'alice' });
      await addCertificate(db(), { authorityId: caB.id, daysLeft: 20, now });

      await sweep();
      expect(await announced(chLabel)).toEqual({ 'expiring:14': [payments.id] });
      expect(await announced(chOwner)).toEqual({ 'expiring:30': [alice.id] });
      expect(await announced(chAuth)).toEqual({ 'expiring:14': [inB.id] });
    });

    it('ok/disabled rules and disabled channels are not swept', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const ch = await channel('disabled-ch');
      const ruleId = await rule({ name: 'disabled', channelIds: [ch], enabled: false, selector: { authorityId: ca.id } });
      const cert = await addCertificate(db(), { authorityId: ca.id, daysLeft: 3, now });
      expect((await sweep()).enqueued).toBe(0);
      await api().PATCH('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId } }, body: { enabled: true } });
      await api().PATCH('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: ch } }, body: { enabled: false } });
      expect((await sweep()).enqueued).toBe(0);
      await api().PATCH('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: ch } }, body: { enabled: true } });
      expect(await sweep()).toEqual({ enqueued: 1, certificatesMatched: 1 });
      expect(await announced(ch)).toEqual({ 'expiring:7': [cert.id] });
    });

    describe('scale', () => {
      it('ok/a large batch is split into deliveries of at most 1000 certificates', async () => {
        const now = clock.now();
        const ca = await addAuthority(db());
        const ch = await channel('large');
        await rule({ name: 'large', channelIds: [ch], thresholdsDays: [30], selector: { authorityId: ca.id } });
        const rows = Array.from({ length: 2100 }, (_, i) => i);
        await db().transaction().execute(async (trx) => {
          for (const i of rows) await addCertificate(trx, { authorityId: ca.id, daysLeft: 1 + (i % 28), now });
        });
        const r = await sweep();
        expect(r).toEqual({ enqueued: 3, certificatesMatched: 2100 });
        const sizes = (await deliveriesOf(ch)).map((d) => d.certificateIds.length).sort((a, b) => a - b);
        expect(sizes).toEqual([100, 1000, 1000]);
      });
    });
  },
  { clock, env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);
