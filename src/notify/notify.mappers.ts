/** Repository rows -> API shapes for channels, rules and deliveries. */
import type { Schemas } from '../spec.js';
import type { ChannelRow, DeliveryRow, RuleRow } from '../store/notifications.repository.js';

/** `now`: a pause that has ended is not shown. */
export function toChannel(c: ChannelRow, now: string): Schemas['Channel'] {
  return {
    id: c.id,
    name: c.name,
    type: c.type,
    config: c.configRedacted,
    enabled: c.enabled,
    pausedUntil: c.pausedUntil && c.pausedUntil > now ? c.pausedUntil : null,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

export function toRule(r: RuleRow): Schemas['Rule'] {
  return {
    id: r.id,
    name: r.name,
    channelIds: r.channelIds,
    thresholdsDays: r.thresholds,
    includeExpired: r.includeExpired,
    events: r.events,
    selector: r.selector,
    enabled: r.enabled,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function toDelivery(d: DeliveryRow, certificateIds: string[]): Schemas['Delivery'] {
  return {
    id: d.id,
    channelId: d.channelId,
    ruleId: d.ruleId,
    kind: d.kind,
    thresholdDays: d.thresholdDays,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
    lastError: d.lastError,
    lastStatus: d.lastStatus,
    certificateIds,
    sentAt: d.sentAt,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}
