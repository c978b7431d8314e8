/**
 * OCSP (RFC 6960): request parsing, CertID helpers, and BasicOCSPResponse building for a
 * delegated responder (responderID byKey, responder certificate in `certs`).
 *
 * Built for pre-signing and caching: `prepareOcspResponder` does the per-responder work
 * once (key hash, responderID, certs field, signer), and a response is then a handful
 * of small concatenations plus one signature. Without a nonce, a response for a CertID
 * can be cached until shortly before its nextUpdate; with a nonce it must be signed per
 * request (RFC 8954).
 */
import { createHash } from 'node:crypto';
import { DomainError } from '../errors.js';
import { CRL_REASON_CODES, type CrlReason } from './crl.js';
import * as der from './cert-parts.js';
import { algorithmIdentifier, assertKeyMatches, toSigner, type Signer, type SigningKey } from './crl-signer.js';

// ---------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------

export type OcspHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** CertID hash algorithm OIDs (openssl uses SHA-1 unless told otherwise). */
export const OCSP_HASH_OIDS: Readonly<Record<OcspHash, string>> = Object.freeze({
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
});

const HASH_BY_OID = new Map<string, OcspHash>(Object.entries(OCSP_HASH_OIDS).map(([k, v]) => [v, k as OcspHash]));
const HASH_LEN: Record<OcspHash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** The hash name for a CertID hashAlgorithm OID, or undefined if unsupported. */
export const ocspHashOf = (oid: string): OcspHash | undefined => HASH_BY_OID.get(oid);

const OID_NONCE = '1.3.6.1.5.5.7.48.1.2';
const OID_BASIC = '1.3.6.1.5.5.7.48.1.1';
const NONCE_OID_DER = der.oid(OID_NONCE);
/** responseType id-pkix-ocsp-basic, pre-encoded. */
const BASIC_OID_DER = der.oid(OID_BASIC);

export type OcspResponseStatus = 'successful' | 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized';
export type OcspErrorStatus = Exclude<OcspResponseStatus, 'successful'>;

export const OCSP_RESPONSE_STATUS_CODES: Readonly<Record<OcspResponseStatus, number>> = Object.freeze({
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  // 4 is not used
  sigRequired: 5,
  unauthorized: 6,
});

/** Nonce limits: RFC 8954 caps the nonce at 32 octets (+2 for its OCTET STRING wrapper). */
const MAX_NONCE_VALUE = 34;
const DEFAULT_MAX_REQUESTS = 50;
const MAX_REQUEST_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/**
 * A request that is not a well-formed OCSPRequest. The HTTP layer must answer it with
 * `buildOcspErrorResponse('malformedRequest')` (HTTP 200, application/ocsp-response),
 * not with problem+json: OCSP clients only understand OCSP responses.
 */
export class OcspMalformedRequestError extends DomainError {
  readonly ocspStatus = 'malformedRequest' as const;
  constructor(message: string) {
    super('bad_request', `malformed OCSP request: ${message}`);
    this.name = 'OcspMalformedRequestError';
  }
}

const bad = (message: string) => new DomainError('bad_request', message);

/** An OCSPResponse carrying only a non-successful status (RFC 6960 4.2.1). */
export function buildOcspErrorResponse(status: OcspErrorStatus): Buffer {
  const code = OCSP_RESPONSE_STATUS_CODES[status];
  if (code === undefined || code === 0) throw new DomainError('internal_error', `not an OCSP error status: ${String(status)}`);
  return Buffer.from([0x30, 0x03, 0x0a, 0x01, code]);
}

// ---------------------------------------------------------------------------------
// CertID
// ---------------------------------------------------------------------------------

export interface CertId {
  /** hashAlgorithm OID (see OCSP_HASH_OIDS). */
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Canonical serial: lowercase hex, no leading zeros ('-' prefix if negative). */
  serialHex: string;
  /** Exact DER of the CertID; echoed as is in the response when present. */
  der?: Buffer;
}

function hashAlgId(hash: OcspHash): Buffer {
  // With explicit NULL parameters, as openssl writes them.
  return der.seq(der.oid(OCSP_HASH_OIDS[hash]), Buffer.from([0x05, 0x00]));
}

function checkHash(hash: unknown): OcspHash {
  if (typeof hash !== 'string' || !(hash in OCSP_HASH_OIDS)) throw new DomainError('bad_request', `unsupported CertID hash ${String(hash)}`);
  return hash as OcspHash;
}

/** issuerNameHash / issuerKeyHash of an issuer certificate (DER or PEM), for matching CertIDs. */
export function issuerHashes(issuerCertificate: Buffer | string, hash: OcspHash = 'sha1'): { issuerNameHash: Buffer; issuerKeyHash: Buffer } {
  const h = checkHash(hash);
  const c = der.certificateParts(issuerCertificate);
  return {
    issuerNameHash: createHash(h).update(c.subject).digest(),
    issuerKeyHash: createHash(h).update(c.publicKeyBits).digest(),
  };
}

/** The CertID for certificate `serialHex` issued by `issuerCertificate`. */
export function certIdFor(issuerCertificate: Buffer | string, serialHex: string, hash: OcspHash = 'sha1'): Required<CertId> {
  const h = checkHash(hash);
  const { issuerNameHash, issuerKeyHash } = issuerHashes(issuerCertificate, h);
  const serial = der.serialInteger(serialHex);
  return {
    hashAlgorithm: OCSP_HASH_OIDS[h],
    issuerNameHash,
    issuerKeyHash,
    serialHex: der.serialHexOfInteger(serial.subarray(2)),
    der: der.seq(hashAlgId(h), der.octets(issuerNameHash), der.octets(issuerKeyHash), serial),
  };
}

/** True if `certId` names a certificate issued by `issuerCertificate` (any supported hash). */
export function certIdMatchesIssuer(certId: CertId, issuerCertificate: Buffer | string): boolean {
  const h = ocspHashOf(certId.hashAlgorithm);
  if (!h) return false;
  const want = issuerHashes(issuerCertificate, h);
  return want.issuerNameHash.equals(certId.issuerNameHash) && want.issuerKeyHash.equals(certId.issuerKeyHash);
}

function encodeCertId(c: CertId, i: number): Buffer {
  if (!c || typeof c !== 'object') throw bad(`responses[${i}].certId is required`);
  if (c.der !== undefined) {
    if (!Buffer.isBuffer(c.der) || c.der[0] !== 0x30) throw bad(`responses[${i}].certId.der must be a DER CertID`);
    return c.der;
  }
  if (!Buffer.isBuffer(c.issuerNameHash) || !Buffer.isBuffer(c.issuerKeyHash) || typeof c.hashAlgorithm !== 'string' || !/^\d+(\.\d+)+$/.test(c.hashAlgorithm)) {
    throw bad(`responses[${i}].certId needs hashAlgorithm, issuerNameHash and issuerKeyHash`);
  }
  const h = ocspHashOf(c.hashAlgorithm);
  const algId = h ? hashAlgId(h) : der.seq(der.oid(c.hashAlgorithm));
  return der.seq(algId, der.octets(c.issuerNameHash), der.octets(c.issuerKeyHash), der.serialInteger(c.serialHex));
}

// ---------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------

export interface OcspRequest {
  /** One CertID per Request, in request order. */
  requests: CertId[];
  /**
   * The nonce extension's extnValue content, byte for byte (normally a DER OCTET STRING
   * wrapping the nonce); pass it back to `buildOcspResponse` to echo it.
   */
  nonce?: Buffer;
  /** True if the request carried an (unverified) optionalSignature. */
  signed: boolean;
}

export interface ParseOcspRequestOptions {
  /** Most CertIDs accepted in one request (default 50). */
  maxRequests?: number;
}

/**
 * Parse a DER OCSPRequest. Throws only `OcspMalformedRequestError` (a DomainError
 * `bad_request`). The request signature, if any, is not checked (Certa does not
 * require signed requests).
 */
export function parseOcspRequest(input: Buffer | Uint8Array, opts: ParseOcspRequestOptions = {}): OcspRequest {
  try {
    if (!(input instanceof Uint8Array)) throw new der.DerError('expected a DER buffer');
    const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (buf.length > MAX_REQUEST_BYTES) throw new der.DerError('request too large');
    return parseRequestDer(buf, opts.maxRequests ?? DEFAULT_MAX_REQUESTS);
  } catch (e) {
    if (e instanceof OcspMalformedRequestError) throw e;
    throw new OcspMalformedRequestError(e instanceof Error ? e.message : String(e));
  }
}

export type OcspRequestParseResult = { ok: true; request: OcspRequest } | { ok: false; status: 'malformedRequest'; message: string };

/** `parseOcspRequest` as a result value, for handlers that prefer not to catch. */
export function tryParseOcspRequest(input: Buffer | Uint8Array, opts?: ParseOcspRequestOptions): OcspRequestParseResult {
  try {
    return { ok: true, request: parseOcspRequest(input, opts) };
  } catch (e) {
    return { ok: false, status: 'malformedRequest', message: (e as Error).message };
  }
}

/**
 * The DER request from an OCSP GET path segment (RFC 6960 A.1: base64 of the DER,
 * then URL-encoded). Throws `OcspMalformedRequestError`.
 */
export function ocspRequestFromGetPath(segment: string): Buffer {
  let b64: string;
  try {
    b64 = decodeURIComponent(segment);
  } catch {
    throw new OcspMalformedRequestError('bad URL encoding');
  }
  // Some clients send base64url, or lose '+' to a space.
  b64 = b64.replace(/ /g, '+').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new OcspMalformedRequestError('bad base64');
  return Buffer.from(b64, 'base64');
}

function parseRequestDer(buf: Buffer, maxRequests: number): OcspRequest {
  const top = der.readWhole(buf, 0x30, 'OCSPRequest');
  const [tbsT, sigT, ...extra] = der.children(buf, top);
  if (tbsT?.tag !== 0x30 || (sigT && sigT.tag !== 0xa0) || extra.length) throw new der.DerError('OCSPRequest must be SEQUENCE { tbsRequest, [0] signature OPTIONAL }');
  const f = der.children(buf, tbsT);
  let i = 0;
  if (f[i]?.tag === 0xa0) {
    const v = der.expect(buf, f[i].content, 0x02, f[i].end, 'version');
    if (v.end !== f[i].end || der.readInteger(buf, v) !== 0n) throw new der.DerError('unsupported version');
    i++;
  }
  if (f[i]?.tag === 0xa1) i++; // requestorName: informational only
  const listT = f[i++];
  if (listT?.tag !== 0x30) throw new der.DerError('missing requestList');
  let extsT: der.Tlv | undefined;
  if (f[i]?.tag === 0xa2) extsT = f[i++];
  if (i !== f.length) throw new der.DerError('unexpected field in TBSRequest');

  const requests: CertId[] = [];
  for (const reqT of der.children(buf, listT)) {
    if (requests.length >= maxRequests) throw new der.DerError(`more than ${maxRequests} requests`);
    if (reqT.tag !== 0x30) throw new der.DerError('bad Request');
    const [certIdT, singleExts, ...more] = der.children(buf, reqT);
    if (certIdT?.tag !== 0x30 || (singleExts && singleExts.tag !== 0xa0) || more.length) throw new der.DerError('bad Request');
    requests.push(parseCertId(buf, certIdT));
  }
  if (!requests.length) throw new der.DerError('empty requestList');

  let nonce: Buffer | undefined;
  if (extsT) {
    const seqT = der.expect(buf, extsT.content, 0x30, extsT.end, 'requestExtensions');
    if (seqT.end !== extsT.end) throw new der.DerError('trailing data after requestExtensions');
    for (const ext of der.children(buf, seqT)) {
      if (ext.tag !== 0x30) throw new der.DerError('bad Extension');
      const parts = der.children(buf, ext);
      if (parts.length < 2 || parts.length > 3) throw new der.DerError('bad Extension');
      if (parts.length === 3) der.readBoolean(buf, parts[1]);
      const value = parts[parts.length - 1];
      if (value.tag !== 0x04) throw new der.DerError('bad Extension value');
      // Other request extensions (e.g. acceptable responses) are ignored.
      if (der.readOid(buf, parts[0]) !== OID_NONCE) continue;
      if (nonce) throw new der.DerError('duplicate nonce');
      const n = value.end - value.content;
      if (n === 0 || n > MAX_NONCE_VALUE) throw new der.DerError('nonce must be 1 to 32 octets');
      nonce = Buffer.from(der.content(buf, value));
    }
  }
  return { requests, nonce, signed: !!sigT };
}

function parseCertId(buf: Buffer, t: der.Tlv): CertId {
  const [algT, nameT, keyT, serialT, ...extra] = der.children(buf, t);
  if (algT?.tag !== 0x30 || nameT?.tag !== 0x04 || keyT?.tag !== 0x04 || serialT?.tag !== 0x02 || extra.length) throw new der.DerError('bad CertID');
  const hashAlgorithm = der.readOid(buf, der.read(buf, algT.content, algT.end));
  const h = ocspHashOf(hashAlgorithm);
  const issuerNameHash = Buffer.from(der.content(buf, nameT));
  const issuerKeyHash = Buffer.from(der.content(buf, keyT));
  if (h && (issuerNameHash.length !== HASH_LEN[h] || issuerKeyHash.length !== HASH_LEN[h])) throw new der.DerError(`CertID hashes are not ${h} hashes`);
  const serial = der.content(buf, serialT);
  if (serial.length === 0 || serial.length > 64) throw new der.DerError('bad serialNumber');
  const serialHex = serial[0] & 0x80 ? '-' + serial.toString('hex') : der.serialHexOfInteger(serial);
  return { hashAlgorithm, issuerNameHash, issuerKeyHash, serialHex, der: Buffer.from(der.raw(buf, t)) };
}

// ---------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------

export interface OcspResponder {
  /** Responder certificate DER. */
  certificate: Buffer;
  /** SHA-1 of the responder's subjectPublicKey (ResponderID byKey). */
  keyHash: Buffer;
  signer: Signer;
  /** Pre-encoded [2] byKey ResponderID. */
  responderId: Buffer;
  /** Pre-encoded `certs` field ([0] SEQUENCE OF Certificate), or empty. */
  certsField: Buffer;
  algorithmIdentifier: Buffer;
}

export interface PrepareOcspResponderParams {
  /**
   * The delegated responder certificate (DER or PEM): issued by the CA whose
   * certificates it answers for, with EKU id-kp-OCSPSigning (and ideally
   * id-pkix-ocsp-nocheck). The CA certificate itself also works.
   */
  certificate: Buffer | string;
  /** The responder's private key, or a Signer; must match the certificate. */
  signingKey: SigningKey;
  /** Put the responder certificate in `certs` (default true; clients need it for a delegated responder). */
  includeCertificate?: boolean;
}

/** Do the per-responder work once; reuse the result for every response. */
export function prepareOcspResponder(p: PrepareOcspResponderParams): OcspResponder {
  const cert = der.certificateParts(p.certificate);
  const signer = toSigner(p.signingKey);
  assertKeyMatches(signer, cert.spki, 'responder certificate');
  const keyHash = createHash('sha1').update(cert.publicKeyBits).digest();
  return {
    certificate: cert.der,
    keyHash,
    signer,
    responderId: der.ctx(2, der.octets(keyHash)),
    certsField: p.includeCertificate === false ? Buffer.alloc(0) : der.ctx(0, der.seq(cert.der)),
    algorithmIdentifier: algorithmIdentifier(signer.algorithm),
  };
}

export type OcspCertStatus = { status: 'good' } | { status: 'unknown' } | { status: 'revoked'; revokedAt: Date; reason?: CrlReason };

export type OcspSingleResponse = OcspCertStatus & {
  /** The CertID as requested (parsed requests carry `der`, which is echoed byte for byte). */
  certId: CertId;
  thisUpdate: Date;
  /** When newer information will be available; omit only if it always is. */
  nextUpdate?: Date;
};

export interface BuildOcspResponseParams {
  responder: OcspResponder;
  producedAt: Date;
  /** One per requested CertID, in request order. */
  responses: OcspSingleResponse[];
  /** The request's nonce (`OcspRequest.nonce`), echoed in the response extensions. */
  nonce?: Buffer;
}

const GOOD = Buffer.from([0x80, 0x00]);
const UNKNOWN = Buffer.from([0x82, 0x00]);
const SUCCESSFUL = Buffer.from([0x0a, 0x01, 0x00]);

function genTime(d: unknown, field: string): Buffer {
  if (!der.isEncodableDate(d)) throw bad(`${field} must be a valid Date`);
  return der.time(d, true);
}

function certStatus(r: OcspSingleResponse, i: number): Buffer {
  switch (r.status) {
    case 'good':
      return GOOD;
    case 'unknown':
      return UNKNOWN;
    case 'revoked': {
      const when = genTime(r.revokedAt, `responses[${i}].revokedAt`);
      let code = 0;
      if (r.reason !== undefined) {
        if (!Object.prototype.hasOwnProperty.call(CRL_REASON_CODES, r.reason)) throw bad(`responses[${i}].reason ${JSON.stringify(r.reason)} is not an RFC 5280 reason`);
        code = CRL_REASON_CODES[r.reason];
      }
      // As on the CRL, `unspecified` is expressed by leaving the reason out (CA/B BR 7.3).
      return code ? der.tlv(0xa1, when, der.ctx(0, der.enumerated(code))) : der.tlv(0xa1, when);
    }
    default:
      throw bad(`responses[${i}].status must be good, revoked or unknown`);
  }
}

/** Build and sign a successful OCSPResponse (BasicOCSPResponse); returns its DER. */
export async function buildOcspResponse(p: BuildOcspResponseParams): Promise<Buffer> {
  // Step 1: the SingleResponses.
  if (!p.responses?.length) throw bad('at least one response is required');
  const singles = p.responses.map((r, i) => {
    if (!r || typeof r !== 'object') throw bad(`responses[${i}] must be an object`);
    const parts = [encodeCertId(r.certId, i), certStatus(r, i), genTime(r.thisUpdate, `responses[${i}].thisUpdate`)];
    if (r.nextUpdate !== undefined) parts.push(der.ctx(0, genTime(r.nextUpdate, `responses[${i}].nextUpdate`)));
    return der.seq(...parts);
  });

  // Step 2: ResponseData (v1 is the DEFAULT, so no version field), nonce echoed verbatim.
  const rd = [p.responder.responderId, genTime(p.producedAt, 'producedAt'), der.seq(...singles)];
  if (p.nonce !== undefined) {
    if (!Buffer.isBuffer(p.nonce) || p.nonce.length === 0 || p.nonce.length > MAX_NONCE_VALUE) throw bad('nonce must be the 1..34-octet extnValue from the request');
    rd.push(der.ctx(1, der.seq(der.seq(NONCE_OID_DER, der.octets(p.nonce)))));
  }
  const tbs = der.seq(...rd);

  // Step 3: sign and wrap: BasicOCSPResponse inside ResponseBytes inside OCSPResponse.
  const sig = await p.responder.signer.sign(tbs);
  const basic = der.seq(tbs, p.responder.algorithmIdentifier, der.tlv(0x03, Buffer.from([0]), Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength)), p.responder.certsField);
  return der.seq(SUCCESSFUL, der.ctx(0, der.seq(BASIC_OID_DER, der.octets(basic))));
}

// ---------------------------------------------------------------------------------
// Response summary (for tests and diagnostics)
// ---------------------------------------------------------------------------------

export interface OcspResponseSummary {
  status: OcspResponseStatus;
  producedAt?: Date;
  responderKeyHash?: Buffer;
  nonce?: Buffer;
  responses: Array<{ serialHex: string; hashAlgorithm: string; status: 'good' | 'revoked' | 'unknown'; revokedAt?: Date; reason?: CrlReason; thisUpdate: Date; nextUpdate?: Date }>;
  certificates: Buffer[];
  signatureAlgorithm?: string;
  tbs?: Buffer;
  signature?: Buffer;
}

const STATUS_BY_CODE = new Map<number, OcspResponseStatus>(Object.entries(OCSP_RESPONSE_STATUS_CODES).map(([k, v]) => [v, k as OcspResponseStatus]));
const REASON_BY_CODE = new Map<number, CrlReason>(Object.entries(CRL_REASON_CODES).map(([k, v]) => [v, k as CrlReason]));

/** Parse an OCSPResponse (no signature check). Malformed input is a DomainError `bad_request`. */
export function parseOcspResponse(input: Buffer): OcspResponseSummary {
  try {
    return parseResponseDer(input);
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw new DomainError('bad_request', `malformed OCSP response: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseResponseDer(buf: Buffer): OcspResponseSummary {
  const top = der.readWhole(buf, 0x30, 'OCSPResponse');
  const [statusT, bytesT] = der.children(buf, top);
  if (statusT?.tag !== 0x0a || statusT.end - statusT.content !== 1) throw new der.DerError('bad responseStatus');
  const status = STATUS_BY_CODE.get(buf[statusT.content]);
  if (!status) throw new der.DerError('unknown responseStatus');
  const out: OcspResponseSummary = { status, responses: [], certificates: [] };
  if (!bytesT) return out;
  const rb = der.expect(buf, bytesT.content, 0x30, bytesT.end, 'ResponseBytes');
  const [typeT, respT] = der.children(buf, rb);
  if (der.readOid(buf, typeT) !== OID_BASIC || respT?.tag !== 0x04) throw new der.DerError('not a basic OCSP response');
  const basic = der.expect(buf, respT.content, 0x30, respT.end, 'BasicOCSPResponse');
  const [tbsT, algT, sigT, certsT] = der.children(buf, basic);
  if (tbsT?.tag !== 0x30 || algT?.tag !== 0x30 || sigT?.tag !== 0x03) throw new der.DerError('bad BasicOCSPResponse');
  out.tbs = der.raw(buf, tbsT);
  out.signatureAlgorithm = der.readOid(buf, der.read(buf, algT.content, algT.end));
  out.signature = buf.subarray(sigT.content + 1, sigT.end);
  if (certsT?.tag === 0xa0) {
    for (const c of der.children(buf, der.read(buf, certsT.content, certsT.end))) out.certificates.push(Buffer.from(der.raw(buf, c)));
  }
  const f = der.children(buf, tbsT);
  let i = 0;
  if (f[i]?.tag === 0xa0) i++;
  const rid = f[i++];
  if (rid?.tag === 0xa2) out.responderKeyHash = Buffer.from(der.content(buf, der.read(buf, rid.content, rid.end)));
  out.producedAt = der.readTime(buf, f[i++]);
  for (const sr of der.children(buf, f[i++])) {
    const [cid, cs, tu, ...rest] = der.children(buf, sr);
    const id = parseCertId(buf, cid);
    const r: OcspResponseSummary['responses'][number] = { serialHex: id.serialHex, hashAlgorithm: id.hashAlgorithm, status: 'unknown', thisUpdate: der.readTime(buf, tu) };
    if (cs.tag === 0x80) r.status = 'good';
    else if (cs.tag === 0xa1) {
      r.status = 'revoked';
      const [when, reason] = der.children(buf, cs);
      r.revokedAt = der.readTime(buf, when);
      if (reason?.tag === 0xa0) r.reason = REASON_BY_CODE.get(buf[der.read(buf, reason.content, reason.end).content]);
    } else if (cs.tag !== 0x82) throw new der.DerError('bad certStatus');
    for (const x of rest) if (x.tag === 0xa0) r.nextUpdate = der.readTime(buf, der.read(buf, x.content, x.end));
    out.responses.push(r);
  }
  const extsT = f[i];
  if (extsT?.tag === 0xa1) {
    for (const ext of der.children(buf, der.read(buf, extsT.content, extsT.end))) {
      const parts = der.children(buf, ext);
      if (der.readOid(buf, parts[0]) === OID_NONCE) out.nonce = Buffer.from(der.content(buf, parts[parts.length - 1]));
    }
  }
  return out;
}
