/**
 * Importing certificates issued elsewhere into the inventory (`importCertificates`). An
 * imported row has `source: external` and no authority: listings, labels, archiving and
 * expiry notifications cover it; revocation, renewal, CRLs and OCSP never do (they are
 * keyed by authority). Private keys are refused outright and never stored or logged.
 */
import { createPrivateKey } from 'node:crypto';
import type { Principal, Services } from '../context.js';
import { DomainError, badRequest } from '../errors.js';
import { newId } from '../lib/ids.js';
import * as certs from '../store/certificates.repository.js';
import { isUniqueViolation } from '../store/db.js';
import type { Schemas } from '../spec.js';
import * as pki from '../pki/x509.js';
import { scanPemBlocks, type PemBlock } from '../pki/pem-scan.js';
import { verifyImported } from '../verification/verification.usecases.js';
import { REQUEST_LIMITS, parseCertificates } from '../verification/verify.job.js';

type ImportOutcome = Schemas['CertificateImportOutcome'];
type ImportResult = Schemas['CertificateImportResult'];
type ImportVerification = Schemas['ImportVerification'];

/** Certificates per request: each is parsed, verified and written on its own. */
export const IMPORT_LIMIT = 500;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const keyRefused = (field: string) =>
  new DomainError('bad_request', 'private keys are never accepted: Certa imports certificates only and keeps no key of a certificate it did not issue; remove the private key and send the certificate alone', [
    { field, message: 'contains a private key' },
  ]);

/** PKCS#8 (plain or encrypted), PKCS#1 RSA or SEC1 EC private key DER. */
function isPrivateKeyDer(der: Buffer): boolean {
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch (e) {
      // An encrypted PKCS#8 key parses far enough to ask for its passphrase.
      if ((e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') return true;
    }
  }
  return false;
}

/**
 * The PEM blocks of a field. Any block labelled as a private key (PRIVATE KEY,
 * ENCRYPTED/RSA/EC/OPENSSH PRIVATE KEY…), or a key's DER under another label, refuses the
 * whole request.
 */
function blocksOf(text: string, field: string, max: number, what: string): PemBlock[] {
  const { blocks, more } = scanPemBlocks(text, max);
  for (const b of blocks) if (b.label.includes('PRIVATE') || (b.der && isPrivateKeyDer(b.der))) throw keyRefused(field);
  if (more) throw badRequest(`at most ${max} ${what} per import`, [{ field, message: `more than ${max} PEM blocks` }]);
  return blocks;
}

/** Issuers or anchors: every block must be a certificate (400 naming the field otherwise). */
function certificatesOf(text: string | undefined, field: string, max: number, what: string): Uint8Array[] {
  if (text === undefined) return [];
  const blocks = blocksOf(text, field, max, what);
  if (!blocks.length) throw badRequest(`${field.slice(6)} holds no PEM block (expected -----BEGIN CERTIFICATE-----)`, [{ field, message: 'no PEM block' }]);
  for (const [i, b] of blocks.entries()) {
    const problem = b.error ?? (b.label !== 'CERTIFICATE' ? `a ${b.label} PEM block is not a certificate` : undefined);
    if (problem) throw badRequest(`${what} #${i + 1}: ${problem}`, [{ field, message: problem }]);
  }
  // The engine's own parser checks each (400 naming the field when it cannot use one).
  return parseCertificates(blocks.map((b) => new Uint8Array(b.der!)), field, what, max);
}

interface Entry {
  index: number;
  der?: Buffer;
  error?: string;
}

/** The certificates of the request, in order; a block that is not one is an `invalid` entry. */
function entriesOf(input: Schemas['CertificateImport']): { entries: Entry[]; field: string } {
  if ((input.pem === undefined) === (input.der === undefined)) throw badRequest('give either pem or der', [{ field: '/body', message: 'exactly one of pem, der' }]);
  if (input.der !== undefined) {
    const b64 = input.der.replace(/\s+/g, '');
    if (!b64 || !BASE64.test(b64) || b64.length % 4 !== 0) throw badRequest('der must be base64', [{ field: '/body/der', message: 'not base64' }]);
    const der = Buffer.from(b64, 'base64');
    if (isPrivateKeyDer(der)) throw keyRefused('/body/der');
    return { entries: [{ index: 0, der }], field: '/body/der' };
  }
  const entries: Entry[] = blocksOf(input.pem!, '/body/pem', IMPORT_LIMIT, 'certificates').map((b, index) => {
    if (b.error) return { index, error: b.error };
    if (b.label !== 'CERTIFICATE') return { index, error: `a ${b.label} PEM block is not a certificate` };
    return { index, der: b.der };
  });
  if (!entries.length) {
    throw new DomainError('bad_certificate', 'pem holds no PEM block (expected -----BEGIN CERTIFICATE-----)', [{ field: '/body/pem', message: 'no PEM block' }]);
  }
  return { entries, field: '/body/pem' };
}

function describeError(e: unknown, fallback: string): string {
  return e instanceof DomainError ? e.message : fallback;
}

export async function importCertificates(svc: Services, _principal: Principal, input: Schemas['CertificateImport']): Promise<{ result: ImportResult; single: boolean }> {
  // Step 1: the certificates, issuers and anchors; a private key in any of them refuses
  // the request (400) before anything is verified or stored.
  const { entries, field } = entriesOf(input);
  const single = entries.length === 1;
  const chain = certificatesOf(input.chain, '/body/chain', REQUEST_LIMITS.certificates - 1, 'chain certificates');
  const anchors = input.trustAnchors === undefined ? undefined : certificatesOf(input.trustAnchors, '/body/trustAnchors', REQUEST_LIMITS.trustAnchors, 'trustAnchors');
  const chainPem = chain.map((d) => pki.pemEncode(Buffer.from(d), 'CERTIFICATE')).join('') || null;

  // Step 2: parse every entry; CA certificates of a bundle also serve as issuers of the others.
  const parsed = entries.map((e) => {
    if (!e.der) return { ...e, info: undefined };
    try {
      return { ...e, info: pki.parseCertificate(e.der) };
    } catch (err) {
      return { ...e, info: undefined, error: describeError(err, 'not a parseable X.509 certificate') };
    }
  });
  const bundleCas = parsed.filter((p) => p.info?.isCa).map((p) => new Uint8Array(p.der!));

  // Step 3: verify and store each on its own; one entry's failure never stops the others.
  const results: ImportOutcome[] = [];
  for (const p of parsed) {
    if (!p.info || !p.der) {
      if (single) throw new DomainError('bad_certificate', `not imported: ${p.error}`, [{ field, message: p.error ?? 'invalid' }]);
      results.push({ index: p.index, status: 'invalid', error: p.error });
      continue;
    }
    const info = p.info;
    const existing = await certs.findByFingerprint(svc.db, info.fingerprintSha256);
    if (existing) {
      results.push(duplicate(p.index, info, existing.id, single));
      continue;
    }
    const verification = await verificationOf(svc, p.der, [...chain, ...bundleCas.filter((d) => !Buffer.from(d).equals(p.der!))], input, anchors);
    const id = newId();
    try {
      await store(svc, id, p.der, info, chainPem, verification, input);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      // Another request imported the same certificate between the check and the insert.
      const winner = await certs.findByFingerprint(svc.db, info.fingerprintSha256);
      if (!winner) throw e;
      results.push(duplicate(p.index, info, winner.id, single));
      continue;
    }
    results.push({ index: p.index, status: 'imported', certificateId: id, fingerprintSha256: info.fingerprintSha256, commonName: info.subject.commonName ?? '', verification });
  }
  return {
    single,
    result: {
      imported: results.filter((r) => r.status === 'imported').length,
      duplicates: results.filter((r) => r.status === 'duplicate').length,
      invalid: results.filter((r) => r.status === 'invalid').length,
      results,
    },
  };
}

function duplicate(index: number, info: pki.CertificateInfo, existingId: string, single: boolean): ImportOutcome {
  const error = `this certificate (SHA-256 ${info.fingerprintSha256}) is already in the inventory as ${existingId}`;
  if (single) throw new DomainError('conflict', error, [{ field: '/body', message: `existing certificate ${existingId}` }]);
  return { index, status: 'duplicate', existingId, fingerprintSha256: info.fingerprintSha256, commonName: info.subject.commonName ?? '', error };
}

async function verificationOf(
  svc: Services,
  leaf: Buffer,
  intermediates: Uint8Array[],
  input: Schemas['CertificateImport'],
  anchors: Uint8Array[] | undefined,
): Promise<ImportVerification> {
  const checkedAt = svc.clock.now();
  try {
    const { report, trust } = await verifyImported(svc, { leaf: new Uint8Array(leaf), intermediates, trust: input.trust, trustAnchors: anchors, at: checkedAt });
    const anchor = report.valid ? (report.path[report.path.length - 1]?.subject ?? null) : null;
    return { valid: report.valid, checkedAt: checkedAt.toISOString(), trust, anchor, errors: report.errors.map((e) => ({ code: e.code, message: e.message })) };
  } catch (e) {
    // A parameter problem (e.g. trustAnchors without "supplied") concerns the whole request.
    if (e instanceof DomainError && e.code === 'bad_request' && e.errors?.some((f) => f.field === '/body/trust')) throw e;
    if (!(e instanceof DomainError)) throw e;
    // The engine could not use the certificate Node parsed: stored, marked as not verifiable.
    return { valid: false, checkedAt: checkedAt.toISOString(), trust: input.trust ?? [], anchor: null, errors: [{ code: 'malformed', message: e.message }] };
  }
}

async function store(
  svc: Services,
  id: string,
  der: Buffer,
  info: pki.CertificateInfo,
  chainPem: string | null,
  verification: ImportVerification,
  input: Schemas['CertificateImport'],
): Promise<void> {
  const now = svc.clock.now().toISOString();
  const commonName = info.subject.commonName ?? '';
  const sans = { dns: info.sans.dns ?? [], ip: info.sans.ip ?? [], email: info.sans.email ?? [], uri: info.sans.uri ?? [] };
  await svc.db.transaction().execute((trx) =>
    certs.insertCertificate(
      trx,
      {
        id,
        authority_id: null,
        profile_id: null,
        serial: info.serialHex,
        common_name: commonName,
        subject: JSON.stringify(info.subject),
        sans: JSON.stringify(sans),
        search_text: [commonName, ...sans.dns, ...sans.ip, ...sans.email, ...sans.uri].join(' ').toLowerCase(),
        not_before: info.notBefore,
        not_after: info.notAfter,
        fingerprint_sha256: info.fingerprintSha256,
        key_algorithm: info.keyAlgorithm ?? 'unknown',
        usage: null,
        der,
        server_key: false,
        owner: input.owner ?? null,
        notes: input.notes ?? null,
        issued_by: null,
        predecessor_id: null,
        successor_id: null,
        revoked_at: null,
        revocation_reason: null,
        invalidity_date: null,
        hold_released_at: null,
        archived_at: null,
        created_at: now,
        updated_at: now,
        source: 'external',
        issuer_dn: info.issuerDn,
        chain_pem: chainPem,
        verification: JSON.stringify(verification),
      },
      input.labels ?? {},
    ),
  );
}
