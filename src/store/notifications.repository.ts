/**
 * Notification channels, rules, sweep marks and the delivery outbox. Plain functions over
 * `(db | trx, ...)`; rows are mapped to domain shapes here and nowhere else.
 *
 * Two statements carry the exactly-once guarantees and are set-based:
 * - `markCrossedThresholds`: one INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING per
 *   rule; the candidate SELECT is a range scan on `certificates(not_after)`.
 * - `claimDueDeliveries`: on PostgreSQL `FOR UPDATE SKIP LOCKED` plus a lease, so any number
 *   of workers share the outbox; on SQLite (one replica) a single UPDATE ... RETURNING.
 *   Deliveries of a paused channel (`paused_until`) are not claimed.
 * - `takePendingEvents`: the events of the transactional outbox are marked processed in the
 *   transaction that writes their deliveries; concurrent dispatchers skip each other's rows.
 */
import { PostgresAdapter, sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { Db } from './types.js';
import type {
  Database,
  NotificationChannelsTable,
  NotificationDeliveriesTable,
  NotificationEventsTable,
  NotificationRulesTable,
} from './schema.js';
import { decodeCursor, idFirst, toPage, type Page } from './pagination.js';

export const isPostgres = (db: Db): boolean => db.getExecutor().adapter instanceof PostgresAdapter;

/** A string parameter typed as timestamptz where PostgreSQL cannot infer it (SELECT lists). */
const tsParam = (db: Db, v: string) => (isPostgres(db) ? sql<string>`cast(${v} as timestamptz)` : sql<string>`${v}`);

// ---------------------------------------------------------------------------------------
// Channels

export type ChannelTypeName = NotificationChannelsTable['type'];

export interface ChannelRow {
  id: string;
  name: string;
  type: ChannelTypeName;
  secretId: string;
  configRedacted: Record<string, unknown>;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  /** No delivery to this channel is claimed before this instant (a receiver asked to wait). */
  pausedUntil?: string | null;
}

function mapChannel(r: NotificationChannelsTable): ChannelRow {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    secretId: r.secret_id,
    configRedacted: JSON.parse(r.config_redacted),
    enabled: Boolean(r.enabled),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    pausedUntil: r.paused_until ?? null,
  };
}

export async function insertChannel(db: Db, c: ChannelRow): Promise<void> {
  await db
    .insertInto('notification_channels')
    .values({
      id: c.id,
      name: c.name,
      type: c.type,
      secret_id: c.secretId,
      config_redacted: JSON.stringify(c.configRedacted),
      enabled: c.enabled,
      created_at: c.createdAt,
      updated_at: c.updatedAt,
    })
    .execute();
}

export async function findChannel(db: Db, idOrName: string): Promise<ChannelRow | undefined> {
  const r = await db
    .selectFrom('notification_channels')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .orderBy(idFirst(idOrName))
    .executeTakeFirst();
  return r && mapChannel(r);
}

/** Channels named by id or name, in no particular order. */
export async function findChannelsByRefs(db: Db, refs: string[]): Promise<ChannelRow[]> {
  if (!refs.length) return [];
  const rows = await db
    .selectFrom('notification_channels')
    .selectAll()
    .where((eb) => eb.or([eb('id', 'in', refs), eb('name', 'in', refs)]))
    .execute();
  return rows.map(mapChannel);
}

export async function listChannels(db: Db, q: { limit: number; cursor?: string }): Promise<Page<ChannelRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('notification_channels').selectAll().orderBy('id').limit(q.limit + 1);
  if (c) query = query.where('id', '>', c.id);
  return toPage(await query.execute(), q.limit, mapChannel, (r) => [null, r.id]);
}

export async function updateChannel(
  db: Db,
  id: string,
  patch: { name?: string; enabled?: boolean; configRedacted?: Record<string, unknown>; updatedAt: string },
): Promise<void> {
  await db
    .updateTable('notification_channels')
    .set({
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.enabled !== undefined && { enabled: patch.enabled }),
      ...(patch.configRedacted !== undefined && { config_redacted: JSON.stringify(patch.configRedacted) }),
      updated_at: patch.updatedAt,
    })
    .where('id', '=', id)
    .execute();
}

/**
 * Removes the channel from every rule and forgets its marks; its delivery history stays,
 * and what was still queued for it fails with a clear reason.
 */
export async function deleteChannel(db: Db, id: string, now: string): Promise<void> {
  await db.deleteFrom('notification_rule_channels').where('channel_id', '=', id).execute();
  await db.deleteFrom('notification_marks').where('channel_id', '=', id).execute();
  await db
    .updateTable('notification_deliveries')
    .set({ status: 'failed', last_error: 'channel deleted', next_attempt_at: null, locked_until: null, claim_token: null, updated_at: now })
    .where('channel_id', '=', id)
    .where('status', 'in', ['pending', 'sending'])
    .execute();
  await db.deleteFrom('notification_channels').where('id', '=', id).execute();
}

/**
 * Pauses a channel until `until` (never shortens a longer pause). Not a config change:
 * `updated_at` stays.
 */
export async function pauseChannel(db: Db, id: string, until: string): Promise<void> {
  await db
    .updateTable('notification_channels')
    .set({ paused_until: until })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('paused_until', 'is', null), eb('paused_until', '<', until)]))
    .execute();
}

/** The channel's pause, when it ends after `now`; null otherwise. */
export async function channelPausedUntil(db: Db, id: string, now: string): Promise<string | null> {
  const r = await db.selectFrom('notification_channels').select('paused_until').where('id', '=', id).where('paused_until', '>', now).executeTakeFirst();
  return r?.paused_until ?? null;
}

// ---------------------------------------------------------------------------------------
// Rules

export type RuleEventName = 'issued' | 'revoked' | 'renewed';

export interface RuleSelector {
  authorityId?: string;
  profileId?: string;
  labels?: Record<string, string>;
  owner?: string;
}

export interface RuleRow {
  id: string;
  name: string;
  /** Descending, unique. */
  thresholds: number[];
  includeExpired: boolean;
  events: RuleEventName[];
  selector: RuleSelector;
  enabled: boolean;
  /** Channel ids in the order given. */
  channelIds: string[];
  createdAt: string;
  updatedAt: string;
}

function mapRule(r: NotificationRulesTable, channelIds: string[]): RuleRow {
  return {
    id: r.id,
    name: r.name,
    thresholds: JSON.parse(r.thresholds),
    includeExpired: Boolean(r.include_expired),
    events: JSON.parse(r.events),
    selector: JSON.parse(r.selector),
    enabled: Boolean(r.enabled),
    channelIds,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

async function channelIdsOfRules(db: Db, ruleIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!ruleIds.length) return out;
  const rows = await db
    .selectFrom('notification_rule_channels')
    .select(['rule_id', 'channel_id'])
    .where('rule_id', 'in', ruleIds)
    .orderBy('rule_id')
    .orderBy('position')
    .execute();
  for (const r of rows) out.set(r.rule_id, [...(out.get(r.rule_id) ?? []), r.channel_id]);
  return out;
}

async function setRuleChannels(db: Db, ruleId: string, channelIds: string[]): Promise<void> {
  await db.deleteFrom('notification_rule_channels').where('rule_id', '=', ruleId).execute();
  if (channelIds.length) {
    await db
      .insertInto('notification_rule_channels')
      .values(channelIds.map((channel_id, position) => ({ rule_id: ruleId, channel_id, position })))
      .execute();
  }
}

export async function insertRule(db: Db, r: RuleRow): Promise<void> {
  await db
    .insertInto('notification_rules')
    .values({
      id: r.id,
      name: r.name,
      thresholds: JSON.stringify(r.thresholds),
      include_expired: r.includeExpired,
      events: JSON.stringify(r.events),
      selector: JSON.stringify(r.selector),
      enabled: r.enabled,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
    })
    .execute();
  await setRuleChannels(db, r.id, r.channelIds);
}

export async function findRule(db: Db, idOrName: string): Promise<RuleRow | undefined> {
  const r = await db
    .selectFrom('notification_rules')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .orderBy(idFirst(idOrName))
    .executeTakeFirst();
  if (!r) return undefined;
  return mapRule(r, (await channelIdsOfRules(db, [r.id])).get(r.id) ?? []);
}

export async function listRules(db: Db, q: { limit: number; cursor?: string }): Promise<Page<RuleRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('notification_rules').selectAll().orderBy('id').limit(q.limit + 1);
  if (c) query = query.where('id', '>', c.id);
  const rows = await query.execute();
  const channels = await channelIdsOfRules(db, rows.map((r) => r.id));
  return toPage(rows, q.limit, (r) => mapRule(r, channels.get(r.id) ?? []), (r) => [null, r.id]);
}

/** Every enabled rule (the set is small: rules are written by operators). */
export async function enabledRules(db: Db): Promise<RuleRow[]> {
  const rows = await db.selectFrom('notification_rules').selectAll().where('enabled', '=', true).orderBy('id').execute();
  const channels = await channelIdsOfRules(db, rows.map((r) => r.id));
  return rows.map((r) => mapRule(r, channels.get(r.id) ?? []));
}

export async function updateRule(
  db: Db,
  id: string,
  patch: Partial<Pick<RuleRow, 'name' | 'thresholds' | 'includeExpired' | 'events' | 'selector' | 'enabled' | 'channelIds'>> & { updatedAt: string },
): Promise<void> {
  await db
    .updateTable('notification_rules')
    .set({
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.thresholds !== undefined && { thresholds: JSON.stringify(patch.thresholds) }),
      ...(patch.includeExpired !== undefined && { include_expired: patch.includeExpired }),
      ...(patch.events !== undefined && { events: JSON.stringify(patch.events) }),
      ...(patch.selector !== undefined && { selector: JSON.stringify(patch.selector) }),
      ...(patch.enabled !== undefined && { enabled: patch.enabled }),
      updated_at: patch.updatedAt,
    })
    .where('id', '=', id)
    .execute();
  if (patch.channelIds !== undefined) await setRuleChannels(db, id, patch.channelIds);
}

export async function deleteRule(db: Db, id: string): Promise<void> {
  await db.deleteFrom('notification_rule_channels').where('rule_id', '=', id).execute();
  await db.deleteFrom('notification_rules').where('id', '=', id).execute();
}

// ---------------------------------------------------------------------------------------
// Expiry sweep

/** The `threshold` of an "expired" mark. */
export const EXPIRED_THRESHOLD = -1;

export interface SweepRuleQuery {
  ruleId: string;
  /** The sweep instant (ISO). */
  now: string;
  /** The rule's thresholds with their upper bound `now + days`, ascending by days. */
  thresholds: Array<{ days: number; until: string }>;
  /** Announce certificates already past notAfter as "expired" (threshold -1). */
  includeExpired: boolean;
  /** Oldest notAfter still considered (bounds the scan of long-expired certificates). */
  expiredSince: string;
  selector: RuleSelector;
}

/**
 * The candidates of one rule: certificates still current (not revoked, archived or
 * renewed) that match the selector, each with its NEAREST crossed threshold, times the
 * rule's enabled channels, minus what was already announced. One range scan on
 * `certificates(not_after)`; the CASE picks the smallest threshold whose bound the
 * certificate is under (thresholds ascending), or "expired".
 */
export function candidateQuery(db: Db, q: SweepRuleQuery) {
  const branches = q.thresholds.map((t) => {
    if (!Number.isInteger(t.days)) throw new Error(`threshold ${t.days} is not an integer`);
    return sql`when c.not_after <= ${t.until} then ${sql.lit(t.days)}`;
  });
  if (q.includeExpired) branches.unshift(sql`when c.not_after <= ${q.now} then ${sql.lit(EXPIRED_THRESHOLD)}`);
  const threshold = sql<number>`case ${sql.join(branches, sql` `)} end`;
  // With neither "expired" nor a 0-day threshold, nothing at or before now can match.
  const lower = q.includeExpired || q.thresholds.some((t) => t.days === 0) ? q.expiredSince : q.now;
  const upper = q.thresholds.reduce((max, t) => (t.until > max ? t.until : max), q.now);

  let certs = db
    .selectFrom('certificates as c')
    .select(['c.id as certificate_id', 'c.not_after as not_after'])
    .select(threshold.as('threshold'))
    .where('c.not_after', '>', lower)
    .where('c.not_after', '<=', upper)
    .where('c.revoked_at', 'is', null)
    .where('c.archived_at', 'is', null)
    .where('c.successor_id', 'is', null);
  const s = q.selector;
  if (s.authorityId) certs = certs.where('c.authority_id', '=', s.authorityId);
  if (s.profileId) certs = certs.where('c.profile_id', '=', s.profileId);
  if (s.owner) certs = certs.where('c.owner', '=', s.owner);
  for (const [key, value] of Object.entries(s.labels ?? {})) {
    certs = certs.where((eb) =>
      eb.exists(
        eb
          .selectFrom('certificate_labels as l')
          .select('l.certificate_id')
          .whereRef('l.certificate_id', '=', 'c.id')
          .where('l.key', '=', key)
          .where('l.value', '=', value),
      ),
    );
  }

  return db
    .selectFrom(certs.as('x'))
    .innerJoin('notification_rule_channels as rc', (j) => j.on('rc.rule_id', '=', q.ruleId))
    .innerJoin('notification_channels as ch', (j) => j.onRef('ch.id', '=', 'rc.channel_id').on('ch.enabled', '=', true))
    .where('x.threshold', 'is not', null)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('notification_marks as m')
            .select('m.certificate_id')
            .whereRef('m.certificate_id', '=', 'x.certificate_id')
            .whereRef('m.threshold', '=', 'x.threshold')
            .whereRef('m.channel_id', '=', 'rc.channel_id'),
        ),
      ),
    );
}

export interface NewMark {
  certificateId: string;
  threshold: number;
  channelId: string;
}

/**
 * Writes the marks of one rule and returns only the rows this call inserted: a mark
 * another sweep wrote first (concurrently or earlier) conflicts and is skipped, so each
 * (certificate, threshold, channel) is returned to exactly one caller, ever.
 */
export async function markCrossedThresholds(db: Db, q: SweepRuleQuery): Promise<NewMark[]> {
  const rows = await db
    .insertInto('notification_marks')
    .columns(['certificate_id', 'threshold', 'channel_id', 'rule_id', 'not_after', 'created_at'])
    .expression(
      candidateQuery(db, q).select([
        'x.certificate_id',
        'x.threshold',
        'rc.channel_id',
        sql<string>`${q.ruleId}`.as('rule_id'),
        'x.not_after',
        tsParam(db, q.now).as('created_at'),
      ]),
    )
    .onConflict((oc) => oc.columns(['certificate_id', 'threshold', 'channel_id']).doNothing())
    .returning(['certificate_id', 'threshold', 'channel_id'])
    .execute();
  return rows.map((r) => ({ certificateId: r.certificate_id, threshold: Number(r.threshold), channelId: r.channel_id }));
}

/**
 * Serialises sweeps across replicas for the rest of the transaction (PostgreSQL). The
 * unique marks already make them exactly-once; the lock keeps two sweeps from inserting
 * overlapping marks in different orders and deadlocking. SQLite transactions are serial.
 */
export async function lockSweep(trx: Db): Promise<void> {
  if (isPostgres(trx)) await sql`select pg_advisory_xact_lock(hashtext('certa.notify.sweep'))`.execute(trx);
}

/** Marks of certificates that can no longer be candidates are dead weight. */
export async function pruneMarks(db: Db, notAfterBefore: string): Promise<number> {
  const r = await db.deleteFrom('notification_marks').where('not_after', '<', notAfterBefore).executeTakeFirst();
  return Number(r.numDeletedRows ?? 0);
}

// ---------------------------------------------------------------------------------------
// Deliveries (the outbox)

export type DeliveryKind = NotificationDeliveriesTable['kind'];
export type DeliveryStatusName = NotificationDeliveriesTable['status'];

export interface DeliveryRow {
  id: string;
  channelId: string;
  ruleId: string | null;
  kind: DeliveryKind;
  thresholdDays: number | null;
  occurredAt: string;
  detail: Record<string, unknown> | null;
  status: DeliveryStatusName;
  attempts: number;
  nextAttemptAt: string | null;
  lockedUntil: string | null;
  claimToken: string | null;
  /** Platform messages, fixed at the first attempt (null before). */
  messages: unknown[] | null;
  messagesSent: number;
  lastError: string | null;
  lastStatus: number | null;
  sentAt: string | null;
  createdAt: string;
  updatedAt: string;
}

function mapDelivery(r: NotificationDeliveriesTable): DeliveryRow {
  return {
    id: r.id,
    channelId: r.channel_id,
    ruleId: r.rule_id,
    kind: r.kind,
    thresholdDays: r.threshold_days === null ? null : Number(r.threshold_days),
    occurredAt: r.occurred_at,
    detail: r.detail ? JSON.parse(r.detail) : null,
    status: r.status,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
    lockedUntil: r.locked_until,
    claimToken: r.claim_token,
    messages: r.messages ? JSON.parse(r.messages) : null,
    messagesSent: Number(r.messages_sent),
    lastError: r.last_error,
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    sentAt: r.sent_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface NewDelivery {
  id: string;
  channelId: string;
  ruleId: string | null;
  kind: DeliveryKind;
  thresholdDays: number | null;
  occurredAt: string;
  detail?: Record<string, unknown> | null;
  dedupeKey?: string | null;
  certificateIds: string[];
  /** First attempt (usually now). */
  nextAttemptAt: string;
  createdAt: string;
}

const INSERT_CHUNK = 2000;

function deliveryValues(d: NewDelivery) {
  return {
    id: d.id,
    channel_id: d.channelId,
    rule_id: d.ruleId,
    kind: d.kind,
    threshold_days: d.thresholdDays,
    occurred_at: d.occurredAt,
    detail: d.detail ? JSON.stringify(d.detail) : null,
    dedupe_key: d.dedupeKey ?? null,
    status: 'pending' as const,
    attempts: 0,
    next_attempt_at: d.nextAttemptAt,
    locked_until: null,
    claim_token: null,
    messages: null,
    messages_sent: 0,
    last_error: null,
    last_status: null,
    sent_at: null,
    created_at: d.createdAt,
    updated_at: d.createdAt,
  };
}

async function insertDeliveryCertificates(db: Db, list: NewDelivery[]): Promise<void> {
  const rows = list.flatMap((d) => d.certificateIds.map((certificate_id, position) => ({ delivery_id: d.id, certificate_id, position })));
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db.insertInto('notification_delivery_certificates').values(rows.slice(i, i + INSERT_CHUNK)).execute();
  }
}

export async function insertDeliveries(db: Db, list: NewDelivery[]): Promise<void> {
  if (!list.length) return;
  for (let i = 0; i < list.length; i += 500) {
    await db.insertInto('notification_deliveries').values(list.slice(i, i + 500).map(deliveryValues)).execute();
  }
  await insertDeliveryCertificates(db, list);
}

/** Inserts unless a delivery with the same dedupe key exists; true when inserted. */
export async function insertDeliveryOnce(db: Db, d: NewDelivery): Promise<boolean> {
  const inserted = await db
    .insertInto('notification_deliveries')
    .values(deliveryValues(d))
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return false;
  await insertDeliveryCertificates(db, [d]);
  return true;
}

export async function findDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  const r = await db.selectFrom('notification_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  return r && mapDelivery(r);
}

export interface DeliveryQuery {
  limit: number;
  cursor?: string;
  status?: DeliveryStatusName;
  channelId?: string;
  certificateId?: string;
}

/** Newest first; ids are time-ordered (UUID v7). */
export async function listDeliveries(db: Db, q: DeliveryQuery): Promise<Page<DeliveryRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('notification_deliveries as d').selectAll('d').orderBy('d.id', 'desc').limit(q.limit + 1);
  if (c) query = query.where('d.id', '<', c.id);
  if (q.status) query = query.where('d.status', '=', q.status);
  if (q.channelId) query = query.where('d.channel_id', '=', q.channelId);
  if (q.certificateId) {
    const certificateId = q.certificateId;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('notification_delivery_certificates as dc')
          .select('dc.delivery_id')
          .whereRef('dc.delivery_id', '=', 'd.id')
          .where('dc.certificate_id', '=', certificateId),
      ),
    );
  }
  return toPage(await query.execute(), q.limit, mapDelivery, (r) => [null, r.id]);
}

/** Certificate ids per delivery, in their digest order. */
export async function certificateIdsOf(db: Db, deliveryIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!deliveryIds.length) return out;
  const rows = await db
    .selectFrom('notification_delivery_certificates')
    .select(['delivery_id', 'certificate_id'])
    .where('delivery_id', 'in', deliveryIds)
    .orderBy('delivery_id')
    .orderBy('position')
    .execute();
  for (const r of rows) {
    const list = out.get(r.delivery_id) ?? [];
    list.push(r.certificate_id);
    out.set(r.delivery_id, list);
  }
  return out;
}

export interface ClaimOptions {
  now: string;
  /** Lease end written on the claimed rows. */
  leaseUntil: string;
  /** Fencing token: every later write on these rows must present it. */
  token: string;
  limit: number;
}

/**
 * Claims up to `limit` due deliveries (pending and due, or `sending` with an expired
 * lease) of channels that are not paused: status `sending`, one more attempt, lease and
 * token set. A paused channel's deliveries stay as they are (no attempt spent).
 */
export async function claimDueDeliveries(db: Db, o: ClaimOptions): Promise<DeliveryRow[]> {
  if (isPostgres(db)) {
    // Rows locked by another worker's claim are skipped, not waited for; the claim commits
    // at once (statement = transaction) and the lease keeps others off while we send.
    const r = await sql<NotificationDeliveriesTable>`
      with due as (
        select id from notification_deliveries
        where ((status = 'pending' and next_attempt_at <= ${o.now})
            or (status = 'sending' and locked_until <= ${o.now}))
          and not exists (select 1 from notification_channels c where c.id = notification_deliveries.channel_id and c.paused_until > ${o.now})
        order by next_attempt_at, id
        limit ${o.limit}
        for update skip locked
      )
      update notification_deliveries d
         set status = 'sending', attempts = d.attempts + 1, locked_until = ${o.leaseUntil},
             claim_token = ${o.token}, updated_at = ${o.now}
        from due
       where d.id = due.id
      returning d.*`.execute(db);
    return r.rows.map(mapDelivery);
  }
  // SQLite: one writer at a time, and this is a single statement.
  const rows = await db
    .updateTable('notification_deliveries')
    .set({ status: 'sending', attempts: sql`attempts + 1`, locked_until: o.leaseUntil, claim_token: o.token, updated_at: o.now })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('notification_deliveries')
        .select('id')
        .where((w) =>
          w.or([
            w.and([w('status', '=', 'pending'), w('next_attempt_at', '<=', o.now)]),
            w.and([w('status', '=', 'sending'), w('locked_until', '<=', o.now)]),
          ]),
        )
        .where((w) =>
          w.not(
            w.exists(
              w
                .selectFrom('notification_channels as c')
                .select('c.id')
                .whereRef('c.id', '=', 'notification_deliveries.channel_id')
                .where('c.paused_until', '>', o.now),
            ),
          ),
        )
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(o.limit),
    )
    .returningAll()
    .execute();
  return rows.map(mapDelivery);
}

/** Writes on a claimed row only count while the claim (token, status `sending`) still holds. */
const fenced =
  (id: string, token: string) =>
  (eb: ExpressionBuilder<Database, 'notification_deliveries'>): Expression<SqlBool> =>
    eb.and([eb('id', '=', id), eb('claim_token', '=', token), eb('status', '=', 'sending')]);

/** Stores the messages of the first attempt; false when the claim was lost. */
export async function saveMessages(db: Db, id: string, token: string, messages: unknown[], now: string): Promise<boolean> {
  const r = await db
    .updateTable('notification_deliveries')
    .set({ messages: JSON.stringify(messages), messages_sent: 0, updated_at: now })
    .where(fenced(id, token))
    .where('messages', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Records that the first `sent` messages were accepted. */
export async function recordProgress(db: Db, id: string, token: string, sent: number, now: string): Promise<boolean> {
  const r = await db
    .updateTable('notification_deliveries')
    .set({ messages_sent: sent, updated_at: now })
    .where(fenced(id, token))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Extends the lease of everything still held under `token`. */
export async function extendLease(db: Db, token: string, leaseUntil: string): Promise<void> {
  await db
    .updateTable('notification_deliveries')
    .set({ locked_until: leaseUntil })
    .where('claim_token', '=', token)
    .where('status', '=', 'sending')
    .execute();
}

export type DeliveryOutcome =
  | { status: 'sent'; at: string; lastStatus: number | null }
  | { status: 'pending'; at: string; nextAttemptAt: string; lastError: string | null; lastStatus: number | null; refundAttempt?: boolean }
  | { status: 'failed'; at: string; lastError: string; lastStatus: number | null };

/** Ends a claim. `refundAttempt` gives the attempt back (released without trying). */
export async function finishDelivery(db: Db, id: string, token: string, o: DeliveryOutcome): Promise<boolean> {
  const release = { locked_until: null, claim_token: null, updated_at: o.at };
  let set;
  switch (o.status) {
    case 'sent':
      set = { ...release, status: 'sent' as const, sent_at: o.at, next_attempt_at: null, last_error: null, last_status: o.lastStatus };
      break;
    case 'pending':
      set = {
        ...release,
        status: 'pending' as const,
        next_attempt_at: o.nextAttemptAt,
        last_error: o.lastError,
        last_status: o.lastStatus,
        ...(o.refundAttempt ? { attempts: sql<number>`attempts - 1` } : {}),
      };
      break;
    case 'failed':
      set = { ...release, status: 'failed' as const, next_attempt_at: null, last_error: o.lastError, last_status: o.lastStatus };
      break;
  }
  const r = await db.updateTable('notification_deliveries').set(set).where(fenced(id, token)).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** failed -> pending with a fresh attempt budget; undefined when it was not failed. */
export async function requeueFailed(db: Db, id: string, now: string): Promise<DeliveryRow | undefined> {
  const r = await db
    .updateTable('notification_deliveries')
    .set({ status: 'pending', attempts: 0, next_attempt_at: now, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'failed')
    .returningAll()
    .executeTakeFirst();
  return r && mapDelivery(r);
}

// ---------------------------------------------------------------------------------------
// Events (the transactional outbox)

export type EventTypeName = NotificationEventsTable['type'];

export interface EventRow {
  id: string;
  type: EventTypeName;
  certificateId: string;
  detail: Record<string, unknown> | null;
  createdAt: string;
}

/** Written by the use-case inside the transaction of the change it announces. */
export async function insertEvent(db: Db, e: EventRow): Promise<void> {
  await db
    .insertInto('notification_events')
    .values({ id: e.id, type: e.type, certificate_id: e.certificateId, detail: e.detail ? JSON.stringify(e.detail) : null, created_at: e.createdAt, processed_at: null })
    .execute();
}

/**
 * Marks up to `limit` pending events processed and returns them, oldest first. Call it in
 * the transaction that writes their deliveries: a rollback leaves them pending. On
 * PostgreSQL rows another dispatcher holds are skipped, not waited for; on SQLite the
 * statement's write lock serialises dispatchers (it is the first statement of the
 * transaction, so a busy database is waited for rather than failing).
 */
export async function takePendingEvents(trx: Db, o: { now: string; limit: number }): Promise<EventRow[]> {
  const lock = isPostgres(trx) ? sql`for update skip locked` : sql``;
  const r = await sql<NotificationEventsTable>`
    update notification_events set processed_at = ${o.now}
     where processed_at is null and id in (
       select id from notification_events where processed_at is null order by id limit ${o.limit} ${lock}
     )
    returning *`.execute(trx);
  return r.rows
    .map((e) => ({ id: e.id, type: e.type, certificateId: e.certificate_id, detail: e.detail ? JSON.parse(e.detail) : null, createdAt: e.created_at }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Events still waiting for their dispatcher. */
export async function countPendingEvents(db: Db): Promise<number> {
  const r = await db.selectFrom('notification_events').select((eb) => eb.fn.countAll<string>().as('n')).where('processed_at', 'is', null).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Processed events older than the retention are history nobody reads. */
export async function pruneEvents(db: Db, processedBefore: string): Promise<number> {
  const r = await db.deleteFrom('notification_events').where('processed_at', 'is not', null).where('processed_at', '<', processedBefore).executeTakeFirst();
  return Number(r.numDeletedRows ?? 0);
}

// ---------------------------------------------------------------------------------------
// Certificates as notifications show them

export interface CertificateFacts {
  id: string;
  commonName: string;
  /** JSON {dns, ip, email, uri}. */
  sans: string;
  serial: string;
  notAfter: string;
  owner: string | null;
  /** Null for external (imported) certificates. */
  authorityId: string | null;
  authorityName: string;
  profileId: string | null;
  profileName: string | null;
  predecessorId: string | null;
  revocationReason: string | null;
  labels: Record<string, string>;
}

/** The certificates (with authority, profile and labels), in the order of `ids`. */
export async function certificateFacts(db: Db, ids: string[]): Promise<CertificateFacts[]> {
  const byId = new Map<string, CertificateFacts>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await db
      .selectFrom('certificates as c')
      .leftJoin('authorities as a', 'a.id', 'c.authority_id')
      .leftJoin('profiles as p', 'p.id', 'c.profile_id')
      .select([
        'c.id', 'c.common_name', 'c.sans', 'c.serial', 'c.not_after', 'c.owner', 'c.authority_id', 'a.name as authority_name',
        'c.profile_id', 'p.name as profile_name', 'c.predecessor_id', 'c.revocation_reason', 'c.issuer_dn',
      ])
      .where('c.id', 'in', chunk)
      .execute();
    const labels = await db.selectFrom('certificate_labels').selectAll().where('certificate_id', 'in', chunk).execute();
    for (const r of rows) {
      byId.set(r.id, {
        id: r.id,
        commonName: r.common_name,
        sans: r.sans,
        serial: r.serial,
        notAfter: r.not_after,
        owner: r.owner,
        authorityId: r.authority_id,
        // External certificates have no authority here: name their issuer instead.
        authorityName: r.authority_name ?? r.issuer_dn ?? '(external)',
        profileId: r.profile_id,
        profileName: r.profile_name ?? null,
        predecessorId: r.predecessor_id,
        revocationReason: r.revocation_reason,
        labels: {},
      });
    }
    for (const l of labels) {
      const f = byId.get(l.certificate_id);
      if (f) f.labels[l.key] = l.value;
    }
  }
  return ids.map((id) => byId.get(id)).filter((f): f is CertificateFacts => f !== undefined);
}
