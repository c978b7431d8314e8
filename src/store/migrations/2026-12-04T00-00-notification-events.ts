/**
 * Frozen: the transactional outbox of notification events, and the channel pause.
 *
 * - `notification_events`: a use-case that issues, renews or revokes a certificate writes
 *   the event row in the same transaction as the change, so a committed change is always
 *   announced; a dispatcher turns pending rows (processed_at null) into deliveries and
 *   marks them processed in one transaction. Processed rows are pruned after a while.
 * - `notification_channels.paused_until`: a receiver that asked to wait (429 + Retry-After)
 *   pauses the whole channel, for every replica's worker.
 */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const ts = pg ? sql`timestamptz` : sql`text`;

  await db.schema
    .createTable('notification_events')
    // UUID v7: time-ordered, so pending events are dispatched in about the order they happened.
    .addColumn('id', 'text', (c) => c.primaryKey())
    // 'issued' | 'revoked' | 'renewed'
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('certificate_id', 'text', (c) => c.notNull())
    // JSON with the event's facts as they were at the change (revocation reason, previous certificate).
    .addColumn('detail', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('processed_at', ts)
    .execute();
  // Pending events only: the dispatcher's scan stays small however many were processed.
  await sql`create index notification_events_pending_idx on notification_events (id) where processed_at is null`.execute(db);
  await sql`create index notification_events_processed_idx on notification_events (processed_at) where processed_at is not null`.execute(db);

  await db.schema.alterTable('notification_channels').addColumn('paused_until', ts).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('notification_channels').dropColumn('paused_until').execute();
  await db.schema.dropTable('notification_events').execute();
}
