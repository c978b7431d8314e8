/**
 * Test inventory for notification tests: authority and certificate rows written straight
 * into the store (issuance is not needed to exercise sweeps and deliveries; the DER column
 * holds placeholder bytes).
 */
import { randomBytes } from 'node:crypto';
import { newId } from '../../lib/ids.js';
import { insertAuthority } from '../../store/authorities.repository.js';
import { insertCertificate } from '../../store/certificates.repository.js';
import type { Db } from '../../store/types.js';

const DAY_MS = 86_400_000;

export async function addAuthority(db: Db, name = `Test CA ${randomBytes(3).toString('hex')}`, at = new Date()): Promise<{ id: string; name: string }> {
  const id = newId();
  const now = at.toISOString();
  await insertAuthority(db, {
    id,
    name,
    description: null,
    kind: 'root',
    status: 'active',
    parent_id: null,
    subject: JSON.stringify({ commonName: name }),
    subject_dn: `CN=${name}`,
    key_algorithm: null,
    key_secret_id: null,
    certificate_der: null,
    chain_pem: null,
    csr_pem: null,
    serial: null,
    not_before: null,
    not_after: null,
    ski: null,
    fingerprint_sha256: null,
    path_length: null,
    name_constraints: null,
    created_at: now,
    updated_at: now,
    revoked_at: null,
    revocation_reason: null,
  });
  return { id, name };
}

export interface TestCertificate {
  authorityId: string;
  /** Days from `now` to notAfter (fractions allowed, negative = expired). */
  daysLeft: number;
  now: Date;
  commonName?: string;
  owner?: string | null;
  profileId?: string | null;
  labels?: Record<string, string>;
  revokedAt?: string | null;
  revocationReason?: string | null;
  archivedAt?: string | null;
  successorId?: string | null;
  predecessorId?: string | null;
}

export async function addCertificate(db: Db, c: TestCertificate): Promise<{ id: string; commonName: string; notAfter: string; serial: string }> {
  const id = newId();
  const serial = randomBytes(12).toString('hex');
  const commonName = c.commonName ?? `svc-${serial.slice(0, 8)}.example.test`;
  const notAfter = new Date(c.now.getTime() + c.daysLeft * DAY_MS).toISOString();
  const now = c.now.toISOString();
  await insertCertificate(
    db,
    {
      id,
      authority_id: c.authorityId,
      profile_id: c.profileId ?? null,
      serial,
      common_name: commonName,
      subject: JSON.stringify({ commonName }),
      sans: JSON.stringify({ dns: [commonName], ip: [], email: [], uri: [] }),
      search_text: commonName,
      not_before: new Date(c.now.getTime() - 30 * DAY_MS).toISOString(),
      not_after: notAfter,
      fingerprint_sha256: randomBytes(32).toString('hex'),
      key_algorithm: 'ecdsa-p256',
      usage: null,
      der: Buffer.from('not a real certificate'),
      server_key: false,
      owner: c.owner ?? null,
      notes: null,
      issued_by: null,
      predecessor_id: c.predecessorId ?? null,
      successor_id: c.successorId ?? null,
      revoked_at: c.revokedAt ?? null,
      revocation_reason: c.revocationReason ?? null,
      invalidity_date: null,
      hold_released_at: null,
      archived_at: c.archivedAt ?? null,
      created_at: now,
      updated_at: now,
    },
    c.labels ?? {},
  );
  return { id, commonName, notAfter, serial };
}
