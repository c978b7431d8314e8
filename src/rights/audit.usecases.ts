import type { Services } from '../context.js';
import * as audit from '../store/audit.repository.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { toAuditEvent } from './mappers.js';
import { newId } from '../lib/ids.js';
import { isDatabaseUnavailable } from '../store/db.js';
import { storedTime } from '../lib/clock.js';
import { badRequest } from '../errors.js';

export async function listAuditEvents(svc: Services, q: audit.AuditQuery): Promise<Page<Schemas['AuditEvent']>> {
  const time = (field: 'since' | 'until') => {
    const v = q[field];
    if (v === undefined) return undefined;
    const t = storedTime(v);
    if (!t) throw badRequest(`${field} is not a time between years 0001 and 9999`, [{ field: `/query/${field}`, message: 'out of range' }]);
    return t;
  };
  const page = await audit.listAuditEvents(svc.db, { ...q, since: time('since'), until: time('until') });
  return { items: page.items.map(toAuditEvent), nextCursor: page.nextCursor };
}

export interface AuditRecord {
  actor: { userId: string | null; email: string | null; tokenId: string | null } | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure' | 'denied';
  status: number;
  requestId: string;
  ip: string | null;
  detail?: string | null;
}

/**
 * Group commit for the audit trail. Every audited request waits until its event is stored
 * (nothing is acknowledged before its audit record is durable), but the events recorded
 * while a write is running, or in the same event-loop turn, go to the store together in
 * one multi-row INSERT: under load one commit carries many events instead of each paying
 * for its own (on SQLite a commit costs 10x a row; on PostgreSQL a round trip).
 * If a batch fails, its events are retried one by one so one bad row fails alone. If it
 * failed because the database is unreachable or the connection broke, the batch is tried
 * again once as a whole (on another connection: the pool discards a broken one), then its
 * writers get the error: one by one, every event would wait for its own connect timeout.
 */
export class AuditWriter {
  static readonly MAX_BATCH = 200;
  #queue: Array<{ row: audit.AuditEventRow; resolve: () => void; reject: (e: unknown) => void }> = [];
  #writing = false;

  constructor(private readonly svc: Services) {}

  write(row: audit.AuditEventRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
      if (!this.#writing && this.#queue.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, AuditWriter.MAX_BATCH);
        const rows = batch.map((b) => b.row);
        try {
          await audit.insertAuditEvents(this.svc.db, rows).catch((err) => {
            if (!isDatabaseUnavailable(err)) throw err;
            return audit.insertAuditEvents(this.svc.db, rows);
          });
          for (const b of batch) b.resolve();
        } catch (err) {
          if (isDatabaseUnavailable(err)) for (const b of batch) b.reject(err);
          else for (const b of batch) await audit.insertAuditEvent(this.svc.db, b.row).then(b.resolve, b.reject);
        }
      }
    } finally {
      this.#writing = false;
    }
  }
}

const writers = new WeakMap<Services, AuditWriter>();

export async function recordAuditEvent(svc: Services, r: AuditRecord): Promise<void> {
  let writer = writers.get(svc);
  if (!writer) writers.set(svc, (writer = new AuditWriter(svc)));
  await writer.write({
    id: newId(),
    at: svc.clock.now().toISOString(),
    actor_user_id: r.actor?.userId ?? null,
    actor_email: r.actor?.email ?? null,
    actor_token_id: r.actor?.tokenId ?? null,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    status: r.status,
    request_id: r.requestId,
    ip: r.ip,
    detail: r.detail ?? null,
  });
}
