/**
 * Channel secrets (platform webhook URL paths, webhook signing secrets, SMTP passwords) are
 * never in plaintext in the database (raw SQLite files; every table on PostgreSQL) nor in
 * any API response, after channels were created, updated, tested and used for deliveries.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { addAuthority, addCertificate } from '../../src/notify/testing/inventory.js';
import { DeliveryWorker } from '../../src/notify/delivery.worker.js';

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
});

forEachDialect(
  'no plaintext channel secret in the database or in responses',
  (env) => {
    it('ok/URL paths, signing secrets and SMTP passwords are sealed', async () => {
      const api = env().client();
      const db = env().app.store.db;
      const tag = `${env().dialect}-${Date.now().toString(36)}`;
      const secrets = {
        discord: `discord-token-${tag}-ZK4mq`,
        slack: `T0SLACK/B0SLACK/slack-${tag}-Qw3`,
        teams: `teams-sig-${tag}-Lp9x`,
        webhookPath: `hook-path-${tag}-Yb2`,
        webhookSecret: `chosen-signing-secret-${tag}`,
        updatedPath: `updated-path-${tag}-Vv7`,
        smtpPassword: `smtp-password-${tag}-Hh5`,
      };
      const responses: unknown[] = [];
      const keep = <T extends { data?: unknown; error?: unknown }>(r: T): T => {
        responses.push(r.data ?? r.error);
        return r;
      };

      keep(await api.POST('/api/v1/notification-channels', { body: { name: 's-discord', type: 'discord', config: { url: `${receiver.origin}/api/webhooks/1/${secrets.discord}` } } }));
      keep(await api.POST('/api/v1/notification-channels', { body: { name: 's-slack', type: 'slack', config: { url: `${receiver.origin}/services/${secrets.slack}` } } }));
      keep(await api.POST('/api/v1/notification-channels', { body: { name: 's-teams', type: 'teams', config: { url: `${receiver.origin}/workflows/run?sig=${secrets.teams}` } } }));
      keep(await api.POST('/api/v1/notification-channels', { body: { name: 's-webhook', type: 'webhook', config: { url: `${receiver.origin}/${secrets.webhookPath}`, secret: secrets.webhookSecret } } }));
      const generated = await api.POST('/api/v1/notification-channels', { body: { name: 's-webhook-gen', type: 'webhook', config: { url: `${receiver.origin}/gen` } } });
      const generatedSecret = generated.data!.secret!;
      keep(
        await api.POST('/api/v1/notification-channels', {
          body: { name: 's-email', type: 'email', config: { host: '127.0.0.1', port: 9, secure: false, username: 'certa', password: secrets.smtpPassword, from: 'c@example.test', to: ['o@example.test'] } },
        }),
      );
      keep(await api.PATCH('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: 's-webhook' } }, body: { config: { url: `${receiver.origin}/${secrets.updatedPath}` } } }));
      for (const name of ['s-discord', 's-slack', 's-teams', 's-webhook', 's-webhook-gen']) {
        const t = keep(await api.POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: name } } }));
        expect(t.data!.ok, name).toBe(true);
      }
      keep(await api.POST('/api/v1/notification-channels/{channelId}/test', { params: { path: { channelId: 's-email' } } }));

      // Deliveries too: their stored messages must not carry channel secrets either.
      const ca = await addAuthority(db);
      await addCertificate(db, { authorityId: ca.id, daysLeft: 3, now: new Date() });
      keep(await api.POST('/api/v1/notification-rules', { body: { name: 's-rule', channelIds: ['s-discord', 's-slack', 's-teams', 's-webhook', 's-webhook-gen'], selector: { authorityId: ca.id } } }));
      keep(await api.POST('/api/v1/notifications/sweep'));
      expect(await new DeliveryWorker(env().app.services).runUntilIdle()).toMatchObject({ sent: 5, failed: 0 });

      keep(await api.GET('/api/v1/notification-channels', { params: { query: { limit: 500 } } }));
      for (const name of ['s-discord', 's-slack', 's-teams', 's-webhook', 's-webhook-gen', 's-email']) {
        keep(await api.GET('/api/v1/notification-channels/{channelId}', { params: { path: { channelId: name } } }));
      }
      keep(await api.GET('/api/v1/notification-rules'));
      keep(await api.GET('/api/v1/notification-deliveries', { params: { query: { limit: 500 } } }));
      keep(await api.GET('/api/v1/audit-events', { params: { query: { limit: 500 } } }));

      // Step 1: responses (the generated secret was shown once, in its creation answer only).
      const answered = JSON.stringify(responses);
      for (const s of [...Object.values(secrets), generatedSecret]) expect(answered.includes(s), `a response contains ${s}`).toBe(false);

      // Step 2: the database.
      const all = [...Object.values(secrets), generatedSecret];
      const sealed = await db.selectFrom('secrets').select('id').where('purpose', '=', 'notification-channel').execute();
      expect(sealed.length).toBeGreaterThanOrEqual(6);
      if (env().dialect === 'sqlite') {
        await sql`pragma wal_checkpoint(passive)`.execute(db);
        const files = ['certa.db', 'certa.db-wal'].map((f) => join(env().dataDir, f)).filter(existsSync);
        const blob = Buffer.concat(files.map((f) => readFileSync(f)));
        // Positive control: what is not secret is found, so the scan does look at the data.
        expect(blob.includes(Buffer.from('s-webhook-gen'))).toBe(true);
        for (const s of all) {
          expect(blob.includes(Buffer.from(s)), `found on disk: ${s}`).toBe(false);
          expect(blob.includes(Buffer.from(s, 'utf16le'))).toBe(false);
        }
      } else {
        const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db);
        expect(tables.rows.map((t) => t.table_name)).toContain('notification_deliveries');
        let control = false;
        for (const { table_name } of tables.rows) {
          const rows = await sql`select * from ${sql.table(table_name)}`.execute(db);
          const dump = JSON.stringify(rows.rows, (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('latin1') : v));
          for (const s of all) expect(dump.includes(s), `${table_name} contains ${s}`).toBe(false);
          control ||= dump.includes('s-webhook-gen');
        }
        expect(control).toBe(true);
      }
    });
  },
  { env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);
