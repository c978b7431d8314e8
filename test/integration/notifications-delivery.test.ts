/**
 * The delivery worker against real receivers on 127.0.0.1 playing Discord, Slack, Teams
 * and a generic webhook (2xx, 429 + Retry-After, 500, hanging), and a real SMTP server.
 * Retries, backoff, final states, per-message progress and "nothing sent twice" are
 * asserted on both dialects. Time is a TestClock moved forward; the worker's `runOnce()`
 * is called directly, so no test ever waits through a backoff.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { TestClock } from '../helpers/clock.js';
import type { Schemas } from '../../src/spec.js';
import { startReceiver, type Receiver, type ReceiverOptions } from '../../src/notify/testing/http-receiver.js';
import { allText, checkDiscord, checkSlack, checkTeams } from '../../src/notify/testing/platform-checks.js';
import { addAuthority, addCertificate } from '../../src/notify/testing/inventory.js';
import { DeliveryWorker } from '../../src/notify/delivery.worker.js';
import { dispatchEvents, recordEvent, type CertificateEvent } from '../../src/notify/events.usecases.js';
import { verifyWebhookSignature } from '../../src/notify/channels/webhook.signature.js';
import * as repo from '../../src/store/notifications.repository.js';

const DAY = 86_400_000;
const clock = new TestClock();
const MAX_ATTEMPTS = 3;

forEachDialect(
  'notification delivery',
  (env) => {
    const db = () => env().app.store.db;
    let token = '';
    const api = () => env().client(token);
    /** Jitter pinned at 0.5: the nth retry waits exactly 15 s × 2^(n-1). */
    let worker: DeliveryWorker;
    const receivers: Receiver[] = [];
    const receiver = async (opts?: ReceiverOptions) => {
      const r = await startReceiver(opts);
      receivers.push(r);
      return r;
    };

    beforeAll(async () => {
      const t = await env().client().POST('/api/v1/tokens', { body: { name: 'delivery-tests', permissions: ['notifications:read', 'notifications:write'] } });
      token = t.data!.token;
      worker = new DeliveryWorker(env().app.services, { backoff: { random: () => 0.5 } });
    });

    afterEach(async () => {
      for (const r of receivers.splice(0)) await r.close();
      const rules = await api().GET('/api/v1/notification-rules', { params: { query: { limit: 500 } } });
      for (const r of rules.data!.items) await api().DELETE('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: r.id } } });
      // Leave nothing due for the next test.
      await db().updateTable('notification_deliveries').set({ status: 'failed', last_error: 'test cleanup' }).where('status', 'in', ['pending', 'sending']).execute();
    });

    async function channel(body: Schemas['ChannelCreate']): Promise<Schemas['ChannelCreated']> {
      const r = await api().POST('/api/v1/notification-channels', { body });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      return r.data!;
    }

    async function rule(body: Schemas['RuleCreate']): Promise<Schemas['Rule']> {
      const r = await api().POST('/api/v1/notification-rules', { body });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      return r.data!;
    }

    async function sweep() {
      return (await api().POST('/api/v1/notifications/sweep')).data!;
    }

    async function deliveriesOf(channelId: string) {
      return (await api().GET('/api/v1/notification-deliveries', { params: { query: { channelId, limit: 500 } } })).data!.items;
    }

    const gap = (d: Schemas['Delivery']) => Date.parse(d.nextAttemptAt!) - Date.parse(d.updatedAt);

    it('ok/Discord, Slack, Teams and a generic webhook each receive valid payloads, once', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const discord = await receiver({ check: checkDiscord });
      const slack = await receiver({ check: checkSlack, fallback: { status: 200, body: 'ok' } });
      const teams = await receiver({ check: checkTeams, fallback: { status: 202 } });
      const hook = await receiver();
      const chans = [
        await channel({ name: 'p-discord', type: 'discord', config: { url: discord.url } }),
        await channel({ name: 'p-slack', type: 'slack', config: { url: slack.url } }),
        await channel({ name: 'p-teams', type: 'teams', config: { url: teams.url } }),
        await channel({ name: 'p-webhook', type: 'webhook', config: { url: hook.url } }),
      ];
      await rule({ name: 'platforms', channelIds: chans.map((c) => c.name), selector: { authorityId: ca.id } });
      const certs = [
        await addCertificate(db(), { authorityId: ca.id, daysLeft: 25, now, owner: 'platform-team', labels: { env: 'prod' } }),
        await addCertificate(db(), { authorityId: ca.id, daysLeft: 5, now }),
        await addCertificate(db(), { authorityId: ca.id, daysLeft: -1, now }),
      ];

      expect(await sweep()).toEqual({ enqueued: 12, certificatesMatched: 3 });
      const round = await worker.runUntilIdle();
      expect(round).toMatchObject({ sent: 12, retried: 0, failed: 0 });

      for (const r of [discord, slack, teams, hook]) {
        expect(r.requests).toHaveLength(3);
        expect(r.requests.flatMap((q) => q.problems)).toEqual([]);
        const text = r.requests.map((q) => allText(JSON.parse(q.body))).join('\n');
        for (const c of certs) expect(text).toContain(c.commonName);
      }
      for (const c of chans) {
        for (const d of await deliveriesOf(c.id)) {
          expect(d).toMatchObject({ status: 'sent', attempts: 1, lastError: null, nextAttemptAt: null });
          expect(d.sentAt).toBeTruthy();
        }
      }
      expect((await deliveriesOf(chans[1].id)).map((d) => d.lastStatus)).toEqual([200, 200, 200]);
      expect(await worker.runUntilIdle()).toMatchObject({ claimed: 0 });
    });

    it('retry/429 + Retry-After: next attempt exactly when the receiver said, the channel pauses, nothing sent twice', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const hook = await receiver();
      hook.script({ status: 429, headers: { 'retry-after': '120' }, body: 'slow down' });
      const discord = await receiver({ check: checkDiscord });
      discord.script({ status: 429, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'You are being rate limited.', retry_after: 2.5, global: false }) });
      const ch = await channel({ name: 'ra-webhook', type: 'webhook', config: { url: hook.url } });
      const dc = await channel({ name: 'ra-discord', type: 'discord', config: { url: discord.url } });
      await rule({ name: 'retry-after', channelIds: [ch.id, dc.id], selector: { authorityId: ca.id } });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 20, now });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 3, now });
      await sweep();

      const first = await worker.runOnce();
      expect(first).toMatchObject({ claimed: 4, retried: 2, released: 2, sent: 0 });
      expect(hook.requests).toHaveLength(1);
      const list = await deliveriesOf(ch.id);
      const tried = list.find((d) => d.attempts === 1)!;
      const paused = list.find((d) => d.attempts === 0)!;
      expect(tried).toMatchObject({ status: 'pending', lastStatus: 429 });
      expect(tried.lastError).toContain('429');
      expect(gap(tried)).toBe(120_000);
      // The channel's other delivery waits as long, without spending an attempt.
      expect(paused).toMatchObject({ status: 'pending', attempts: 0 });
      expect(paused.nextAttemptAt).toBe(tried.nextAttemptAt);
      // Discord's JSON `retry_after` (seconds, fractional) wins over the header.
      const dTried = (await deliveriesOf(dc.id)).find((d) => d.attempts === 1)!;
      expect(gap(dTried)).toBe(2500);

      clock.advance(3000);
      expect(await worker.runOnce()).toMatchObject({ claimed: 2, sent: 2 });
      clock.advance(100_000);
      expect(await worker.runOnce()).toMatchObject({ claimed: 0 });
      clock.advance(20_000);
      expect(await worker.runOnce()).toMatchObject({ claimed: 2, sent: 2 });

      expect(hook.requests).toHaveLength(3);
      const ids = hook.requests.map((q) => q.headers['x-certa-delivery']);
      expect(ids.filter((id) => id === ids[0])).toHaveLength(2);
      expect(new Set(ids).size).toBe(2);
      expect(discord.requests).toHaveLength(3);
      for (const d of [...(await deliveriesOf(ch.id)), ...(await deliveriesOf(dc.id))]) expect(d.status).toBe('sent');
    });

    it('retry/500: exponential backoff, failed after the last attempt with error and status, then retried by an operator', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      let status = 500;
      const hook = await receiver({ route: () => ({ status, body: status === 500 ? 'internal trouble' : '' }) });
      const ch = await channel({ name: 'backoff', type: 'webhook', config: { url: hook.url } });
      await rule({ name: 'backoff', channelIds: [ch.id], selector: { authorityId: ca.id } });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 10, now });
      await sweep();

      expect(await worker.runOnce()).toMatchObject({ retried: 1 });
      let [d] = await deliveriesOf(ch.id);
      expect(d).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 500 });
      expect(d.lastError).toBe('HTTP 500: internal trouble');
      expect(gap(d)).toBe(15_000);

      clock.advance(14_000);
      expect(await worker.runOnce()).toMatchObject({ claimed: 0 });
      clock.advance(1_000);
      expect(await worker.runOnce()).toMatchObject({ retried: 1 });
      [d] = await deliveriesOf(ch.id);
      expect(d.attempts).toBe(2);
      expect(gap(d)).toBe(30_000);

      clock.advance(30_000);
      expect(await worker.runOnce()).toMatchObject({ failed: 1 });
      [d] = await deliveriesOf(ch.id);
      expect(d).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, lastStatus: 500, nextAttemptAt: null });
      expect(d.lastError).toBe(`gave up after ${MAX_ATTEMPTS} attempts: HTTP 500: internal trouble`);
      clock.advance(DAY);
      expect(await worker.runOnce()).toMatchObject({ claimed: 0 });
      expect(hook.requests).toHaveLength(MAX_ATTEMPTS);

      // An operator retries once the receiver is fixed: a fresh budget, sent once.
      status = 204;
      const retried = await api().POST('/api/v1/notification-deliveries/{deliveryId}/retry', { params: { path: { deliveryId: d.id } } });
      expect(retried.response.status).toBe(200);
      expect(retried.data).toMatchObject({ status: 'pending', attempts: 0 });
      const again = await api().POST('/api/v1/notification-deliveries/{deliveryId}/retry', { params: { path: { deliveryId: d.id } } });
      expect(again.response.status).toBe(409);
      expect(await worker.runOnce()).toMatchObject({ sent: 1 });
      [d] = await deliveriesOf(ch.id);
      expect(d).toMatchObject({ status: 'sent', attempts: 1, lastStatus: 204, lastError: null });
      expect(hook.requests).toHaveLength(MAX_ATTEMPTS + 1);
      const missing = await api().POST('/api/v1/notification-deliveries/{deliveryId}/retry', { params: { path: { deliveryId: '00000000-0000-7000-8000-000000000000' } } });
      expect(missing.response.status).toBe(404);
    });

    it('error/a permanent refusal (400) fails at once; a hanging receiver times out and is retried', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const bad = await receiver({ fallback: { status: 400, body: 'invalid payload' } });
      const slow = await receiver();
      slow.script('hang');
      const chBad = await channel({ name: 'refuses', type: 'slack', config: { url: bad.url } });
      const chSlow = await channel({ name: 'hangs', type: 'teams', config: { url: slow.url } });
      await rule({ name: 'bad-and-slow', channelIds: [chBad.id, chSlow.id], selector: { authorityId: ca.id } });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 6, now });
      await sweep();

      expect(await worker.runOnce()).toMatchObject({ claimed: 2, failed: 1, retried: 1 });
      const [b] = await deliveriesOf(chBad.id);
      expect(b).toMatchObject({ status: 'failed', attempts: 1, lastStatus: 400, lastError: 'HTTP 400: invalid payload' });
      const [s] = await deliveriesOf(chSlow.id);
      expect(s).toMatchObject({ status: 'pending', attempts: 1, lastStatus: null, lastError: 'timeout after 500 ms' });
      clock.advance(gap(s));
      expect(await worker.runOnce()).toMatchObject({ sent: 1 });
      expect(slow.requests).toHaveLength(2);
      expect(slow.requests[0].body).toBe(slow.requests[1].body);
    });

    it('ok/a digest split over several messages resumes after the last accepted one', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      let n = 0;
      const discord = await receiver({ check: checkDiscord, route: () => (++n === 3 ? { status: 502, body: 'bad gateway' } : undefined) });
      const ch = await channel({ name: 'split', type: 'discord', config: { url: discord.url } });
      await rule({ name: 'split', channelIds: [ch.id], thresholdsDays: [30], selector: { authorityId: ca.id } });
      const certs: Array<{ commonName: string }> = [];
      for (let i = 0; i < 300; i++) certs.push(await addCertificate(db(), { authorityId: ca.id, daysLeft: 2 + (i % 25), now }));
      expect(await sweep()).toEqual({ enqueued: 1, certificatesMatched: 300 });

      expect(await worker.runOnce()).toMatchObject({ retried: 1 });
      const [d] = await deliveriesOf(ch.id);
      const row = await db().selectFrom('notification_deliveries').select(['messages', 'messages_sent']).where('id', '=', d.id).executeTakeFirstOrThrow();
      const total = (JSON.parse(row.messages!) as unknown[]).length;
      expect(total).toBeGreaterThan(3);
      expect(Number(row.messages_sent)).toBe(2);

      clock.advance(gap(d));
      expect(await worker.runOnce()).toMatchObject({ sent: 1 });
      expect(discord.requests).toHaveLength(total + 1);
      const accepted = discord.requests.filter((_, i) => i !== 2).map((q) => q.body);
      expect(new Set(accepted).size).toBe(total);
      expect(discord.requests[2].body).toBe(discord.requests[3].body);
      expect(discord.requests.flatMap((q) => q.problems)).toEqual([]);
      const text = accepted.map((b) => allText(JSON.parse(b))).join('\n');
      for (const c of certs) expect(text).toContain(c.commonName);
    });

    it('ok/generic webhook: the signature matches a reference HMAC; a tampered body does not', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const hook = await receiver();
      const ch = await channel({ name: 'signed', type: 'webhook', config: { url: hook.url } });
      const secret = ch.secret!;
      expect(secret.length).toBeGreaterThanOrEqual(32);
      expect(ch.config).toMatchObject({ secret: '***' });
      await rule({ name: 'signed', channelIds: [ch.id], selector: { authorityId: ca.id } });
      const cert = await addCertificate(db(), { authorityId: ca.id, daysLeft: 1.5, now });
      await sweep();
      await worker.runUntilIdle();

      const [req] = hook.requests;
      const [d] = await deliveriesOf(ch.id);
      const ts = String(req.headers['x-certa-timestamp']);
      const sig = String(req.headers['x-certa-signature']);
      expect(req.headers['x-certa-delivery']).toBe(d.id);
      expect(Math.abs(Number(ts) - clock.now().getTime() / 1000)).toBeLessThan(30);
      const reference = (body: string) => `v1=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
      expect(sig).toBe(reference(req.body));
      expect(verifyWebhookSignature(secret, req.headers, req.body, { now: clock.now() })).toMatchObject({ ok: true, deliveryId: d.id });

      const body = JSON.parse(req.body);
      expect(body).toMatchObject({ event: 'expiring', thresholdDays: 7, deliveryId: d.id, batch: { index: 1, count: 1 } });
      expect(body.certificates[0]).toMatchObject({ id: cert.id, commonName: cert.commonName, serialNumber: cert.serial, daysLeft: 1, authorityName: ca.name });

      const tampered = req.body.replace(cert.commonName, 'evil.example.test');
      expect(tampered).not.toBe(req.body);
      expect(sig).not.toBe(reference(tampered));
      expect(verifyWebhookSignature(secret, req.headers, tampered, { now: clock.now() })).toEqual({ ok: false, reason: 'bad_signature' });
      expect(verifyWebhookSignature('another-secret-of-some-length', req.headers, req.body, { now: clock.now() })).toEqual({ ok: false, reason: 'bad_signature' });
    });

    it('ok/email reaches a real SMTP server with authentication', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const smtp = await startSmtp({ user: 'certa', pass: SMTP_PASSWORD });
      try {
        const ch = await channel({
          name: 'mail',
          type: 'email',
          config: { host: '127.0.0.1', port: smtp.port, secure: false, username: 'certa', password: SMTP_PASSWORD, from: 'certa@example.test', to: ['ops@example.test', 'sec@example.test'] },
        });
        expect(ch.config).toMatchObject({ password: '***', username: 'certa' });
        await rule({ name: 'mail', channelIds: ['mail'], selector: { authorityId: ca.id } });
        const a = await addCertificate(db(), { authorityId: ca.id, daysLeft: 12, now });
        const b = await addCertificate(db(), { authorityId: ca.id, daysLeft: -3, now });
        await sweep();
        expect(await worker.runUntilIdle()).toMatchObject({ sent: 2, failed: 0 });

        expect(smtp.received).toHaveLength(2);
        const list = await deliveriesOf(ch.id);
        for (const m of smtp.received) {
          expect(m.user).toBe('certa');
          expect(m.to).toEqual(['ops@example.test', 'sec@example.test']);
          expect(m.raw).toMatch(/^Subject: \[Certa\]/m);
          const id = /^X-Certa-Delivery: (.+)$/m.exec(m.raw)?.[1]?.trim();
          expect(list.map((d) => d.id)).toContain(id);
        }
        const all = smtp.received.map((m) => m.raw).join('\n');
        expect(all).toContain(a.commonName);
        expect(all).toContain(b.commonName);
        for (const d of list) expect(d).toMatchObject({ status: 'sent', lastStatus: 250 });
      } finally {
        await smtp.close();
      }
    });

    it('ok/receiver down for a while, then back: every pending notification is delivered once', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const port = await freePort();
      const ch = await channel({ name: 'down', type: 'webhook', config: { url: `http://127.0.0.1:${port}/hook/${'k'.repeat(20)}` } });
      await rule({ name: 'down', channelIds: [ch.id], selector: { authorityId: ca.id } });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 3, now });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: 10, now });
      await addCertificate(db(), { authorityId: ca.id, daysLeft: -1, now });
      expect((await sweep()).enqueued).toBe(3);

      expect(await worker.runOnce()).toMatchObject({ claimed: 3, retried: 3 });
      for (const d of await deliveriesOf(ch.id)) expect(d.lastError).toMatch(/^network error: ECONNREFUSED/);
      clock.advance(60_000);
      expect(await worker.runOnce()).toMatchObject({ retried: 3 });

      const seen: string[] = [];
      const server = await listen(port, (id) => seen.push(id));
      try {
        clock.advance(60 * 60_000);
        expect(await worker.runUntilIdle()).toMatchObject({ sent: 3, failed: 0 });
        clock.advance(DAY);
        expect(await worker.runUntilIdle()).toMatchObject({ claimed: 0 });
        const ids = (await deliveriesOf(ch.id)).map((d) => d.id).sort();
        expect([...seen].sort()).toEqual(ids);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });

    it('ok/issued, revoked and renewed events reach the channels of matching rules, once', async () => {
      const now = clock.now();
      const ca = await addAuthority(db());
      const hook = await receiver();
      const ch = await channel({ name: 'events', type: 'webhook', config: { url: hook.url } });
      await rule({ name: 'events', channelIds: [ch.id], events: ['issued', 'revoked', 'renewed'], thresholdsDays: [], includeExpired: false, selector: { authorityId: ca.id, labels: { notify: 'yes' } } });
      const svc = env().app.services;
      const old = await addCertificate(db(), { authorityId: ca.id, daysLeft: 200, now, labels: { notify: 'yes' } });
      const other = await addCertificate(db(), { authorityId: ca.id, daysLeft: 200, now });

      const record = (e: CertificateEvent) => db().transaction().execute((trx) => recordEvent(svc, trx, e));

      await record({ type: 'issued', certificateId: old.id });
      expect(await dispatchEvents(svc)).toEqual({ events: 1, enqueued: 1 });
      expect(await deliveriesOf(ch.id)).toHaveLength(1);
      // The same event again enqueues nothing; a certificate outside the selector neither.
      await record({ type: 'issued', certificateId: old.id });
      await record({ type: 'issued', certificateId: other.id });
      expect(await dispatchEvents(svc)).toEqual({ events: 2, enqueued: 0 });

      const renewed = await addCertificate(db(), { authorityId: ca.id, daysLeft: 365, now, labels: { notify: 'yes' }, predecessorId: old.id });
      await db().updateTable('certificates').set({ successor_id: renewed.id }).where('id', '=', old.id).execute();
      await record({ type: 'renewed', certificateId: renewed.id, previousId: old.id });
      await db().updateTable('certificates').set({ revoked_at: now.toISOString(), revocation_reason: 'superseded' }).where('id', '=', old.id).execute();
      await record({ type: 'revoked', certificateId: old.id, reason: 'superseded' });

      // The worker dispatches pending events at the start of its round.
      expect(await worker.runUntilIdle()).toMatchObject({ events: 2, sent: 3 });
      expect(await dispatchEvents(svc)).toEqual({ events: 0, enqueued: 0 });
      const bodies = hook.requests.map((q) => JSON.parse(q.body));
      const byEvent = Object.fromEntries(bodies.map((b) => [b.event, b]));
      expect(Object.keys(byEvent).sort()).toEqual(['issued', 'renewed', 'revoked']);
      expect(byEvent.issued.certificates[0].id).toBe(old.id);
      expect(byEvent.revoked).toMatchObject({ reason: 'superseded' });
      expect(byEvent.renewed.certificates[0]).toMatchObject({ id: renewed.id, previous: { id: old.id, serialNumber: old.serial, notAfter: old.notAfter } });
      const kinds = (await deliveriesOf(ch.id)).map((d) => d.kind).sort();
      expect(kinds).toEqual(['issued', 'renewed', 'revoked']);
    });

    it('ok/testNotificationChannel sends a real test message and reports the answer', async () => {
      const discord = await receiver({ check: checkDiscord });
      const failing = await receiver({ fallback: { status: 503, headers: { 'retry-after': '30' }, body: 'maintenance' } });
      const hook = await receiver();
      const ok = await channel({ name: 't-discord', type: 'discord', config: { url: discord.url } });
      const ko = await channel({ name: 't-slack', type: 'slack', config: { url: failing.url } });
      const wh = await channel({ name: 't-webhook', type: 'webhook', config: { url: hook.url, secret: 'a-chosen-secret-1234' } });

      const r1 = await api().POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: ok.name } } });
      expect(r1.data).toMatchObject({ ok: true, status: 204, error: null });
      expect(discord.requests).toHaveLength(1);
      expect(discord.requests[0].problems).toEqual([]);
      expect(allText(JSON.parse(discord.requests[0].body))).toContain('t-discord');

      const r2 = await api().POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: ko.id } } });
      expect(r2.data).toMatchObject({ ok: false, status: 503, retryable: true, error: 'HTTP 503: maintenance' });

      const r3 = await api().POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: wh.id } } });
      expect(r3.data!.ok).toBe(true);
      const req = hook.requests[0];
      expect(JSON.parse(req.body)).toMatchObject({ event: 'test', certificates: [] });
      expect(verifyWebhookSignature('a-chosen-secret-1234', req.headers, req.body, { now: clock.now() }).ok).toBe(true);
      // A test is not an outbox delivery.
      expect(await deliveriesOf(wh.id)).toEqual([]);
    });

    describe('outbox bookkeeping', () => {
      it('ok/a deleted channel fails its queued deliveries and keeps their history', async () => {
        const now = clock.now();
        const ca = await addAuthority(db());
        const hook = await receiver();
        const ch = await channel({ name: 'to-delete', type: 'webhook', config: { url: hook.url } });
        await rule({ name: 'to-delete', channelIds: [ch.id], selector: { authorityId: ca.id } });
        await addCertificate(db(), { authorityId: ca.id, daysLeft: 4, now });
        await sweep();
        expect((await api().DELETE('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: ch.id } } })).response.status).toBe(204);
        const [d] = await deliveriesOf(ch.id);
        expect(d).toMatchObject({ status: 'failed', lastError: 'channel deleted' });
        const r = (await api().GET('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: 'to-delete' } } })).data!;
        expect(r.channelIds).toEqual([]);
        expect(await worker.runOnce()).toMatchObject({ claimed: 0 });
        expect(hook.requests).toHaveLength(0);
      });

      it('ok/a crashed worker\'s claim comes back when its lease ends, and its late write is fenced off', async () => {
        const now = clock.now();
        const ca = await addAuthority(db());
        const hook = await receiver();
        const ch = await channel({ name: 'lease', type: 'webhook', config: { url: hook.url } });
        await rule({ name: 'lease', channelIds: [ch.id], selector: { authorityId: ca.id } });
        await addCertificate(db(), { authorityId: ca.id, daysLeft: 4, now });
        await sweep();
        const t = clock.now();
        const stolen = await repo.claimDueDeliveries(db(), { now: t.toISOString(), leaseUntil: new Date(t.getTime() + 60_000).toISOString(), token: 'crashed-worker', limit: 10 });
        expect(stolen).toHaveLength(1);
        expect(await worker.runOnce()).toMatchObject({ claimed: 0 });
        clock.advance(61_000);
        expect(await worker.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
        const [d] = await deliveriesOf(ch.id);
        expect(d).toMatchObject({ status: 'sent', attempts: 2 });
        expect(await repo.finishDelivery(db(), d.id, 'crashed-worker', { status: 'failed', at: t.toISOString(), lastError: 'late', lastStatus: null })).toBe(false);
        expect(hook.requests).toHaveLength(1);
      });
    });
  },
  {
    clock,
    env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true', CERTA_NOTIFY_TIMEOUT_MS: '500', CERTA_NOTIFY_MAX_ATTEMPTS: String(MAX_ATTEMPTS) },
  },
);

const SMTP_PASSWORD = 'smtp-pa55word-never-stored-in-clear';

interface Mail {
  to: string[];
  raw: string;
  user?: string;
}

async function startSmtp(auth: { user: string; pass: string }): Promise<{ port: number; received: Mail[]; close: () => Promise<void> }> {
  const received: Mail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth(a, _session, cb) {
      if (a.username === auth.user && a.password === auth.pass) return cb(null, { user: a.username });
      cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), user: typeof session.user === 'string' ? session.user : undefined });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** A webhook receiver on a fixed port that reports each delivery id it accepts. */
async function listen(port: number, onDelivery: (id: string) => void): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      onDelivery(String(req.headers['x-certa-delivery']));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}
