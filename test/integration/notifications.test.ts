/**
 * Notification channels, rules and the delivery list through the API, on both dialects:
 * CRUD, validation, redaction, the deny list for targets, pagination and filters.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import type { Schemas } from '../../src/spec.js';
import { addAuthority, addCertificate } from '../../src/notify/testing/inventory.js';
import { loadChannelSpec } from '../../src/notify/channels.usecases.js';
import { findChannel } from '../../src/store/notifications.repository.js';

const HOOK = 'http://127.0.0.1:9/api/webhooks/42/url-token-that-is-a-secret';

forEachDialect(
  'notifications API',
  (env) => {
    const api = () => env().client();
    const db = () => env().app.store.db;

    async function create(body: Schemas['ChannelCreate']) {
      return api().POST('/api/v1/notification-channels', { body });
    }

    describe('channels', () => {
      it('ok/create every type; configs come back redacted; a generated webhook secret is shown once', async () => {
        const discord = await create({ name: 'c-discord', type: 'discord', config: { url: HOOK } });
        expect(discord.response.status).toBe(201);
        expect(discord.response.headers.get('location')).toBe(`/api/v1/notification-channels/${discord.data!.id}`);
        expect(discord.data).toMatchObject({ name: 'c-discord', type: 'discord', enabled: true, config: { url: 'http://127.0.0.1:9/***' } });
        expect(discord.data).not.toHaveProperty('secret');

        const webhook = await create({ name: 'c-webhook', type: 'webhook', config: { url: HOOK } });
        expect(webhook.data!.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(webhook.data!.config).toEqual({ url: 'http://127.0.0.1:9/***', secret: '***' });
        const got = await api().GET('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: 'c-webhook' } } });
        expect(got.data).not.toHaveProperty('secret');
        expect(got.data!.config).toEqual({ url: 'http://127.0.0.1:9/***', secret: '***' });

        const chosen = await create({ name: 'c-webhook-2', type: 'webhook', config: { url: HOOK, secret: 'my-own-secret-0123456789' } });
        expect(chosen.data).not.toHaveProperty('secret');

        const email = await create({
          name: 'c-email',
          type: 'email',
          enabled: false,
          config: { host: 'smtp.example.test', port: 587, secure: false, username: 'certa', password: 'p4ssw0rd!', from: 'certa@example.test', to: ['ops@example.test'] },
        });
        expect(email.data).toMatchObject({ enabled: false, config: { host: 'smtp.example.test', port: 587, username: 'certa', password: '***', to: ['ops@example.test'] } });

        for (const type of ['slack', 'teams'] as const) {
          const r = await create({ name: `c-${type}`, type, config: { url: HOOK } });
          expect(r.response.status).toBe(201);
        }
      });

      it('error/validation: wrong shape, scheme, duplicate name, metadata addresses', async () => {
        const cases: Array<[string, Schemas['ChannelCreate'], number, string?]> = [
          ['email config for discord', { name: 'v1', type: 'discord', config: { host: 'x', port: 25, secure: false, from: 'a@b.c', to: ['a@b.c'] } as any }, 400],
          ['ftp url', { name: 'v2', type: 'webhook', config: { url: 'ftp://127.0.0.1/x' } }, 400, '/config/url'],
          ['short secret', { name: 'v3', type: 'webhook', config: { url: HOOK, secret: 'short' } }, 400],
          ['metadata IPv4', { name: 'v4', type: 'webhook', config: { url: 'http://169.254.169.254/latest/meta-data' } }, 400, '/config/url'],
          ['metadata, decimal host', { name: 'v5', type: 'teams', config: { url: 'http://2852039166/x' } }, 400, '/config/url'],
          ['metadata IPv6', { name: 'v6', type: 'webhook', config: { url: 'http://[fd00:ec2::254]/x' } }, 400, '/config/url'],
          ['metadata SMTP host', { name: 'v7', type: 'email', config: { host: '169.254.169.254', port: 25, secure: false, from: 'a@example.test', to: ['b@example.test'] } }, 400, '/config/host'],
          ['duplicate name', { name: 'dup', type: 'slack', config: { url: HOOK } }, 409],
        ];
        await create({ name: 'dup', type: 'slack', config: { url: HOOK } });
        for (const [name, body, status, field] of cases) {
          const r = await create(body);
          expect(r.response.status, name).toBe(status);
          if (field) expect((r.error as any).errors.map((e: any) => e.field), name).toContain(field);
        }
      });

      it('ok/update renames, disables and replaces the config; a webhook keeps its secret; delete', async () => {
        const created = await create({ name: 'u-webhook', type: 'webhook', config: { url: HOOK } });
        const id = created.data!.id;
        const secret = created.data!.secret!;
        const upd = await api().PATCH('/api/v1/notification-channels/{channelId}', {
          params: { path: { channelId: 'u-webhook' } },
          body: { name: 'u-webhook-renamed', enabled: false, config: { url: 'http://127.0.0.2:8080/new/path' } },
        });
        expect(upd.response.status).toBe(200);
        expect(upd.data).toMatchObject({ id, name: 'u-webhook-renamed', enabled: false, config: { url: 'http://127.0.0.2:8080/***', secret: '***' } });
        const spec = await loadChannelSpec(env().app.services, (await findChannel(db(), id))!);
        expect(spec.config).toEqual({ url: 'http://127.0.0.2:8080/new/path', secret });

        const bad = await api().PATCH('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: id } }, body: { config: { url: 'http://169.254.169.254/' } } });
        expect(bad.response.status).toBe(400);
        await create({ name: 'u-other', type: 'slack', config: { url: HOOK } });
        const clash = await api().PATCH('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: id } }, body: { name: 'u-other' } });
        expect(clash.response.status).toBe(409);

        const secretRows = () => db().selectFrom('secrets').select('id').where('purpose', '=', 'notification-channel').execute();
        const before = (await secretRows()).length;
        expect((await api().DELETE('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: id } } })).response.status).toBe(204);
        expect((await secretRows()).length).toBe(before - 1);
        expect((await api().GET('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: id } } })).response.status).toBe(404);
        expect((await api().DELETE('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: id } } })).response.status).toBe(404);
        expect((await api().POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: id } } })).response.status).toBe(404);
      });

      it('ok/list is paginated and complete', async () => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await api().GET('/api/v1/notification-channels', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } });
          expect(page.data!.items.length).toBeLessThanOrEqual(2);
          seen.push(...page.data!.items.map((c) => c.id));
          cursor = page.data!.nextCursor ?? undefined;
        } while (cursor);
        const all = await api().GET('/api/v1/notification-channels', { params: { query: { limit: 500 } } });
        expect(seen).toEqual(all.data!.items.map((c) => c.id));
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.length).toBeGreaterThan(3);
      });
    });

    describe('rules', () => {
      let ca: { id: string; name: string };
      beforeAll(async () => {
        ca = await addAuthority(db());
        await create({ name: 'r-one', type: 'slack', config: { url: HOOK } });
        await create({ name: 'r-two', type: 'discord', config: { url: HOOK } });
      });

      it('ok/create with defaults; channels and authority by name become ids; get, update, delete', async () => {
        const one = (await api().GET('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: 'r-one' } } })).data!;
        const two = (await api().GET('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: 'r-two' } } })).data!;
        const r = await api().POST('/api/v1/notification-rules', { body: { name: 'payments', channelIds: ['r-two', one.id], selector: { authorityId: ca.name, labels: { team: 'payments' } } } });
        expect(r.response.status).toBe(201);
        expect(r.data).toMatchObject({
          name: 'payments',
          channelIds: [two.id, one.id],
          thresholdsDays: [30, 14, 7, 1],
          includeExpired: true,
          events: [],
          enabled: true,
          selector: { authorityId: ca.id, labels: { team: 'payments' } },
        });
        const upd = await api().PATCH('/api/v1/notification-rules/{ruleId}', {
          params: { path: { ruleId: 'payments' } },
          body: { thresholdsDays: [1, 60, 14], events: ['revoked'], channelIds: ['r-one'], includeExpired: false, selector: { owner: 'alice' } },
        });
        expect(upd.data).toMatchObject({ thresholdsDays: [60, 14, 1], events: ['revoked'], channelIds: [one.id], includeExpired: false, selector: { owner: 'alice' } });
        const got = await api().GET('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: r.data!.id } } });
        expect(got.data).toEqual(upd.data);
        const list = await api().GET('/api/v1/notification-rules');
        expect(list.data!.items.map((x) => x.name)).toContain('payments');
        expect((await api().DELETE('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: 'payments' } } })).response.status).toBe(204);
        expect((await api().GET('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: 'payments' } } })).response.status).toBe(404);
      });

      it('error/unknown channel, authority or profile; duplicate name', async () => {
        const unknownChannel = await api().POST('/api/v1/notification-rules', { body: { name: 'x1', channelIds: ['r-one', 'nope'] } });
        expect(unknownChannel.response.status).toBe(400);
        expect((unknownChannel.error as any).errors).toEqual([{ field: '/body/channelIds/1', message: 'no notification channel "nope"' }]);
        const unknownAuthority = await api().POST('/api/v1/notification-rules', { body: { name: 'x2', channelIds: ['r-one'], selector: { authorityId: 'no-such-ca', profileId: 'no-such-profile' } } });
        expect(unknownAuthority.response.status).toBe(400);
        expect((unknownAuthority.error as any).errors.map((e: any) => e.field)).toEqual(['/body/selector/authorityId', '/body/selector/profileId']);
        expect((await api().POST('/api/v1/notification-rules', { body: { name: 'x3', channelIds: [] } })).response.status).toBe(400);
        await api().POST('/api/v1/notification-rules', { body: { name: 'x4', channelIds: ['r-one'] } });
        expect((await api().POST('/api/v1/notification-rules', { body: { name: 'x4', channelIds: ['r-one'] } })).response.status).toBe(409);
        await api().DELETE('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: 'x4' } } });
      });
    });

    describe('deliveries', () => {
      it('ok/filters by status, channel and certificate; cursor pagination; retry only failed', async () => {
        const now = new Date();
        const ca = await addAuthority(db());
        const a = (await create({ name: 'd-a', type: 'webhook', config: { url: HOOK } })).data!;
        const b = (await create({ name: 'd-b', type: 'webhook', config: { url: HOOK } })).data!;
        await api().POST('/api/v1/notification-rules', { body: { name: 'deliveries', channelIds: [a.id, b.id], selector: { authorityId: ca.id } } });
        const certs: Array<{ id: string }> = [];
        for (const days of [25, 10, 5, 0.5, -1]) certs.push(await addCertificate(db(), { authorityId: ca.id, daysLeft: days, now }));
        expect((await api().POST('/api/v1/notifications/sweep')).data).toEqual({ enqueued: 10, certificatesMatched: 5 });
        await api().DELETE('/api/v1/notification-rules/{ruleId}', { params: { path: { ruleId: 'deliveries' } } });

        const q = (query: Record<string, unknown>) => api().GET('/api/v1/notification-deliveries', { params: { query: { limit: 500, ...query } } });
        const ofA = (await q({ channelId: a.id })).data!.items;
        expect(ofA).toHaveLength(5);
        expect(ofA.every((d) => d.channelId === a.id && d.status === 'pending' && d.ruleId)).toBe(true);
        const ofCert = (await q({ certificateId: certs[2].id })).data!.items;
        expect(ofCert.map((d) => d.channelId).sort()).toEqual([a.id, b.id].sort());
        expect(ofCert.every((d) => d.kind === 'expiring' && d.thresholdDays === 7 && d.certificateIds[0] === certs[2].id)).toBe(true);

        await db().updateTable('notification_deliveries').set({ status: 'failed', last_error: 'HTTP 500', last_status: 500 }).where('id', '=', ofA[0].id).execute();
        const failed = (await q({ status: 'failed', channelId: a.id })).data!.items;
        expect(failed.map((d) => d.id)).toEqual([ofA[0].id]);
        expect(failed[0]).toMatchObject({ lastError: 'HTTP 500', lastStatus: 500, nextAttemptAt: null });

        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = (await q({ channelId: b.id, limit: 2, ...(cursor ? { cursor } : {}) })).data!;
          seen.push(...page.items.map((d) => d.id));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        expect(seen).toHaveLength(5);
        expect([...seen].sort().reverse()).toEqual(seen);

        const pending = await api().POST('/api/v1/notification-deliveries/{deliveryId}/retry', { params: { path: { deliveryId: ofA[1].id } } });
        expect(pending.response.status).toBe(409);
        const ok = await api().POST('/api/v1/notification-deliveries/{deliveryId}/retry', { params: { path: { deliveryId: ofA[0].id } } });
        expect(ok.data).toMatchObject({ status: 'pending', attempts: 0 });
        expect((await q({ cursor: 'not-a-cursor' })).response.status).toBe(400);
      });
    });
  },
  { env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);

forEachDialect('notification channels without the insecure flag', (env) => {
  it('error/http URLs and non-platform hosts are refused by default', async () => {
    const api = env().client();
    const cases: Array<[Schemas['ChannelCreate'], number]> = [
      [{ name: 's1', type: 'webhook', config: { url: 'http://hooks.example.test/x' } }, 400],
      [{ name: 's2', type: 'discord', config: { url: 'https://evil.example.test/api/webhooks/1/x' } }, 400],
      [{ name: 's3', type: 'slack', config: { url: 'https://hooks.slack.com/services/T000/B000/XXXX' } }, 201],
      [{ name: 's4', type: 'webhook', config: { url: 'https://169.254.169.254/latest' } }, 400],
    ];
    for (const [body, status] of cases) {
      const r = await api.POST('/api/v1/notification-channels', { body });
      expect(r.response.status, body.name).toBe(status);
    }
  });
});
