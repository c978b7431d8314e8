import type { Db } from './types.js';
import type { AuditEventsTable } from './schema.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

export type AuditEventRow = AuditEventsTable;

export async function insertAuditEvent(db: Db, e: AuditEventRow): Promise<void> {
  await db.insertInto('audit_events').values(e).execute();
}

/** Several events in one statement (one commit); callers keep batches small. */
export async function insertAuditEvents(db: Db, events: AuditEventRow[]): Promise<void> {
  if (events.length) await db.insertInto('audit_events').values(events).execute();
}

export interface AuditQuery {
  limit: number;
  cursor?: string;
  actor?: string;
  action?: string;
  target?: string;
  outcome?: 'success' | 'failure' | 'denied';
  since?: string;
  until?: string;
}

/** Newest first; ids are time-ordered (UUID v7), so the id alone is a stable key. */
export async function listAuditEvents(db: Db, q: AuditQuery): Promise<Page<AuditEventRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
  if (c) query = query.where('id', '<', c.id);
  if (q.actor) {
    const actor = q.actor;
    query = query.where((eb) => eb.or([eb('actor_user_id', '=', actor), eb('actor_email', '=', actor.toLowerCase())]));
  }
  if (q.action) query = query.where('action', '=', q.action);
  if (q.target) query = query.where('target', '=', q.target);
  if (q.outcome) query = query.where('outcome', '=', q.outcome);
  if (q.since) query = query.where('at', '>=', q.since);
  if (q.until) query = query.where('at', '<', q.until);
  const rows = await query.execute();
  return toPage(rows, q.limit, (r) => r, (r) => [null, r.id]);
}

/** Failed logins for an account or an address since a time (login rate limiting). */
export async function countFailedLogins(db: Db, by: { target?: string; ip?: string }, since: string): Promise<number> {
  let query = db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).where('action', '=', 'login').where('outcome', '=', 'failure').where('at', '>=', since);
  if (by.target !== undefined) query = query.where('target', '=', by.target);
  if (by.ip !== undefined) query = query.where('ip', '=', by.ip);
  const r = await query.executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The oldest failure in the window, to compute Retry-After. */
export async function oldestFailedLogin(db: Db, by: { target?: string; ip?: string }, since: string): Promise<string | undefined> {
  let query = db.selectFrom('audit_events').select('at').where('action', '=', 'login').where('outcome', '=', 'failure').where('at', '>=', since).orderBy('at').limit(1);
  if (by.target !== undefined) query = query.where('target', '=', by.target);
  if (by.ip !== undefined) query = query.where('ip', '=', by.ip);
  return (await query.executeTakeFirst())?.at;
}
