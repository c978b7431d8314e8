/**
 * The transactional outbox of notification events and the channel pause, on both dialects:
 *  - issuing, renewing and revoking write their event in the transaction of the change (a
 *    rolled-back issuance writes none); nothing is lost if no worker ever ran in between;
 *  - two dispatchers (two Apps on one store) turn each event into its deliveries once;
 *  - processed events are pruned after the retention, pending ones never;
 *  - a 429 + Retry-After pauses the channel for every worker (this and a replica's), new
 *    deliveries included, without spending attempts; then everything goes out.
 * Time is a TestClock; workers and dispatchers are called directly.
 */
import { afterEach, beforeAll, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { TestClock } from '../helpers/clock.js';
import type { Schemas } from '../../src/spec.js';
import type { Services } from '../../src/context.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { addAuthority, addCertificate } from '../../src/notify/testing/inventory.js';
import { DeliveryWorker } from '../../src/notify/delivery.worker.js';
import { dispatchEvents, recordEvent, EVENT_RETENTION_DAYS } from '../../src/notify/events.usecases.js';
import { runExpirySweep } from '../../src/notify/sweep.usecases.js';
import { issueCertificate } from '../../src/authority/certificates.usecases.js';
import { findCertificate } from '../../src/store/certificates.repository.js';
import { countPendingEvents } from '../../src/store/notifications.repository.js';
import type { Db } from '../../src/store/types.js';

const DAY = 86_400_000;
const clock = new TestClock();

async function count(db: Db, table: 'notification_events' | 'certificates' | 'notification_deliveries'): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

forEachDialect(
  'notification outbox',
  (env) => {
    const db = () => env().app.store.db;
    const svc = () => env().app.services;
    const api = () => env().client();
    const receivers: Receiver[] = [];

    beforeAll(async () => {
      const root = await api().POST('/api/v1/authorities', { body: { name: 'outbox-root', kind: 'root', subject: { commonName: 'Outbox Root' } } });
      expect(root.response.status).toBe(201);
      const p = await api().POST('/api/v1/profiles', { body: { name: 'outbox', authorityId: root.data!.id, allowedDomains: ['outbox.test'], allowSubdomains: true, usage: 'server' } });
      expect(p.response.status).toBe(201);
    });

    afterEach(async () => {
      for (const r of receivers.splice(0)) await r.close();
      for (const r of (await api().GET('/api/v1/notification-rules', { params: { query: { limit: 500 } } })).data!.items) {
        await api().DELETE('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: r.id } } });
      }
      // Leave nothing pending for the next test.
      await dispatchEvents(svc(), 100_000);
      await db().updateTable('notification_deliveries').set({ status: 'failed', last_error: 'test cleanup' }).where('status', 'in', ['pending', 'sending']).execute();
    });

    async function receiver(...script: Parameters<Receiver['script']>) {
      const r = await startReceiver();
      r.script(...script);
      receivers.push(r);
      return r;
    }

    async function channelAndRule(name: string, url: string, selector: Schemas['RuleSelector'] = {}) {
      const ch = await api().POST('/api/v1/notification-channels', { body: { name, type: 'webhook', config: { url } } });
      expect(ch.response.status, JSON.stringify(ch.error)).toBe(201);
      const rule = await api().POST('/api/v1/notification-rules', { body: { name, channelIds: [ch.data!.id], events: ['issued', 'revoked', 'renewed'], thresholdsDays: [], includeExpired: false, selector } });
      expect(rule.response.status, JSON.stringify(rule.error)).toBe(201);
      return ch.data!;
    }

    const issue = async (cn: string) => {
      const r = await api().POST('/api/v1/certificates', { body: { profile: 'outbox', subject: { commonName: cn }, sans: { dns: [cn] } } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      return r.data!;
    };
    const eventsOf = (certificateId: string) =>
      db().selectFrom('notification_events').select(['type', 'detail', 'processed_at']).where('certificate_id', '=', certificateId).orderBy('id').execute();

    it('ok/issue, renew and revoke write their event with the change; the worker turns each into one delivery', async () => {
      const hook = await receiver();
      const ch = await channelAndRule('tx-events', hook.url);
      const a = await issue('a.outbox.test');
      // Committed with the certificate, before any worker ran: nothing in memory to lose.
      expect(await eventsOf(a.id)).toEqual([{ type: 'issued', detail: null, processed_at: null }]);
      const renewed = await api().POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: a.id } }, body: { revokePredecessor: true } });
      expect(renewed.response.status).toBe(201);
      expect(await eventsOf(renewed.data!.id)).toEqual([{ type: 'renewed', detail: JSON.stringify({ previousId: a.id }), processed_at: null }]);
      expect((await eventsOf(a.id)).map((e) => [e.type, e.detail])).toEqual([
        ['issued', null],
        ['revoked', JSON.stringify({ reason: 'superseded' })],
      ]);
      // Revoking again changes nothing and announces nothing.
      const again = await api().POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: a.id } }, body: { reason: 'keyCompromise' } });
      expect(again.data!.alreadyRevoked).toBe(true);
      expect(await eventsOf(a.id)).toHaveLength(2);

      const worker = new DeliveryWorker(svc());
      expect(await worker.runUntilIdle()).toMatchObject({ events: 3, sent: 3, failed: 0 });
      const bodies = hook.requests.map((q) => JSON.parse(q.body));
      expect(bodies.map((b) => [b.event, b.certificates[0].id]).sort()).toEqual(
        [
          ['issued', a.id],
          ['renewed', renewed.data!.id],
          ['revoked', a.id],
        ].sort(),
      );
      expect(bodies.find((b) => b.event === 'revoked')).toMatchObject({ reason: 'superseded' });
      for (const id of [a.id, renewed.data!.id]) for (const e of await eventsOf(id)) expect(e.processed_at).not.toBeNull();
      const deliveries = (await api().GET('/api/v1/notification-deliveries', { params: { query: { channelId: ch.id } } })).data!.items;
      expect(deliveries.map((d) => d.status)).toEqual(['sent', 'sent', 'sent']);
    });

    it('error/an issuance whose transaction rolls back writes no event', async () => {
      await channelAndRule('rollback', 'http://127.0.0.1:9/hook/rollback-token');
      const a = await issue('rb.outbox.test');
      const stale = (await findCertificate(db(), a.id))!;
      const renewed = await api().POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: a.id } }, body: {} });
      expect(renewed.response.status).toBe(201);
      const [events, certs] = [await count(db(), 'notification_events'), await count(db(), 'certificates')];
      // A second renewal of the same predecessor: certificate and event are inserted, then the
      // successor link fails and the whole transaction rolls back.
      await expect(issueCertificate(svc(), null, { profile: 'outbox', subject: { commonName: 'rb.outbox.test' }, sans: { dns: ['rb.outbox.test'] } }, { predecessor: stale })).rejects.toMatchObject({
        code: 'conflict',
      });
      expect(await count(db(), 'notification_events')).toBe(events);
      expect(await count(db(), 'certificates')).toBe(certs);
    });

    it('ok/dispatchers running at once (two replicas on PostgreSQL): every event becomes its delivery exactly once', async () => {
      const ca = await addAuthority(db());
      const ch = await channelAndRule('two-dispatchers', 'http://127.0.0.1:9/hook/two-dispatchers-token', { authorityId: ca.id });
      const now = clock.now();
      const ids: string[] = [];
      await db().transaction().execute(async (trx) => {
        for (let i = 0; i < 300; i++) {
          const c = await addCertificate(trx, { authorityId: ca.id, daysLeft: 90, now });
          ids.push(c.id);
          await recordEvent(svc(), trx, { type: 'issued', certificateId: c.id });
        }
      });
      // The same events once more (a replayed event): the dedupe key absorbs them.
      await db().transaction().execute(async (trx) => {
        for (const id of ids.slice(0, 50)) await recordEvent(svc(), trx, { type: 'issued', certificateId: id });
      });
      // PostgreSQL: two Apps (pools) on one schema, as two replicas. SQLite serves one
      // replica, and two synchronous connections in one thread would wait on each other's
      // lock: there the four dispatchers share one App (its transactions interleave).
      const replica = env().dialect === 'postgres' ? await env().replica() : null;
      try {
        const drain = async (s: Services) => {
          const total = { events: 0, enqueued: 0 };
          for (;;) {
            const r = await dispatchEvents(s, 10);
            if (!r.events) return total;
            total.events += r.events;
            total.enqueued += r.enqueued;
          }
        };
        const other = replica?.app.services ?? svc();
        const rs = await Promise.all([drain(svc()), drain(other), drain(svc()), drain(other)]);
        expect(rs.reduce((n, r) => n + r.events, 0)).toBe(350);
        expect(rs.reduce((n, r) => n + r.enqueued, 0)).toBe(300);
        // Every dispatcher took a share: they ran at the same time, none waited for the end of another.
        for (const r of rs) expect(r.events).toBeGreaterThan(0);
      } finally {
        await replica?.stop();
      }
      expect(await countPendingEvents(db())).toBe(0);
      const rows = await db()
        .selectFrom('notification_delivery_certificates as dc')
        .innerJoin('notification_deliveries as d', 'd.id', 'dc.delivery_id')
        .select('dc.certificate_id')
        .where('d.channel_id', '=', ch.id)
        .execute();
      expect(rows).toHaveLength(300);
      expect(new Set(rows.map((r) => r.certificate_id))).toEqual(new Set(ids));
    });

    it('retry/429 + Retry-After pauses the channel for every replica, new deliveries included, without spending attempts', async () => {
      const ca = await addAuthority(db());
      const hook = await receiver({ status: 429, headers: { 'retry-after': '120' }, body: 'slow down' });
      const ch = await channelAndRule('paused', hook.url, { authorityId: ca.id });
      const record = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const c = await addCertificate(db(), { authorityId: ca.id, daysLeft: 90, now: clock.now() });
          await db().transaction().execute((trx) => recordEvent(svc(), trx, { type: 'issued', certificateId: c.id }));
        }
      };
      const replica = await env().replica();
      try {
        const here = new DeliveryWorker(svc(), { backoff: { random: () => 0.5 } });
        const there = new DeliveryWorker({ ...replica.app.services, clock }, { backoff: { random: () => 0.5 } });
        const channel = async () => (await api().GET('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: ch.id } } })).data!;
        const deliveries = async () => (await api().GET('/api/v1/notification-deliveries', { params: { query: { channelId: ch.id } } })).data!.items;

        await record(3);
        const t0 = clock.now().getTime();
        expect(await here.runOnce()).toMatchObject({ events: 3, claimed: 3, retried: 1, released: 2, sent: 0 });
        expect(hook.requests).toHaveLength(1);
        const pausedUntil = (await channel()).pausedUntil!;
        expect(Date.parse(pausedUntil) - t0).toBeGreaterThanOrEqual(120_000);
        expect(Date.parse(pausedUntil) - t0).toBeLessThan(125_000);

        // During the pause: a new event's delivery waits too, on this replica and the other.
        await record(2);
        expect(await there.runOnce()).toMatchObject({ events: 2, claimed: 0 });
        expect(await here.runOnce()).toMatchObject({ claimed: 0 });
        clock.advance(60_000);
        expect(await there.runOnce()).toMatchObject({ claimed: 0 });
        expect(await here.runOnce()).toMatchObject({ claimed: 0 });
        expect(hook.requests).toHaveLength(1);
        expect((await deliveries()).map((d) => d.status)).toEqual(Array(5).fill('pending'));

        // Once it has passed, everything goes out; waiting spent no attempt.
        clock.advance(Date.parse(pausedUntil) - clock.now().getTime() + 1);
        expect(await there.runUntilIdle()).toMatchObject({ claimed: 5, sent: 5, failed: 0 });
        expect(hook.requests).toHaveLength(6);
        const list = await deliveries();
        expect(list.map((d) => d.status)).toEqual(Array(5).fill('sent'));
        expect(list.map((d) => d.attempts).sort()).toEqual([1, 1, 1, 1, 2]);
        expect((await channel()).pausedUntil).toBeNull();
      } finally {
        await replica.stop();
      }
    });

    it('ok/processed events are pruned after the retention; pending ones are kept', async () => {
      const ca = await addAuthority(db());
      const c1 = await addCertificate(db(), { authorityId: ca.id, daysLeft: 90, now: clock.now() });
      const c2 = await addCertificate(db(), { authorityId: ca.id, daysLeft: 90, now: clock.now() });
      await db().transaction().execute((trx) => recordEvent(svc(), trx, { type: 'issued', certificateId: c1.id }));
      await dispatchEvents(svc());
      await db().transaction().execute((trx) => recordEvent(svc(), trx, { type: 'issued', certificateId: c2.id }));
      // (Last test: the admin's session does not outlive the jump; the clock comes back after.)
      try {
        clock.advance((EVENT_RETENTION_DAYS - 1) * DAY);
        await runExpirySweep(svc());
        expect(await eventsOf(c1.id)).toHaveLength(1);
        clock.advance(2 * DAY);
        await runExpirySweep(svc());
        expect(await eventsOf(c1.id)).toEqual([]);
        expect(await eventsOf(c2.id)).toEqual([{ type: 'issued', detail: null, processed_at: null }]);
      } finally {
        clock.advance(-(EVENT_RETENTION_DAYS + 1) * DAY);
      }
    });
  },
  { clock, env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true', CERTA_NOTIFY_TIMEOUT_MS: '1000' } },
);
