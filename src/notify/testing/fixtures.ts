/** Test data for notification tests: fixed instants, deterministic certificates. */
import type { CertificateRef, Digest, ExpiringEvent } from '../notification.model.js';

export const OCCURRED_AT = '2025-06-01T00:00:00.000Z';
export const NOW = new Date('2025-06-01T00:05:00.000Z');
const DAY = 86_400_000;

export function isoIn(days: number, from = OCCURRED_AT): string {
  return new Date(Date.parse(from) + days * DAY).toISOString();
}

export function cert(i: number, overrides: Partial<CertificateRef> = {}): CertificateRef {
  return {
    id: `cert-${String(i).padStart(4, '0')}`,
    commonName: `svc-${String(i).padStart(4, '0')}.internal.example.com`,
    sans: [`DNS:svc-${i}.internal.example.com`, `DNS:svc-${i}.example.com`],
    serialNumber: (0x1000 + i).toString(16).padStart(16, '0'),
    notAfter: isoIn(1 + (i % 30)),
    authorityName: 'Solution Libre Issuing CA 1',
    profileName: 'tls-server',
    owner: 'platform-team',
    labels: { env: 'prod', app: `app-${i % 7}` },
    url: `https://certa.example.com/api/v1/certificates/cert-${i}`,
    ...overrides,
  };
}

export function expiringEvent(count: number, thresholdDays = 30): ExpiringEvent {
  return {
    type: 'expiring',
    occurredAt: OCCURRED_AT,
    thresholdDays,
    certificates: Array.from({ length: count }, (_, i) => cert(i)),
  };
}

/** A digest touching every event type. */
export function mixedDigest(): Digest {
  return {
    events: [
      expiringEvent(3),
      { type: 'expired', occurredAt: OCCURRED_AT, certificates: [cert(100, { notAfter: isoIn(-2) })] },
      { type: 'revoked', occurredAt: OCCURRED_AT, reason: 'keyCompromise', certificates: [cert(101)] },
      { type: 'issued', occurredAt: OCCURRED_AT, certificates: [cert(102, { notAfter: isoIn(90) })] },
      {
        type: 'renewed',
        occurredAt: OCCURRED_AT,
        certificates: [{ ...cert(103, { notAfter: isoIn(90) }), previous: { id: 'cert-old', serialNumber: 'aa01', notAfter: isoIn(3) } }],
      },
      { type: 'test', occurredAt: OCCURRED_AT, certificates: [] },
    ],
  };
}

/** 500 certificates expiring within 30 days: the large digest the split tests use. */
export function bigDigest(count = 500): Digest {
  return { events: [expiringEvent(count)] };
}
