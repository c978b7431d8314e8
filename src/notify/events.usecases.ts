/**
 * Event notifications through a transactional outbox.
 *
 * - `recordEvent`: the use-case that issues, renews or revokes a certificate writes an event
 *   row in the SAME transaction as the change: a committed change is always announced, a
 *   rolled-back one never is, and a crash between the two cannot happen. It is one cheap
 *   INSERT; no rule is evaluated in the hot transaction.
 * - `dispatchEvents`: pending events become deliveries (to the channels of every enabled
 *   rule that lists the event, existed when it happened and whose selector matches the
 *   certificate, once per channel)
 *   and are marked processed in the transaction that writes those deliveries. Concurrent
 *   dispatchers (replicas) skip each other's events, and the dedupe key
 *   `<kind>:<certificate>:<channel>` makes a delivery unique anyway.
 * The delivery worker dispatches at the start of every round; the in-process signal after
 * the commit only makes that happen at once.
 */
import type { Services } from '../context.js';
import { newId } from '../lib/ids.js';
import type { Db } from '../store/types.js';
import * as repo from '../store/notifications.repository.js';
import type { NewDelivery } from '../store/notifications.repository.js';
import { matchesSelector } from './rules.usecases.js';
import { signalEnqueued } from './outbox.signal.js';

const DAY_MS = 86_400_000;

/** Processed events are kept this long (to look into), then pruned by the expiry sweep. */
export const EVENT_RETENTION_DAYS = 7;

/**
 * Events turned into deliveries per transaction: small, because on SQLite the transaction
 * holds the one connection (about 0.3-0.5 ms per event here) while requests wait.
 */
export const DISPATCH_BATCH = 50;

export type CertificateEvent =
  | { type: 'issued'; certificateId: string }
  | { type: 'renewed'; certificateId: string; previousId: string }
  | { type: 'revoked'; certificateId: string; reason: string };

/** Writes the event in `trx`, the transaction of the change it announces. */
export async function recordEvent(svc: Services, trx: Db, e: CertificateEvent): Promise<void> {
  const detail = e.type === 'revoked' ? { reason: e.reason } : e.type === 'renewed' ? { previousId: e.previousId } : null;
  await repo.insertEvent(trx, { id: newId(), type: e.type, certificateId: e.certificateId, detail, createdAt: svc.clock.now().toISOString() });
}

/** After the commit: wake this process's delivery worker (others poll). */
export function eventsCommitted(svc: Services): void {
  signalEnqueued(svc.db);
}

export interface DispatchResult {
  /** Events taken (and marked processed). */
  events: number;
  /** Deliveries written for them. */
  enqueued: number;
}

/** One batch of pending events -> deliveries, in one transaction. */
export async function dispatchEvents(svc: Services, limit = DISPATCH_BATCH): Promise<DispatchResult> {
  const now = svc.clock.now().toISOString();
  const out = await svc.db.transaction().execute(async (trx) => {
    // Step 1: take the events (first statement: on SQLite it takes the write lock at once).
    const events = await repo.takePendingEvents(trx, { now, limit });
    if (!events.length) return { events: 0, enqueued: 0 };
    const rules = (await repo.enabledRules(trx)).filter((r) => r.events.length && r.channelIds.length);
    if (!rules.length) return { events: events.length, enqueued: 0 };
    const facts = new Map((await repo.certificateFacts(trx, [...new Set(events.map((e) => e.certificateId))])).map((f) => [f.id, f]));
    const enabled = new Set((await repo.findChannelsByRefs(trx, [...new Set(rules.flatMap((r) => r.channelIds))])).filter((c) => c.enabled).map((c) => c.id));

    // Step 2: per event, the channels of the matching rules, each once (the first rule naming it wins).
    let enqueued = 0;
    for (const e of events) {
      const cert = facts.get(e.certificateId);
      if (!cert) continue;
      const ruleOf = new Map<string, string>();
      for (const r of rules) {
        // A rule announces what happens once it exists, as if evaluated at the change: an
        // event that waited (no worker running) is not matched against later rules.
        if (r.createdAt > e.createdAt || !r.events.includes(e.type) || !matchesSelector(r.selector, cert)) continue;
        for (const c of r.channelIds) if (!ruleOf.has(c)) ruleOf.set(c, r.id);
      }
      for (const [channelId, ruleId] of ruleOf) {
        if (!enabled.has(channelId)) continue;
        const d: NewDelivery = {
          id: newId(),
          channelId,
          ruleId,
          kind: e.type,
          thresholdDays: null,
          occurredAt: e.createdAt,
          detail: e.detail,
          dedupeKey: `${e.type}:${e.certificateId}:${channelId}`,
          certificateIds: [e.certificateId],
          nextAttemptAt: now,
          createdAt: now,
        };
        if (await repo.insertDeliveryOnce(trx, d)) enqueued++;
      }
    }
    return { events: events.length, enqueued };
  });
  if (out.enqueued) signalEnqueued(svc.db);
  return out;
}

/** Dispatches until no event is pending or `maxBatches` were taken (`more`: some may be left). */
export async function dispatchAllEvents(svc: Services, maxBatches = 20): Promise<DispatchResult & { more: boolean }> {
  const total = { events: 0, enqueued: 0, more: false };
  for (let i = 0; i < maxBatches; i++) {
    const r = await dispatchEvents(svc);
    total.events += r.events;
    total.enqueued += r.enqueued;
    if (r.events < DISPATCH_BATCH) return total;
  }
  total.more = true;
  return total;
}

/** Forgets events processed more than EVENT_RETENTION_DAYS ago. */
export async function pruneProcessedEvents(svc: Services): Promise<number> {
  return repo.pruneEvents(svc.db, new Date(svc.clock.now().getTime() - EVENT_RETENTION_DAYS * DAY_MS).toISOString());
}
