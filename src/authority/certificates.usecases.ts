/**
 * Issuance and the certificate inventory.
 */
import type { KeyObject } from 'node:crypto';
import type { Principal, Services } from '../context.js';
import { DomainError, badRequest, conflict, notFound, policyViolation } from '../errors.js';
import { newId } from '../lib/ids.js';
import { storedTime } from '../lib/clock.js';
import * as certs from '../store/certificates.repository.js';
import * as authorities from '../store/authorities.repository.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { checkRequest, commonNameSan, normaliseDns, sansWithCommonName, type KeyAlgorithm, type Sans } from './policy.js';
import { getProfileRow, policyOf } from './profiles.usecases.js';
import { keyring, lineageBlocker } from './authorities.usecases.js';
import { crlUrl, ocspUrl, caIssuersUrl } from './urls.js';
import * as pki from '../pki/x509.js';
import { eventsCommitted, recordEvent } from '../notify/events.usecases.js';

type Certificate = Schemas['Certificate'];
type CertificateIssued = Schemas['CertificateIssued'];
const DAY = 86_400_000;

function statusOf(r: certs.CertificateRow, now: string): Certificate['status'] {
  if (r.archived_at) return 'archived';
  if (r.revoked_at) return 'revoked';
  return r.not_after <= now ? 'expired' : 'active';
}

export function toCertificate(svc: Services, r: certs.CertificateRowWithLabels, chainPem: string): Certificate {
  const info = pki.parseCertificate(r.der);
  const pem = pki.pemEncode(r.der, 'CERTIFICATE');
  return {
    id: r.id,
    source: r.source,
    serialNumber: r.serial,
    subject: JSON.parse(r.subject),
    subjectDn: info.subjectDn,
    issuerDn: info.issuerDn,
    sans: JSON.parse(r.sans),
    notBefore: r.not_before,
    notAfter: r.not_after,
    fingerprintSha256: r.fingerprint_sha256,
    fingerprintSha1: info.fingerprintSha1,
    certificatePem: pem,
    chainPem: pem + chainPem,
    authorityId: r.authority_id,
    profileId: r.profile_id,
    status: statusOf(r, svc.clock.now().toISOString()),
    keyAlgorithm: r.key_algorithm,
    keySize: info.keySize,
    usage: r.usage,
    keyUsages: info.keyUsages,
    extendedKeyUsages: info.extendedKeyUsages,
    serverGeneratedKey: Boolean(r.server_key),
    labels: r.labels,
    owner: r.owner,
    notes: r.notes,
    issuedBy: r.issued_by,
    predecessorId: r.predecessor_id,
    successorId: r.successor_id,
    revokedAt: r.revoked_at,
    revocationReason: r.revocation_reason,
    archivedAt: r.archived_at,
    verification: r.verification ? JSON.parse(r.verification) : null,
    createdAt: r.created_at,
  };
}

/** The issuers' PEM: the authority's chain, or what an external certificate came with. */
async function chainOf(svc: Services, r: certs.CertificateRow): Promise<string> {
  if (!r.authority_id) return r.chain_pem ?? '';
  const a = await authorities.findAuthority(svc.db, r.authority_id);
  return a?.chain_pem ?? '';
}

const isNotFound = (e: unknown) => e instanceof DomainError && e.code === 'not_found';
/** Certa can only act as the issuer of what it issued. */
function refuseExternal(r: certs.CertificateRow, what: string): void {
  if (r.source === 'external') throw conflict(`certificate ${r.id} was imported (issued elsewhere): Certa cannot ${what} it; ask its issuer`);
}

export interface IssueOptions {
  predecessor?: certs.CertificateRow;
}

function emptySans(): Sans {
  return { dns: [], ip: [], email: [], uri: [] };
}

function dedupe(s: Sans): Sans {
  return {
    dns: [...new Set(s.dns.map(normaliseDns))],
    ip: [...new Set(s.ip)],
    email: [...new Set(s.email.map((e) => e.toLowerCase()))],
    uri: [...new Set(s.uri)],
  };
}

export async function issueCertificate(svc: Services, principal: Principal | null, input: Schemas['CertificateIssue'], opts: IssueOptions = {}): Promise<CertificateIssued> {
  // Step 1: profile and authority; the authority (and its ancestors) must be able to sign.
  const profileRow = await getProfileRow(svc, input.profile).catch((e) => {
    // Only a missing profile is the caller's error; a failed read (no database) stays what it is.
    if (!isNotFound(e)) throw e;
    throw badRequest(`no profile "${input.profile}"`, [{ field: '/body/profile', message: 'no such profile' }]);
  });
  const policy = policyOf(profileRow);
  // The authority and its ancestors in one read: every check below walks the same lineage.
  const lineage = await authorities.findLineage(svc.db, profileRow.authority_id);
  const authority = lineage[0];
  if (!authority) throw new DomainError('authority_unavailable', 'the profile points to an authority that no longer exists');
  const blocker = lineageBlocker(lineage, svc.clock.now());
  if (blocker) throw new DomainError('authority_unavailable', blocker);

  // Step 2: the key: a CSR (proof of possession checked) or generated here.
  if (input.csr && input.keyAlgorithm) throw badRequest('give either csr or keyAlgorithm, not both', [{ field: '/body/keyAlgorithm', message: 'conflicts with csr' }]);
  let publicKey: KeyObject;
  let privateKey: KeyObject | null = null;
  let keyAlgorithm: KeyAlgorithm | null;
  let keyDescription: string | undefined;
  let csrSubject: pki.Subject | null = null;
  let csrSans: Sans | null = null;
  if (input.csr) {
    const csr = pki.parseCsr(input.csr);
    publicKey = csr.publicKey;
    keyAlgorithm = csr.keyAlgorithm;
    keyDescription = csr.keyDescription;
    csrSubject = csr.subject;
    csrSans = csr.sans;
  } else {
    if (input.format === 'pkcs12' && !input.passphrase) throw badRequest('a passphrase is required for pkcs12', [{ field: '/body/passphrase', message: 'required with format pkcs12' }]);
    keyAlgorithm = (input.keyAlgorithm ?? 'ecdsa-p256') as KeyAlgorithm;
    if (policy.allowServerKeyGeneration && (!policy.keyAlgorithms.length || policy.keyAlgorithms.includes(keyAlgorithm))) {
      const kp = await pki.generateKeyPair(keyAlgorithm);
      publicKey = kp.publicKey;
      privateKey = kp.privateKey;
    } else {
      publicKey = null as unknown as KeyObject; // refused by the policy check below, before use
    }
  }
  if (input.format === 'pkcs12' && input.csr) throw badRequest('pkcs12 is only available for keys generated here', [{ field: '/body/format', message: 'not with a CSR' }]);

  // Step 3: names: the request's, else the CSR's; either way checked against the profile.
  const subject: pki.Subject = { ...(input.subject ?? csrSubject ?? { commonName: '' }) };
  if (!subject.commonName) throw badRequest('a subject commonName is required (in the body or the CSR)', [{ field: '/body/subject/commonName', message: 'required' }]);
  // A host-name CN outside the SANs joins them (when the profile allows a CN outside them).
  const sans = dedupe(sansWithCommonName(policy, subject.commonName, dedupe(input.sans ? { ...emptySans(), ...input.sans } : (csrSans ?? emptySans()))));
  const now = svc.clock.now();
  let validityDays = input.validityDays ?? policy.defaultValidityDays;
  let notAfter = new Date(now.getTime() + validityDays * DAY);
  if (input.notAfter) {
    const t = storedTime(input.notAfter);
    if (!t) throw badRequest('notAfter is not a time between years 0001 and 9999', [{ field: '/body/notAfter', message: 'out of range' }]);
    notAfter = new Date(t);
    if (!(notAfter.getTime() > now.getTime())) throw badRequest('notAfter must be in the future', [{ field: '/body/notAfter', message: 'in the past' }]);
    validityDays = Math.ceil((notAfter.getTime() - now.getTime()) / DAY);
  }
  const violations = checkRequest(
    { ...policy, subject: policy.subject },
    { subject: { ...subject, ...stripFixed(subject, policy.subject) }, subjectField: input.subject ? '/body/subject' : '/body/csr', sans, keyAlgorithm, keyDescription, serverKeyGeneration: !input.csr, validityDays },
  );
  if (violations.length) throw policyViolation(`the request does not fit profile "${profileRow.name}"`, violations);
  Object.assign(subject, policy.subject);
  // The CN is written exactly as the SAN it names (CA/Browser Forum 7.1.4.3).
  subject.commonName = commonNameSan(subject.commonName, sans) ?? subject.commonName;

  // Step 4: the issuer's name constraints (every ancestor's too) bind the leaf.
  const ncProblems = nameConstraintProblems(lineage, sans);
  if (ncProblems.length) throw new DomainError('name_constraint_violation', `the names are outside what authority "${authority.name}" may certify`, ncProblems);

  // Step 5: a certificate must not outlive its issuer.
  if (notAfter.toISOString() > authority.not_after!) notAfter = new Date(authority.not_after!);

  // Step 6: build and sign.
  const caKey = await keyring(svc).load(authority.key_secret_id!);
  const built = await pki.buildCertificate({
    subject,
    publicKey,
    sans,
    issuer: { certificateDer: authority.certificate_der!, privateKey: caKey },
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    usage: policy.usage,
    crlUrl: crlUrl(svc.config.publicUrl, authority.id),
    ocspUrl: ocspUrl(svc.config.publicUrl, authority.id),
    caIssuersUrl: caIssuersUrl(svc.config.publicUrl, authority.id),
  });
  const info = pki.parseCertificate(built.der);

  // Step 7: record it, its notification event (transactional outbox) and the link to the
  // predecessor in one transaction.
  const id = newId();
  const nowIso = now.toISOString();
  const row: certs.CertificateRow = {
    id,
    authority_id: authority.id,
    profile_id: profileRow.id,
    serial: info.serialHex,
    common_name: subject.commonName,
    subject: JSON.stringify(subject),
    sans: JSON.stringify(sans),
    search_text: [subject.commonName, ...sans.dns, ...sans.ip, ...sans.email, ...sans.uri].join(' ').toLowerCase(),
    not_before: info.notBefore,
    not_after: info.notAfter,
    fingerprint_sha256: info.fingerprintSha256,
    key_algorithm: info.keyAlgorithm ?? keyAlgorithm ?? 'unknown',
    usage: policy.usage,
    der: built.der,
    server_key: privateKey !== null,
    owner: input.owner ?? opts.predecessor?.owner ?? null,
    notes: input.notes ?? null,
    issued_by: principal?.email ?? null,
    predecessor_id: opts.predecessor?.id ?? null,
    successor_id: null,
    revoked_at: null,
    revocation_reason: null,
    invalidity_date: null,
    hold_released_at: null,
    archived_at: null,
    created_at: nowIso,
    updated_at: nowIso,
    source: 'issued',
    issuer_dn: null,
    chain_pem: null,
    verification: null,
  };
  const labels = input.labels ?? (opts.predecessor ? (await certs.findCertificate(svc.db, opts.predecessor.id))?.labels : undefined) ?? {};
  await svc.db.transaction().execute(async (trx) => {
    await certs.insertCertificate(trx, row, labels);
    await recordEvent(svc, trx, opts.predecessor ? { type: 'renewed', certificateId: id, previousId: opts.predecessor.id } : { type: 'issued', certificateId: id });
    // Conditional on the predecessor having no successor yet: of concurrent renewals, one wins (the rest roll back).
    if (opts.predecessor && !(await certs.setSuccessor(trx, opts.predecessor.id, id, nowIso))) throw conflict(`certificate ${opts.predecessor.id} was already renewed`);
  });
  eventsCommitted(svc);

  // Step 8: the answer; a server-side private key leaves exactly once, here.
  const out: CertificateIssued = toCertificate(svc, { ...row, labels }, authority.chain_pem ?? '');
  if (privateKey) {
    out.privateKeyPem = pki.exportPrivateKeyPem(privateKey);
    if (input.format === 'pkcs12') {
      const chainDers = pki.pemDecodeAll(authority.chain_pem ?? '', 'CERTIFICATE');
      out.pkcs12 = (await pki.buildPkcs12({ privateKey, certificateDer: built.der, chainDers, passphrase: input.passphrase!, friendlyName: subject.commonName })).toString('base64');
    }
  }
  return out;
}

/** Fields fixed by the profile are not the requester's to choose; drop them before checking. */
function stripFixed(subject: pki.Subject, fixed: Record<string, string | undefined>): Partial<pki.Subject> {
  const out: Record<string, undefined> = {};
  for (const k of Object.keys(fixed)) if ((subject as any)[k] === fixed[k]) out[k] = undefined;
  return out as Partial<pki.Subject>;
}

/** The names checked against the name constraints of the issuer and of every ancestor. */
function nameConstraintProblems(lineage: authorities.AuthorityRow[], sans: Sans) {
  const problems: Array<{ field: string; message: string }> = [];
  for (const a of lineage) {
    if (a.name_constraints) problems.push(...pki.checkNamesAgainstConstraints(sans, JSON.parse(a.name_constraints), a.name));
    else if (a.certificate_der) problems.push(...pki.checkNamesAgainstCertificate(sans, a.certificate_der, a.name));
  }
  return problems;
}

export async function getCertificateRow(svc: Services, id: string): Promise<certs.CertificateRowWithLabels> {
  const r = await certs.findCertificate(svc.db, id);
  if (!r) throw notFound('certificate');
  return r;
}

export async function getCertificate(svc: Services, id: string): Promise<Certificate> {
  const r = await getCertificateRow(svc, id);
  return toCertificate(svc, r, await chainOf(svc, r));
}

export type Download = { contentType: string; body: Buffer | string; filename: string };

export async function downloadCertificate(svc: Services, id: string, format: 'pem' | 'der' | 'chain'): Promise<Download> {
  const r = await getCertificateRow(svc, id);
  const base = r.common_name.replace(/[^A-Za-z0-9.-]+/g, '_') || r.id;
  if (format === 'der') return { contentType: 'application/pkix-cert', body: r.der, filename: `${base}.cer` };
  const pem = pki.pemEncode(r.der, 'CERTIFICATE');
  if (format === 'pem') return { contentType: 'application/x-pem-file', body: pem, filename: `${base}.pem` };
  return { contentType: 'application/x-pem-file', body: pem + (await chainOf(svc, r)), filename: `${base}-chain.pem` };
}

export function normaliseSerial(s: string): string {
  const hex = pki.canonicalSerialHex(s.replace(/[:\s]/g, ''));
  if (!/^[0-9a-f]+$/.test(hex)) throw badRequest(`"${s}" is not a hex serial number`, [{ field: '/query/serial', message: 'hex digits, optionally separated by colons' }]);
  return hex;
}

export async function listCertificates(svc: Services, q: Omit<certs.CertificateQuery, 'now' | 'labels' | 'serial'> & { label?: string[]; serial?: string }): Promise<Page<Schemas['CertificateSummary']>> {
  const labels = (q.label ?? []).map((l, i) => {
    const at = l.indexOf(':');
    if (at <= 0) throw badRequest(`label filter "${l}" must be key:value`, [{ field: `/query/label/${i}`, message: 'expected key:value' }]);
    return [l.slice(0, at), l.slice(at + 1)] as [string, string];
  });
  const now = svc.clock.now().toISOString();
  const time = (field: 'expiresBefore' | 'expiresAfter') => {
    const v = q[field];
    if (v === undefined) return undefined;
    const t = storedTime(v);
    if (!t) throw badRequest(`${field} is not a time between years 0001 and 9999`, [{ field: `/query/${field}`, message: 'out of range' }]);
    return t;
  };
  const page = await certs.listCertificates(svc.db, { ...q, labels, serial: q.serial ? normaliseSerial(q.serial) : undefined, now, expiresBefore: time('expiresBefore'), expiresAfter: time('expiresAfter') });
  return {
    items: page.items.map((r) => {
      const sans = JSON.parse(r.sans) as Sans;
      return {
        id: r.id,
        source: r.source,
        issuerDn: r.issuer_dn,
        verified: r.verification ? Boolean(JSON.parse(r.verification).valid) : null,
        serialNumber: r.serial,
        commonName: r.common_name,
        sans: [...sans.dns, ...sans.ip, ...sans.email, ...sans.uri],
        notBefore: r.not_before,
        notAfter: r.not_after,
        status: statusOf(r, now),
        authorityId: r.authority_id,
        profileId: r.profile_id,
        fingerprintSha256: r.fingerprint_sha256,
        keyAlgorithm: r.key_algorithm,
        labels: r.labels,
        owner: r.owner,
        createdAt: r.created_at,
      };
    }),
    nextCursor: page.nextCursor,
  };
}

export async function updateCertificate(svc: Services, id: string, patch: Schemas['CertificateUpdate']): Promise<Certificate> {
  await getCertificateRow(svc, id);
  await svc.db.transaction().execute((trx) => certs.updateCertificateMeta(trx, id, { ...patch, updatedAt: svc.clock.now().toISOString() }));
  return getCertificate(svc, id);
}

export async function archiveCertificate(svc: Services, id: string): Promise<Certificate> {
  await getCertificateRow(svc, id);
  await certs.setArchived(svc.db, id, svc.clock.now().toISOString());
  return getCertificate(svc, id);
}

export async function renewCertificate(svc: Services, principal: Principal, id: string, input: Schemas['CertificateRenew']): Promise<CertificateIssued> {
  const old = await getCertificateRow(svc, id);
  refuseExternal(old, 'renew');
  if (old.successor_id) throw conflict(`certificate ${id} was already renewed by ${old.successor_id}`);
  if (old.archived_at) throw conflict(`certificate ${id} is archived`);
  if (!old.profile_id) throw conflict('the certificate has no profile to renew under');
  await getProfileRow(svc, old.profile_id).catch((e) => {
    if (!isNotFound(e)) throw e;
    throw conflict(`the profile certificate ${id} was issued under no longer exists; issue a new certificate under another profile instead`);
  });
  if (!old.server_key && !input.csr) throw badRequest('this certificate was issued from a CSR: send a new csr to renew it', [{ field: '/body/csr', message: 'required' }]);
  const sans = JSON.parse(old.sans) as Sans;
  const subject = JSON.parse(old.subject);
  const info = pki.parseCertificate(old.der);
  const issued = await issueCertificate(
    svc,
    principal,
    {
      profile: old.profile_id,
      subject,
      sans,
      csr: input.csr,
      keyAlgorithm: input.csr ? undefined : ((input.keyAlgorithm ?? info.keyAlgorithm ?? 'ecdsa-p256') as KeyAlgorithm),
      validityDays: input.validityDays,
      format: input.format,
      passphrase: input.passphrase,
    },
    { predecessor: old },
  );
  if (input.revokePredecessor) {
    // Import here, not at the top: revocation builds on this module.
    const { revokeCertificate } = await import('../revocation/revocation.usecases.js');
    await revokeCertificate(svc, old.id, { reason: 'superseded' });
  }
  return issued;
}
