/**
 * Event notifications: a certificate issued, revoked or renewed reaches the channels of
 * every enabled rule that lists the event and whose selector matches the certificate, once
 * per channel (a dedupe key makes a repeated event a no-op).
 */
import type { DomainEvent, Services } from '../context.js';
import { newId } from '../lib/ids.js';
import * as repo from '../store/notifications.repository.js';
import type { RuleEventName } from '../store/notifications.repository.js';
import { matchesSelector } from './rules.usecases.js';
import { signalEnqueued } from './outbox.signal.js';

const KINDS: Partial<Record<DomainEvent['type'], RuleEventName>> = {
  'certificate.issued': 'issued',
  'certificate.revoked': 'revoked',
  'certificate.renewed': 'renewed',
};

/** Enqueues the deliveries for one domain event; returns how many were written. */
export async function enqueueEventNotifications(svc: Services, e: DomainEvent): Promise<number> {
  const kind = KINDS[e.type];
  if (!kind || !('certificateId' in e)) return 0;
  const rules = (await repo.enabledRules(svc.db)).filter((r) => r.events.includes(kind));
  if (!rules.length) return 0;
  const [cert] = await repo.certificateFacts(svc.db, [e.certificateId]);
  if (!cert) return 0;

  // Step 1: the channels of the matching rules, each once (the first rule naming it wins).
  const ruleOf = new Map<string, string>();
  for (const r of rules.filter((r) => matchesSelector(r.selector, cert))) {
    for (const c of r.channelIds) if (!ruleOf.has(c)) ruleOf.set(c, r.id);
  }
  if (!ruleOf.size) return 0;
  const enabled = new Set((await repo.findChannelsByRefs(svc.db, [...ruleOf.keys()])).filter((c) => c.enabled).map((c) => c.id));

  // Step 2: one delivery per channel, keyed so the same event never enqueues twice.
  const now = svc.clock.now().toISOString();
  const detail =
    e.type === 'certificate.revoked' ? { reason: cert.revocationReason ?? 'unspecified' } : e.type === 'certificate.renewed' ? { previousId: e.previousId } : null;
  let written = 0;
  for (const [channelId, ruleId] of ruleOf) {
    if (!enabled.has(channelId)) continue;
    const inserted = await svc.db.transaction().execute((trx) =>
      repo.insertDeliveryOnce(trx, {
        id: newId(),
        channelId,
        ruleId,
        kind,
        thresholdDays: null,
        occurredAt: now,
        detail,
        dedupeKey: `${kind}:${e.certificateId}:${channelId}`,
        certificateIds: [e.certificateId],
        nextAttemptAt: now,
        createdAt: now,
      }),
    );
    if (inserted) written++;
  }
  if (written) signalEnqueued(svc.db);
  return written;
}
