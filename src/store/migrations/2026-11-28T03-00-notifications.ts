/**
 * Frozen: notification channels and rules, the per-(certificate, threshold, channel) marks
 * that make the expiry sweep exactly-once, and the delivery outbox.
 */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const ts = pg ? sql`timestamptz` : sql`text`;
  const bool = pg ? sql`boolean` : sql`integer`;

  await db.schema
    .createTable('notification_channels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    // The whole config (URLs are credentials) lives only in `secrets`, envelope-encrypted.
    .addColumn('secret_id', 'text', (c) => c.notNull())
    // What the API shows: the config with every secret replaced by ***.
    .addColumn('config_redacted', 'text', (c) => c.notNull())
    .addColumn('enabled', bool, (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('notification_rules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('thresholds', 'text', (c) => c.notNull())
    .addColumn('include_expired', bool, (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('selector', 'text', (c) => c.notNull())
    .addColumn('enabled', bool, (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('notification_rule_channels')
    .addColumn('rule_id', 'text', (c) => c.notNull().references('notification_rules.id').onDelete('cascade'))
    .addColumn('channel_id', 'text', (c) => c.notNull().references('notification_channels.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_rule_channels_pk', ['rule_id', 'channel_id'])
    .execute();
  await db.schema.createIndex('notification_rule_channels_channel_idx').on('notification_rule_channels').column('channel_id').execute();

  // One row per announcement: the primary key is what makes a threshold fire once per
  // channel whatever the number of replicas or overlapping sweeps (INSERT ... ON CONFLICT DO NOTHING).
  await db.schema
    .createTable('notification_marks')
    .addColumn('certificate_id', 'text', (c) => c.notNull())
    // Days of the threshold; -1 for "expired".
    .addColumn('threshold', 'integer', (c) => c.notNull())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'text', (c) => c.notNull())
    // Copy of the certificate's notAfter, so old marks can be pruned without a join.
    .addColumn('not_after', ts, (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_marks_pk', ['certificate_id', 'threshold', 'channel_id'])
    .execute();
  await db.schema.createIndex('notification_marks_not_after_idx').on('notification_marks').column('not_after').execute();
  await db.schema.createIndex('notification_marks_channel_idx').on('notification_marks').column('channel_id').execute();

  await db.schema
    .createTable('notification_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('threshold_days', 'integer')
    .addColumn('occurred_at', ts, (c) => c.notNull())
    // JSON with the event's extra facts (revocation reason, previous certificate).
    .addColumn('detail', 'text')
    // Event deliveries: `<kind>:<certificate>:<channel>`, so one event reaches a channel once.
    .addColumn('dedupe_key', 'text', (c) => c.unique())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', ts)
    // Lease of the worker that claimed it; an expired lease makes the row claimable again.
    .addColumn('locked_until', ts)
    .addColumn('claim_token', 'text')
    // JSON array of the platform messages, fixed at the first attempt; `messages_sent` of
    // them were accepted, so a retry resumes after the last accepted one.
    .addColumn('messages', 'text')
    .addColumn('messages_sent', 'integer', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('sent_at', ts)
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('notification_deliveries_due_idx').on('notification_deliveries').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('notification_deliveries_lease_idx').on('notification_deliveries').columns(['status', 'locked_until']).execute();
  await db.schema.createIndex('notification_deliveries_channel_idx').on('notification_deliveries').columns(['channel_id', 'id']).execute();

  await db.schema
    .createTable('notification_delivery_certificates')
    .addColumn('delivery_id', 'text', (c) => c.notNull().references('notification_deliveries.id').onDelete('cascade'))
    .addColumn('certificate_id', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_delivery_certificates_pk', ['delivery_id', 'certificate_id'])
    .execute();
  await db.schema
    .createIndex('notification_delivery_certificates_cert_idx')
    .on('notification_delivery_certificates')
    .columns(['certificate_id', 'delivery_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'notification_delivery_certificates',
    'notification_deliveries',
    'notification_marks',
    'notification_rule_channels',
    'notification_rules',
    'notification_channels',
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
