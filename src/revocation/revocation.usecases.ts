/**
 * Revocation use-cases: revoke a certificate (by id or by issuer + serial), lift a
 * certificateHold, revoke an intermediate authority, describe the current CRL.
 *
 * A revocation, the CRL dirty flag and the notification event are written in one
 * transaction, so neither the CRL job nor the notifications can miss one; OCSP reads the
 * certificate rows directly and answers `revoked` at once.
 */
import type { Services } from '../context.js';
import { DomainError, badRequest, conflict, notFound } from '../errors.js';
import { storedTime } from '../lib/clock.js';
import * as certs from '../store/certificates.repository.js';
import * as authorities from '../store/authorities.repository.js';
import * as repo from '../store/revocation.repository.js';
import type { Schemas } from '../spec.js';
import { normaliseSerial } from '../authority/certificates.usecases.js';
import { getAuthority, getAuthorityRow } from '../authority/authorities.usecases.js';
import { crlUrlsOf, currentCrl } from './crl.service.js';
import { eventsCommitted, recordEvent } from '../notify/events.usecases.js';

type RevocationResult = Schemas['RevocationResult'];
type RevokeInput = Schemas['RevokeRequest'];

function resultOf(r: certs.CertificateRow, alreadyRevoked: boolean): RevocationResult {
  return {
    certificateId: r.id,
    status: r.revoked_at ? 'revoked' : 'active',
    alreadyRevoked,
    revokedAt: r.revoked_at,
    reason: r.revocation_reason,
    invalidityDate: r.invalidity_date,
  };
}

function checkInvalidityDate(svc: Services, at: string | undefined): string | null {
  if (!at) return null;
  // Year 0000 and leap seconds pass the date-time format; a CRL cannot carry the one, JS
  // cannot parse the other (a 500 before, and a year-0000 row then broke every CRL build).
  const stored = storedTime(at);
  if (!stored) throw badRequest('the invalidity date is not a time between years 0001 and 9999', [{ field: '/body/invalidityDate', message: 'out of range' }]);
  const d = new Date(stored);
  if (d.getTime() > svc.clock.now().getTime() + 60_000) {
    throw badRequest('the invalidity date cannot be in the future', [{ field: '/body/invalidityDate', message: 'must not be in the future' }]);
  }
  return d.toISOString();
}

/**
 * Revoke one certificate. Idempotent: revoking a revoked certificate changes nothing and
 * says so, except that a `certificateHold` may be made final with another reason.
 * Expired certificates can be revoked (code signing relies on it).
 */
export async function revokeCertificate(svc: Services, id: string, input: RevokeInput = {}): Promise<RevocationResult> {
  const reason = input.reason ?? 'unspecified';
  const invalidityDate = checkInvalidityDate(svc, input.invalidityDate);
  const out = await svc.db.transaction().execute(async (trx) => {
    const r = await certs.findCertificate(trx, id);
    if (!r) throw notFound('certificate');
    // An imported certificate is on no CRL or OCSP responder of Certa's: only its issuer can revoke it.
    if (!r.authority_id) throw conflict(`certificate ${id} was imported (issued elsewhere): Certa cannot revoke it; ask its issuer`);
    const now = svc.clock.now().toISOString();
    if (r.revoked_at) {
      const finalisingHold = r.revocation_reason === 'certificateHold' && reason !== 'certificateHold';
      if (!finalisingHold) return { result: resultOf(r, true), changed: false, authorityId: r.authority_id };
    }
    const fields = {
      revoked_at: r.revoked_at ?? now,
      revocation_reason: reason,
      invalidity_date: invalidityDate ?? r.invalidity_date,
      hold_released_at: null,
      updated_at: now,
    };
    await repo.setCertificateRevocation(trx, r.id, fields);
    await repo.markCrlDirty(trx, r.authority_id, now);
    // The notification goes in the same transaction (transactional outbox).
    await recordEvent(svc, trx, { type: 'revoked', certificateId: r.id, reason });
    return { result: resultOf({ ...r, ...fields }, false), changed: true, authorityId: r.authority_id };
  });
  if (out.changed) {
    // In-process caches only (OCSP responses, the CRL job's wake-up).
    svc.events.emit({ type: 'certificate.revoked', certificateId: id, authorityId: out.authorityId });
    eventsCommitted(svc);
  }
  return out.result;
}

export async function revokeCertificateBySerial(svc: Services, input: Schemas['RevokeBySerialRequest']): Promise<RevocationResult> {
  const a = await getAuthorityRow(svc, input.authorityId);
  const serial = normaliseSerial(input.serialNumber);
  if (!/^[0-9a-f]{1,40}$/.test(serial)) throw badRequest('serialNumber must be a hex serial of at most 20 bytes', [{ field: '/body/serialNumber', message: 'not a hex serial' }]);
  const r = await certs.findBySerial(svc.db, a.id, serial);
  if (!r) throw notFound('certificate');
  return revokeCertificate(svc, r.id, { reason: input.reason, invalidityDate: input.invalidityDate });
}

/** Lift a certificateHold (removeFromCRL). Any other reason is final. */
export async function removeFromCrl(svc: Services, id: string): Promise<RevocationResult> {
  const out = await svc.db.transaction().execute(async (trx) => {
    const r = await certs.findCertificate(trx, id);
    if (!r) throw notFound('certificate');
    // An imported certificate is on no CRL or OCSP responder of Certa's: only its issuer can revoke it.
    if (!r.authority_id) throw conflict(`certificate ${id} was imported (issued elsewhere): Certa cannot revoke it; ask its issuer`);
    if (!r.revoked_at) return { result: resultOf(r, false), changed: false, authorityId: r.authority_id };
    if (r.revocation_reason !== 'certificateHold') {
      throw conflict(`the certificate is revoked with reason ${r.revocation_reason ?? 'unspecified'}, which is final: only certificateHold can be lifted`);
    }
    const now = svc.clock.now().toISOString();
    const fields = { revoked_at: null, revocation_reason: null, invalidity_date: null, hold_released_at: now, updated_at: now };
    await repo.setCertificateRevocation(trx, r.id, fields);
    await repo.markCrlDirty(trx, r.authority_id, now);
    return { result: resultOf({ ...r, ...fields }, false), changed: true, authorityId: r.authority_id };
  });
  if (out.changed) svc.events.emit({ type: 'certificate.hold-lifted', certificateId: id, authorityId: out.authorityId });
  return out.result;
}

/**
 * Revoke an intermediate held here: it goes on its parent's CRL and OCSP answers
 * `revoked` for it; it and every CA below it stop issuing (issuance checks the chain).
 */
export async function revokeAuthority(svc: Services, idOrName: string, input: Schemas['AuthorityRevokeRequest'] = {}) {
  const a = await getAuthorityRow(svc, idOrName);
  if (!a.parent_id) {
    throw conflict(`authority "${a.name}" has no issuer here: a root or imported CA cannot be put on a CRL; disable it instead`);
  }
  if (a.revoked_at) return { authority: await getAuthority(svc, a.id), alreadyRevoked: true };
  const now = svc.clock.now().toISOString();
  await svc.db.transaction().execute(async (trx) => {
    await authorities.updateAuthority(trx, a.id, { status: 'revoked', revoked_at: now, revocation_reason: input.reason ?? 'unspecified', updated_at: now });
    await repo.markCrlDirty(trx, a.parent_id!, now);
  });
  svc.events.emit({ type: 'authority.revoked', authorityId: a.id, parentId: a.parent_id });
  return { authority: await getAuthority(svc, a.id), alreadyRevoked: false };
}

export async function getCrlInfo(svc: Services, idOrName: string): Promise<Schemas['CrlInfo']> {
  const a = await getAuthorityRow(svc, idOrName);
  const row = await currentCrl(svc, a.id, 'full');
  const delta = await repo.latestCrlInfo(svc.db, a.id, true);
  const urls = crlUrlsOf(svc, a.id);
  return {
    authorityId: a.id,
    crlNumber: String(row.crl_number),
    thisUpdate: row.this_update,
    nextUpdate: row.next_update,
    entries: row.entries,
    url: urls.full,
    deltaUrl: urls.delta,
    deltaCrlNumber: delta ? String(delta.crl_number) : null,
    pendingRevocations: !!(await repo.crlState(svc.db, a.id))?.dirty_since,
  };
}

/** What the public CRL endpoint serves: bytes plus caching metadata. */
export async function publicCrl(svc: Services, file: string): Promise<{ der: Buffer; crlNumber: string; thisUpdate: string; nextUpdate: string; pem: boolean }> {
  const m = /^([0-9a-f-]{36})(-delta)?\.(crl|pem)$/.exec(file);
  if (!m) throw new DomainError('not_found', 'no such CRL');
  const row = await currentCrl(svc, m[1], m[2] ? 'delta' : 'full');
  return { der: row.der, crlNumber: String(row.crl_number), thisUpdate: row.this_update, nextUpdate: row.next_update, pem: m[3] === 'pem' };
}

/** The public CA certificate (AIA caIssuers). */
export async function publicCaCertificate(svc: Services, file: string): Promise<{ der: Buffer; pem: boolean; updatedAt: string }> {
  const m = /^([0-9a-f-]{36})\.(crt|pem)$/.exec(file);
  if (!m) throw notFound('CA certificate');
  const a = await authorities.findAuthority(svc.db, m[1]);
  if (!a || a.id !== m[1] || !a.certificate_der) throw notFound('CA certificate');
  return { der: a.certificate_der, pem: m[2] === 'pem', updatedAt: a.updated_at };
}
