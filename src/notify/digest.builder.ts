/**
 * Turns an outbox delivery into the neutral `Digest` the channel formatters take: the
 * delivery's certificates as they are now, its event kind, and its `occurredAt` (days
 * left are computed against that instant, so a retried message says the same thing).
 */
import type { Services } from '../context.js';
import type { Db } from '../store/types.js';
import { certificateFacts, certificateIdsOf, type CertificateFacts, type DeliveryRow } from '../store/notifications.repository.js';
import type { CertificateRef, Digest, NotificationEvent, RenewedCertificateRef } from './notification.model.js';

export function sansDisplay(json: string): string[] {
  try {
    const s = JSON.parse(json) as { dns?: string[]; ip?: string[]; email?: string[]; uri?: string[] };
    return [
      ...(s.dns ?? []).map((v) => `DNS:${v}`),
      ...(s.ip ?? []).map((v) => `IP:${v}`),
      ...(s.email ?? []).map((v) => `email:${v}`),
      ...(s.uri ?? []).map((v) => `URI:${v}`),
    ];
  } catch {
    return [];
  }
}

export function toCertificateRef(svc: Services, f: CertificateFacts): CertificateRef {
  return {
    id: f.id,
    commonName: f.commonName,
    sans: sansDisplay(f.sans),
    serialNumber: f.serial,
    notAfter: f.notAfter,
    authorityName: f.authorityName,
    ...(f.profileName ? { profileName: f.profileName } : {}),
    ...(f.owner ? { owner: f.owner } : {}),
    labels: f.labels,
    url: `${svc.config.publicUrl}/api/v1/certificates/${encodeURIComponent(f.id)}`,
  };
}

export async function buildDigest(svc: Services, db: Db, d: DeliveryRow): Promise<Digest> {
  const ids = (await certificateIdsOf(db, [d.id])).get(d.id) ?? [];
  const facts = await certificateFacts(db, ids);
  const certificates = facts.map((f) => toCertificateRef(svc, f));
  const occurredAt = d.occurredAt;
  const detail = d.detail ?? {};
  let event: NotificationEvent;
  switch (d.kind) {
    case 'expiring':
      event = { type: 'expiring', occurredAt, thresholdDays: d.thresholdDays ?? 0, certificates };
      break;
    case 'expired':
      event = { type: 'expired', occurredAt, certificates };
      break;
    case 'issued':
      event = { type: 'issued', occurredAt, certificates };
      break;
    case 'revoked': {
      const reason = typeof detail.reason === 'string' ? detail.reason : (facts[0]?.revocationReason ?? 'unspecified');
      event = { type: 'revoked', occurredAt, reason, certificates };
      break;
    }
    case 'renewed': {
      const previousIds = facts.map((f) => (typeof detail.previousId === 'string' ? detail.previousId : f.predecessorId)).filter((x): x is string => !!x);
      const previous = new Map((await certificateFacts(db, previousIds)).map((p) => [p.id, p]));
      const renewed: RenewedCertificateRef[] = certificates.map((c, i) => {
        const pid = typeof detail.previousId === 'string' ? detail.previousId : facts[i].predecessorId;
        const p = pid ? previous.get(pid) : undefined;
        return { ...c, previous: { id: pid ?? 'unknown', serialNumber: p?.serial ?? 'unknown', notAfter: p?.notAfter ?? 'unknown' } };
      });
      event = { type: 'renewed', occurredAt, certificates: renewed };
      break;
    }
    case 'test':
      event = { type: 'test', occurredAt, ...(typeof detail.message === 'string' ? { message: detail.message } : {}), certificates };
      break;
  }
  return { events: [event] };
}
