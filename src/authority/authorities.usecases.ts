/**
 * Certificate authorities: create (root / intermediate / import / external), activate an
 * external one with the certificate its offline root signed, enable/disable, chains.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { Services } from '../context.js';
import { DomainError, badRequest, conflict, notFound } from '../errors.js';
import { newId } from '../lib/ids.js';
import { isUniqueViolation } from '../store/db.js';
import * as repo from '../store/authorities.repository.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { subjectProblems, type KeyAlgorithm } from './policy.js';
import { crlUrl, ocspUrl, caIssuersUrl } from './urls.js';
import * as pki from '../pki/x509.js';
import type { Keyring } from './keyring.js';

type Authority = Schemas['Authority'];
type AuthorityRow = repo.AuthorityRow;
export type NameConstraints = Schemas['NameConstraints'];

const DAY = 86_400_000;

export function keyring(svc: Services): Keyring {
  return svc.keyring;
}

export function toAuthority(svc: Services, r: AuthorityRow): Authority {
  const now = svc.clock.now().toISOString();
  const canIssue = r.status === 'active' && r.key_secret_id !== null && r.certificate_der !== null && !!r.not_after && r.not_after > now && !r.revoked_at;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    kind: r.kind,
    status: r.status,
    subject: JSON.parse(r.subject),
    subjectDn: r.subject_dn,
    keyAlgorithm: r.key_algorithm,
    serialNumber: r.serial,
    notBefore: r.not_before,
    notAfter: r.not_after,
    certificatePem: r.certificate_der ? pki.pemEncode(r.certificate_der, 'CERTIFICATE') : null,
    chainPem: r.chain_pem,
    csrPem: r.csr_pem,
    parentId: r.parent_id,
    pathLength: r.path_length,
    nameConstraints: r.name_constraints ? JSON.parse(r.name_constraints) : null,
    canIssue,
    fingerprintSha256: r.fingerprint_sha256,
    crlUrl: crlUrl(svc.config.publicUrl, r.id),
    ocspUrl: ocspUrl(svc.config.publicUrl, r.id),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Authorities created before leading-period DNS constraints were refused (".example.com"
 * on a dNSName is malformed under RFC 5280 4.2.1.10, so strict verifiers, Certa's own
 * included, refuse every chain under them). One message per affected authority, for the
 * startup log: such a CA has to be replaced by one constrained to "example.com".
 */
export async function legacyDnsConstraintWarnings(svc: Services): Promise<string[]> {
  const out: string[] = [];
  for (const r of await repo.allAuthorities(svc.db)) {
    if (!r.name_constraints) continue;
    const nc = JSON.parse(r.name_constraints) as NameConstraints;
    const dotted = [...(nc.permittedDns ?? []), ...(nc.excludedDns ?? [])].filter((d) => d.startsWith('.'));
    if (dotted.length) {
      out.push(`authority "${r.name}" (${r.id}) carries DNS name constraints with a leading period (${dotted.join(', ')}): RFC 5280 verifiers, Certa's included, refuse every chain under it; replace it with an authority constrained to ${dotted.map((d) => `"${d.slice(1)}"`).join(', ')}`);
    }
  }
  return out;
}

export async function getAuthorityRow(svc: Services, idOrName: string): Promise<AuthorityRow> {
  const r = await repo.findAuthority(svc.db, idOrName);
  if (!r) throw notFound('authority');
  return r;
}

export async function listAuthorities(svc: Services, q: { limit: number; cursor?: string; status?: string; kind?: string }): Promise<Page<Authority>> {
  const page = await repo.listAuthorities(svc.db, q);
  return { items: page.items.map((r) => toAuthority(svc, r)), nextCursor: page.nextCursor };
}

export async function getAuthority(svc: Services, idOrName: string): Promise<Authority> {
  return toAuthority(svc, await getAuthorityRow(svc, idOrName));
}

/**
 * Why an authority cannot sign right now (null when it can): every ancestor must be
 * active, unrevoked and valid too, so revoking an intermediate stops its whole subtree.
 */
export async function issuanceBlocker(svc: Services, r: AuthorityRow): Promise<string | null> {
  return lineageBlocker([r, ...(await repo.findLineage(svc.db, r.id)).slice(1)], svc.clock.now());
}

/**
 * Why an authority cannot sign right now, given its lineage (the authority first, then its
 * ancestors): no key, pending, disabled, revoked, outside its validity, or an ancestor revoked.
 */
export function lineageBlocker(lineage: AuthorityRow[], at: Date): string | null {
  const r = lineage[0];
  const now = at.toISOString();
  if (!r.key_secret_id) return `authority "${r.name}" is a trust anchor without a private key`;
  if (r.status === 'pending') return `authority "${r.name}" is waiting for its certificate (activateAuthority)`;
  if (r.status === 'disabled') return `authority "${r.name}" is disabled`;
  if (r.status === 'revoked' || r.revoked_at) return `authority "${r.name}" is revoked`;
  if (!r.not_after || r.not_after <= now) return `authority "${r.name}" has expired`;
  if (r.not_before && r.not_before > now) return `authority "${r.name}" is not yet valid`;
  for (const p of lineage.slice(1)) {
    if (p.status === 'revoked' || p.revoked_at) return `an issuer of "${r.name}" ("${p.name}") is revoked`;
  }
  return null;
}

function subjectFrom(input: Schemas['SubjectName'] | undefined, field = '/body/subject'): pki.Subject {
  if (!input) throw badRequest('subject is required', [{ field, message: 'required for this kind' }]);
  const problems = subjectProblems(input, field);
  if (problems.length) throw new DomainError('validation_failed', 'the subject is not writable in a certificate', problems);
  return { ...input };
}

function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  // Back-date a little so relying parties with a slow clock accept the certificate at once.
  return { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + days * DAY) };
}

interface Material {
  der: Buffer;
  chainPem: string;
  info: pki.CertificateInfo;
}

function describeCert(der: Buffer, chainPem: string): Material {
  return { der, chainPem, info: pki.parseCertificate(der) };
}

/** Certificates in imported or activated CA material: the CA and its issuers (the lineage limit). */
const MAX_CHAIN = repo.MAX_LINEAGE;

/**
 * Everything wrong with CA material handed to us (import, activation), listed at once:
 * the first certificate must be a CA that may sign certificates, and every certificate
 * of the chain must have been issued and signed by the next one, itself a CA.
 */
function caMaterialProblems(ders: Buffer[], certField: string, chainField: string): Array<{ field: string; message: string }> {
  const problems: Array<{ field: string; message: string }> = [];
  // Checked before any parsing: 300 copies of one root (200 kB of PEM) took ~150 ms of
  // signature checks on the event loop, and the "chain" was then served with every certificate.
  if (ders.length > MAX_CHAIN) return [{ field: chainField, message: `${ders.length} certificates; a CA and its issuers are at most ${MAX_CHAIN}` }];
  const seen = new Map<string, number>();
  ders.forEach((d, i) => {
    const fp = d.toString('base64');
    const first = seen.get(fp);
    if (first !== undefined) problems.push({ field: i === 0 ? certField : chainField, message: `certificate #${i + 1} repeats certificate #${first + 1}` });
    else seen.set(fp, i);
  });
  if (problems.length) return problems;
  const infos = ders.map((d, i) => {
    try {
      return pki.parseCertificate(d);
    } catch {
      problems.push({ field: i === 0 ? certField : chainField, message: `certificate #${i + 1} is not a parseable X.509 certificate` });
      return null;
    }
  });
  const leaf = infos[0];
  if (leaf && !leaf.isCa) problems.push({ field: certField, message: 'not a CA certificate (basicConstraints cA is not true)' });
  if (leaf && leaf.keyUsages.length && !leaf.keyUsages.includes('keyCertSign')) {
    problems.push({ field: certField, message: 'its key usage does not include keyCertSign: it cannot sign certificates' });
  }
  for (let i = 0; i + 1 < ders.length; i++) {
    const child = infos[i];
    const issuer = infos[i + 1];
    if (!child || !issuer) continue;
    const where = `certificate #${i + 1} ("${child.subjectDn}")`;
    if (!issuer.isCa) problems.push({ field: chainField, message: `certificate #${i + 2} ("${issuer.subjectDn}") is not a CA, so it cannot be the issuer of ${where}` });
    if (new X509Certificate(ders[i]).verify(new X509Certificate(ders[i + 1]).publicKey)) continue;
    problems.push({
      field: chainField,
      message:
        child.issuerDn !== issuer.subjectDn
          ? `${where} was issued by "${child.issuerDn}", but the next certificate is "${issuer.subjectDn}": the chain is out of order or incomplete`
          : `the signature of ${where} does not verify with the key of certificate #${i + 2}`,
    });
  }
  return problems;
}

export async function createAuthority(svc: Services, input: Schemas['AuthorityCreate']): Promise<Authority> {
  const now = svc.clock.now();
  const id = newId();
  const alg = (input.keyAlgorithm ?? 'ecdsa-p256') as KeyAlgorithm;
  let material: Material | null = null;
  let key: KeyObject | null = null;
  let status: AuthorityRow['status'] = 'active';
  let csrPem: string | null = null;
  let subject: pki.Subject;
  let parent: AuthorityRow | null = null;
  let keyAlgorithm: string | null = alg;

  switch (input.kind) {
    case 'root': {
      // Step 1: a self-signed CA with a fresh key.
      subject = subjectFrom(input.subject);
      if (input.nameConstraints) pki.validateNameConstraints(input.nameConstraints);
      const kp = await pki.generateKeyPair(alg);
      key = kp.privateKey;
      const { notBefore, notAfter } = validity(now, input.validityDays ?? 3650);
      const cert = await pki.buildCertificate({
        subject,
        publicKey: kp.publicKey,
        issuer: { self: true, privateKey: kp.privateKey },
        notBefore,
        notAfter,
        ca: { pathLength: input.pathLength ?? null, nameConstraints: input.nameConstraints ?? null },
      });
      material = describeCert(cert.der, pki.pemEncode(cert.der, 'CERTIFICATE'));
      break;
    }
    case 'intermediate': {
      // Step 1: the parent must be here, able to sign, and allow a sub-CA with these constraints.
      subject = subjectFrom(input.subject);
      if (!input.parentId) throw badRequest('parentId is required for an intermediate', [{ field: '/body/parentId', message: 'required' }]);
      parent = (await repo.findAuthority(svc.db, input.parentId)) ?? null;
      if (!parent) throw badRequest(`no authority "${input.parentId}"`, [{ field: '/body/parentId', message: 'no such authority' }]);
      const blocker = await issuanceBlocker(svc, parent);
      if (blocker) throw new DomainError('authority_unavailable', blocker);
      // Every way the request does not fit inside the parent is reported at once.
      const parentInfo = pki.parseCertificate(parent.certificate_der!);
      const pathProblems: Array<{ field: string; message: string }> = [];
      if (parentInfo.pathLength !== null && parentInfo.pathLength < 1) {
        pathProblems.push({ field: '/body/parentId', message: `the parent's path length (${parentInfo.pathLength}) allows no further intermediate` });
      }
      const pathLength = input.pathLength ?? (parentInfo.pathLength !== null ? Math.max(parentInfo.pathLength - 1, 0) : null);
      if (parentInfo.pathLength !== null && parentInfo.pathLength >= 1 && pathLength !== null && pathLength > parentInfo.pathLength - 1) {
        pathProblems.push({ field: '/body/pathLength', message: `pathLength ${pathLength} does not fit under the parent's ${parentInfo.pathLength} (at most ${parentInfo.pathLength - 1})` });
      }
      const parentNc: NameConstraints | null = parent.name_constraints ? JSON.parse(parent.name_constraints) : null;
      const nc = input.nameConstraints ?? parentNc;
      let ncProblems: Array<{ field: string; message: string }> = [];
      if (input.nameConstraints) {
        pki.validateNameConstraints(input.nameConstraints);
        ncProblems = pki.constraintsWithin(input.nameConstraints, parentNc);
      }
      if (pathProblems.length || ncProblems.length) {
        const what = [pathProblems.length ? 'path length' : '', ncProblems.length ? 'name constraints' : ''].filter(Boolean).join(' and ');
        throw new DomainError(ncProblems.length ? 'name_constraint_violation' : 'bad_request', `the intermediate does not fit inside the parent "${parent.name}" (${what})`, [...pathProblems, ...ncProblems]);
      }
      const kp = await pki.generateKeyPair(alg);
      key = kp.privateKey;
      const days = input.validityDays ?? 1825;
      const v = validity(now, days);
      const notBefore = v.notBefore;
      const notAfter = v.notAfter.toISOString() > parent.not_after! ? new Date(parent.not_after!) : v.notAfter;
      const parentKey = await keyring(svc).load(parent.key_secret_id!);
      const cert = await pki.buildCertificate({
        subject,
        publicKey: kp.publicKey,
        issuer: { certificateDer: parent.certificate_der!, privateKey: parentKey },
        notBefore,
        notAfter,
        ca: { pathLength, nameConstraints: nc ?? null },
        crlUrl: crlUrl(svc.config.publicUrl, parent.id),
        ocspUrl: ocspUrl(svc.config.publicUrl, parent.id),
        caIssuersUrl: caIssuersUrl(svc.config.publicUrl, parent.id),
      });
      material = describeCert(cert.der, pki.pemEncode(cert.der, 'CERTIFICATE') + parent.chain_pem);
      if (nc && !input.nameConstraints) input = { ...input, nameConstraints: nc };
      break;
    }
    case 'import': {
      // Step 1: the certificate (and its chain), which must be a CA.
      if (!input.certificatePem) throw badRequest('certificatePem is required to import', [{ field: '/body/certificatePem', message: 'required' }]);
      const ders = pki.pemDecodeAll(input.certificatePem, 'CERTIFICATE');
      if (!ders.length) throw badRequest('certificatePem holds no certificate', [{ field: '/body/certificatePem', message: 'no PEM CERTIFICATE block' }]);
      const info = pki.parseCertificate(ders[0]);
      const problems = caMaterialProblems(ders, '/body/certificatePem', '/body/certificatePem');
      if (problems.length) throw badRequest(`the certificate cannot be imported as an authority: ${problems.map((p) => p.message).join('; ')}`, problems);
      subject = info.subject as unknown as pki.Subject;
      keyAlgorithm = info.keyAlgorithm;
      // Step 2: the key, when given, must match the certificate.
      if (input.privateKeyPem) {
        key = await pki.parsePrivateKey(input.privateKeyPem, input.passphrase);
        if (!pki.keyMatchesCertificate(key, ders[0])) throw new DomainError('bad_key', 'the private key does not match the certificate', [{ field: '/body/privateKeyPem', message: 'does not match certificatePem' }]);
      }
      material = describeCert(ders[0], ders.map((d) => pki.pemEncode(d, 'CERTIFICATE')).join(''));
      break;
    }
    case 'external': {
      // Step 1: a key here and a CSR for the offline root; pending until activated.
      subject = subjectFrom(input.subject);
      const kp = await pki.generateKeyPair(alg);
      key = kp.privateKey;
      csrPem = await pki.createCsr(subject, kp.privateKey, kp.publicKey);
      status = 'pending';
      break;
    }
  }

  // Step 3: store the key sealed, then the authority row, in one transaction.
  const nowIso = now.toISOString();
  try {
    await svc.db.transaction().execute(async (trx) => {
      const keySecretId = key ? await keyring(svc).store(`authority-key:${id}`, key, trx) : null;
      await repo.insertAuthority(trx, {
        id,
        // NFC: "café" typed composed or decomposed is one name, not two that look alike.
        name: input.name.normalize('NFC'),
        description: null,
        kind: input.kind,
        status,
        parent_id: parent?.id ?? null,
        subject: JSON.stringify(subject),
        subject_dn: material ? material.info.subjectDn : pki.subjectToString(subject),
        key_algorithm: keyAlgorithm,
        key_secret_id: keySecretId,
        certificate_der: material?.der ?? null,
        chain_pem: material?.chainPem ?? null,
        csr_pem: csrPem,
        serial: material?.info.serialHex ?? null,
        not_before: material?.info.notBefore ?? null,
        not_after: material?.info.notAfter ?? null,
        ski: material?.info.skiHex ?? null,
        fingerprint_sha256: material?.info.fingerprintSha256 ?? null,
        path_length: material ? material.info.pathLength : (input.pathLength ?? null),
        name_constraints: input.nameConstraints ? JSON.stringify(input.nameConstraints) : null,
        created_at: nowIso,
        updated_at: nowIso,
        revoked_at: null,
        revocation_reason: null,
      });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`an authority named "${input.name}" already exists`);
    throw e;
  }
  svc.events.emit({ type: 'authority.changed', authorityId: id });
  return getAuthority(svc, id);
}

export async function activateAuthority(svc: Services, idOrName: string, input: Schemas['AuthorityActivate']): Promise<Authority> {
  const r = await getAuthorityRow(svc, idOrName);
  if (r.kind !== 'external' || r.status !== 'pending') throw conflict(`authority "${r.name}" is not waiting for a certificate`);
  const ders = pki.pemDecodeAll(input.certificatePem + (input.chainPem ?? ''), 'CERTIFICATE');
  if (!ders.length) throw badRequest('certificatePem holds no certificate', [{ field: '/body/certificatePem', message: 'no PEM CERTIFICATE block' }]);
  const info = pki.parseCertificate(ders[0]);
  const key = await keyring(svc).load(r.key_secret_id!);
  const problems: Array<{ field: string; message: string }> = [];
  if (!pki.keyMatchesCertificate(key, ders[0])) problems.push({ field: '/body/certificatePem', message: "the certificate's public key is not this authority's key" });
  if (info.subjectDn !== r.subject_dn) problems.push({ field: '/body/certificatePem', message: `subject "${info.subjectDn}" differs from the CSR's "${r.subject_dn}"` });
  const now = svc.clock.now();
  if (Date.parse(info.notAfter) <= now.getTime()) problems.push({ field: '/body/certificatePem', message: `the certificate expired at ${info.notAfter}` });
  problems.push(...caMaterialProblems(ders, '/body/certificatePem', '/body/chainPem'));
  if (problems.length) throw badRequest(`the certificate cannot activate this authority: ${problems.map((p) => p.message).join('; ')}`, problems);
  await repo.updateAuthority(svc.db, r.id, {
    status: 'active',
    certificate_der: ders[0],
    chain_pem: ders.map((d) => pki.pemEncode(d, 'CERTIFICATE')).join(''),
    serial: info.serialHex,
    not_before: info.notBefore,
    not_after: info.notAfter,
    ski: info.skiHex,
    fingerprint_sha256: info.fingerprintSha256,
    path_length: info.pathLength,
    updated_at: now.toISOString(),
  });
  svc.events.emit({ type: 'authority.changed', authorityId: r.id });
  return getAuthority(svc, r.id);
}

export async function updateAuthority(svc: Services, idOrName: string, patch: Schemas['AuthorityUpdate']): Promise<Authority> {
  const r = await getAuthorityRow(svc, idOrName);
  const set: Partial<AuthorityRow> = { updated_at: svc.clock.now().toISOString() };
  if (patch.name !== undefined) set.name = patch.name.normalize('NFC');
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.disabled !== undefined) {
    if (r.status === 'revoked') throw conflict(`authority "${r.name}" is revoked; it cannot be enabled or disabled`);
    if (r.status === 'pending') throw conflict(`authority "${r.name}" is pending activation`);
    set.status = patch.disabled ? 'disabled' : 'active';
  }
  try {
    await repo.updateAuthority(svc.db, r.id, set);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`an authority named "${patch.name}" already exists`);
    throw e;
  }
  svc.events.emit({ type: 'authority.changed', authorityId: r.id });
  return getAuthority(svc, r.id);
}

export async function getAuthorityCsr(svc: Services, idOrName: string): Promise<string> {
  const r = await getAuthorityRow(svc, idOrName);
  if (!r.csr_pem) throw conflict(`authority "${r.name}" has no CSR (only kind "external" does)`);
  return r.csr_pem;
}

export async function getAuthorityChain(svc: Services, idOrName: string): Promise<string> {
  const r = await getAuthorityRow(svc, idOrName);
  if (!r.chain_pem) throw conflict(`authority "${r.name}" has no certificate yet`);
  return r.chain_pem;
}
