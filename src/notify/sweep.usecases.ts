/**
 * The expiry sweep: for every enabled rule, the certificates that crossed one of its
 * thresholds since they were last announced, each for its NEAREST crossed threshold (or
 * "expired"), become marks (one per certificate, threshold and channel; unique in the
 * database) and one outbox delivery per (channel, threshold) batch of newly marked
 * certificates. Marks and deliveries commit together, so whatever the number of replicas,
 * restarts or overlapping sweeps, each announcement is enqueued exactly once.
 */
import type { Services } from '../context.js';
import { newId } from '../lib/ids.js';
import * as repo from '../store/notifications.repository.js';
import type { NewDelivery, NewMark, RuleRow, SweepRuleQuery } from '../store/notifications.repository.js';
import type { Schemas } from '../spec.js';
import { signalEnqueued } from './outbox.signal.js';
import { pruneProcessedEvents } from './events.usecases.js';

const DAY_MS = 86_400_000;

/**
 * Certificates that expired longer ago than this when a rule first sees them are not
 * announced: an imported inventory full of long-dead certificates would otherwise flood
 * every channel. It also bounds the range scan.
 */
export const EXPIRED_LOOKBACK_DAYS = 30;

/** A digest larger than this is split over several deliveries (and then messages). */
export const MAX_CERTIFICATES_PER_DELIVERY = 1000;

export function sweepQuery(rule: RuleRow, now: Date): SweepRuleQuery {
  const at = (days: number) => new Date(now.getTime() + days * DAY_MS).toISOString();
  return {
    ruleId: rule.id,
    now: now.toISOString(),
    thresholds: [...rule.thresholds].sort((a, b) => a - b).map((days) => ({ days, until: at(days) })),
    includeExpired: rule.includeExpired,
    expiredSince: at(-EXPIRED_LOOKBACK_DAYS),
    selector: rule.selector,
  };
}

/** One delivery per (channel, threshold), split every MAX_CERTIFICATES_PER_DELIVERY certificates. */
export function groupMarks(marks: NewMark[], ruleId: string, now: string): NewDelivery[] {
  const groups = new Map<string, { channelId: string; threshold: number; certificateIds: string[] }>();
  for (const m of marks) {
    const key = `${m.channelId}\u0000${m.threshold}`;
    const g = groups.get(key) ?? { channelId: m.channelId, threshold: m.threshold, certificateIds: [] };
    g.certificateIds.push(m.certificateId);
    groups.set(key, g);
  }
  const out: NewDelivery[] = [];
  for (const g of groups.values()) {
    const ids = [...g.certificateIds].sort();
    for (let i = 0; i < ids.length; i += MAX_CERTIFICATES_PER_DELIVERY) {
      const expired = g.threshold === repo.EXPIRED_THRESHOLD;
      out.push({
        id: newId(),
        channelId: g.channelId,
        ruleId,
        kind: expired ? 'expired' : 'expiring',
        thresholdDays: expired ? null : g.threshold,
        occurredAt: now,
        certificateIds: ids.slice(i, i + MAX_CERTIFICATES_PER_DELIVERY),
        nextAttemptAt: now,
        createdAt: now,
      });
    }
  }
  return out;
}

export async function runExpirySweep(svc: Services): Promise<Schemas['SweepResult']> {
  const now = svc.clock.now();
  const nowIso = now.toISOString();
  const rules = await repo.enabledRules(svc.db);
  const matched = new Set<string>();
  let enqueued = 0;
  for (const rule of rules) {
    if (!rule.channelIds.length || (!rule.thresholds.length && !rule.includeExpired)) continue;
    const q = sweepQuery(rule, now);
    // Step 1: marks and deliveries of one rule in one transaction (serialised across replicas on PostgreSQL).
    const deliveries = await svc.db.transaction().execute(async (trx) => {
      await repo.lockSweep(trx);
      const marks = await repo.markCrossedThresholds(trx, q);
      for (const m of marks) matched.add(m.certificateId);
      const list = groupMarks(marks, rule.id, nowIso);
      await repo.insertDeliveries(trx, list);
      return list;
    });
    enqueued += deliveries.length;
  }
  // Step 2: marks of certificates too old to be candidates again are dead weight, and so
  // are events processed long ago.
  await repo.pruneMarks(svc.db, new Date(now.getTime() - (EXPIRED_LOOKBACK_DAYS + 1) * DAY_MS).toISOString());
  await pruneProcessedEvents(svc);
  if (enqueued > 0) {
    svc.log.info({ enqueued, certificates: matched.size }, 'expiry sweep enqueued notifications');
    signalEnqueued(svc.db);
  }
  return { enqueued, certificatesMatched: matched.size };
}
