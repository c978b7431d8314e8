/**
 * X.509 v2 CRLs (RFC 5280 section 5): building (full and delta) and a parsed summary.
 *
 * The builder hand-rolls the DER: entries (a plain or async iterable, so the caller can
 * stream rows from the database) are written straight into large chunks, then copied
 * once into a buffer that already has room for the outer header and the signature, and
 * the TBS is signed in place. A 1,000,000-entry CRL is two copies of ~50-80 MB, not an
 * object tree.
 */
import { createHash } from 'node:crypto';
import { DomainError, type FieldError } from '../errors.js';
import * as der from './cert-parts.js';
import { algorithmIdentifier, assertKeyMatches, toSigner, type SigningKey } from './crl-signer.js';

export type CrlReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

/** RFC 5280 CRLReason values (7 is unused). */
export const CRL_REASON_CODES: Readonly<Record<CrlReason, number>> = Object.freeze({
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
});

const REASON_BY_CODE: (CrlReason | undefined)[] = [];
for (const [name, code] of Object.entries(CRL_REASON_CODES)) REASON_BY_CODE[code] = name as CrlReason;

/** The reason name for a CRLReason code, or undefined. */
export const crlReasonName = (code: number): CrlReason | undefined => REASON_BY_CODE[code];

export interface CrlEntry {
  /** Serial number in hex (case-insensitive, leading zeros ignored), at most 20 octets. */
  serialHex: string;
  /** Revocation date (seconds precision; milliseconds are dropped). */
  revokedAt: Date;
  /**
   * Reason code entry extension. `unspecified` (or absent) writes no reasonCode, as
   * RFC 5280 5.3.1 recommends. `removeFromCRL` is only valid in a delta CRL.
   */
  reason?: CrlReason;
  /** Invalidity date entry extension (when the key is known or suspected compromised). */
  invalidityDate?: Date;
}

export interface IssuingDistributionPoint {
  /** URIs of this CRL's distribution point (must match the certificates' CRLDP to be used for them). */
  urls?: string[];
  onlyContainsUserCerts?: boolean;
  onlyContainsCaCerts?: boolean;
}

export interface BuildCrlParams {
  /**
   * The issuing CA certificate (DER or PEM). Its subject is copied byte for byte as the
   * CRL issuer, its subjectKeyIdentifier becomes the authorityKeyIdentifier, and the
   * signing key must match its public key.
   */
  issuerCertificate: Buffer | string;
  /** The CA private key, or a Signer (KMS/HSM). */
  signingKey: SigningKey;
  /** CRL Number (2.5.29.20): monotonically increasing per issuer, shared by full and delta CRLs; 0 <= n < 2^159. */
  crlNumber: bigint;
  thisUpdate: Date;
  /** Required by RFC 5280 5.1.2.5; must be after thisUpdate. */
  nextUpdate: Date;
  /**
   * Revoked certificates, in the order to write them. A plain or async iterable, so
   * rows can be streamed; duplicates are not detected (the store's key prevents them).
   */
  entries: Iterable<CrlEntry> | AsyncIterable<CrlEntry>;
  /** Makes this a delta CRL: the critical Delta CRL Indicator (2.5.29.27) with this base CRL number (< crlNumber). */
  deltaBase?: bigint;
  /** Freshest CRL (2.5.29.46) URIs pointing to the delta CRL; full CRLs only. */
  freshestCrlUrls?: string[];
  /** Critical Issuing Distribution Point (2.5.29.28). */
  issuingDistributionPoint?: IssuingDistributionPoint;
}

const OID = {
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  invalidityDate: '2.5.29.24',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  freshestCrl: '2.5.29.46',
} as const;

/** 30 0a | 06 03 55 1d 15 | 04 03 | 0a 01 <code>: the whole reasonCode extension but its last octet. */
const REASON_EXT_PREFIX = Buffer.from('300a0603551d1504030a01', 'hex');
/** 30 18 | 06 03 55 1d 18 | 04 11 | <GeneralizedTime, 17 octets>. */
const INVALIDITY_EXT_PREFIX = Buffer.from('30180603551d180411', 'hex');
/** Upper bound of one encoded entry: 2 + serial 23 + time 17 + extensions 2 + 12 + 26 = 82. */
const MAX_ENTRY = 96;
const FIRST_CHUNK = 64 * 1024;
const MAX_CHUNK = 8 * 1024 * 1024;
/** Room reserved for the signature (RSA-8192 is 1024 octets); a bigger one costs a copy. */
const SIG_RESERVE = 1024;
/** Room for the outer SEQUENCE header, written last (0x30 0x84 + 4 length octets). */
const FRONT = 6;
const MAX_CRL_NUMBER = 1n << 159n;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const invalid = (message: string, field: string): DomainError => new DomainError('bad_request', message, [{ field, message } satisfies FieldError]);

/** Accumulates encoded entries in growing chunks (no per-entry allocation). */
class EntrySink {
  chunks: Buffer[] = [];
  buf = Buffer.allocUnsafeSlow(FIRST_CHUNK);
  pos = 0;
  total = 0;
  count = 0;

  /** Make sure MAX_ENTRY bytes are free in `buf`. */
  room(): void {
    if (this.buf.length - this.pos >= MAX_ENTRY) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.total += this.pos;
    this.buf = Buffer.allocUnsafeSlow(Math.min(MAX_CHUNK, this.buf.length * 2));
    this.pos = 0;
  }

  finish(): Buffer[] {
    if (this.pos) this.chunks.push(this.buf.subarray(0, this.pos));
    this.total += this.pos;
    this.pos = 0;
    return this.chunks;
  }

  /** Encode one revokedCertificates element. Hot path: no allocation, no strings. */
  write(e: CrlEntry, isDelta: boolean): void {
    const i = this.count;
    if (e === null || typeof e !== 'object') throw invalid(`entries[${i}] must be an object`, `entries/${i}`);
    this.room();
    const b = this.buf;
    const start = this.pos;
    let pos = start + 2; // every entry is < 128 octets: a 2-octet SEQUENCE header
    pos = typeof e.serialHex === 'string' ? der.writeSerial(b, pos, e.serialHex) : -1;
    if (pos < 0) throw invalid(`entries[${i}].serialHex is not a hex serial number of at most 20 octets`, `entries/${i}/serialHex`);
    if (!der.isEncodableDate(e.revokedAt)) throw invalid(`entries[${i}].revokedAt must be a valid Date`, `entries/${i}/revokedAt`);
    pos = der.writeTime(b, pos, e.revokedAt, false);
    let code = -1;
    if (e.reason !== undefined) {
      code = Object.prototype.hasOwnProperty.call(CRL_REASON_CODES, e.reason) ? CRL_REASON_CODES[e.reason] : -2;
      if (code === -2) throw invalid(`entries[${i}].reason ${JSON.stringify(e.reason)} is not an RFC 5280 reason`, `entries/${i}/reason`);
      if (code === 8 && !isDelta) throw invalid(`entries[${i}].reason removeFromCRL is only valid in a delta CRL`, `entries/${i}/reason`);
      if (code === 0) code = -1;
    }
    const inv = e.invalidityDate;
    if (inv !== undefined && !der.isEncodableDate(inv)) throw invalid(`entries[${i}].invalidityDate must be a valid Date`, `entries/${i}/invalidityDate`);
    if (code >= 0 || inv !== undefined) {
      b[pos++] = 0x30;
      b[pos++] = (code >= 0 ? 12 : 0) + (inv !== undefined ? 26 : 0);
      if (code >= 0) {
        for (let k = 0; k < 11; k++) b[pos++] = REASON_EXT_PREFIX[k];
        b[pos++] = code;
      }
      if (inv !== undefined) {
        for (let k = 0; k < 9; k++) b[pos++] = INVALIDITY_EXT_PREFIX[k];
        pos = der.writeTime(b, pos, inv, true);
      }
    }
    b[start] = 0x30;
    b[start + 1] = pos - start - 2;
    this.pos = pos;
    this.count++;
  }
}

function distributionPointName(urls: string[]): Buffer {
  // DistributionPointName [0] { fullName [0] GeneralNames }
  return der.ctx(0, der.ctx(0, ...der.uriGeneralNames(urls)));
}

function crlExtensions(p: BuildCrlParams, keyId: Buffer): Buffer {
  const exts: Buffer[] = [
    der.extension(der.oid(OID.authorityKeyIdentifier), false, der.seq(der.ctxPrim(0, keyId))),
    der.extension(der.oid(OID.crlNumber), false, der.integer(p.crlNumber)),
  ];
  if (p.deltaBase !== undefined) exts.push(der.extension(der.oid(OID.deltaCrlIndicator), true, der.integer(p.deltaBase)));
  const idp = p.issuingDistributionPoint;
  if (idp) {
    if (idp.onlyContainsUserCerts && idp.onlyContainsCaCerts) throw invalid('issuingDistributionPoint cannot be both onlyContainsUserCerts and onlyContainsCaCerts', 'issuingDistributionPoint');
    const parts: Buffer[] = [];
    if (idp.urls?.length) parts.push(distributionPointName(idp.urls));
    if (idp.onlyContainsUserCerts) parts.push(der.ctxPrim(1, Buffer.from([0xff])));
    if (idp.onlyContainsCaCerts) parts.push(der.ctxPrim(2, Buffer.from([0xff])));
    if (!parts.length) throw invalid('issuingDistributionPoint must say something (urls or a scope flag)', 'issuingDistributionPoint');
    exts.push(der.extension(der.oid(OID.issuingDistributionPoint), true, der.seq(...parts)));
  }
  if (p.freshestCrlUrls?.length) {
    exts.push(der.extension(der.oid(OID.freshestCrl), false, der.seq(der.seq(distributionPointName(p.freshestCrlUrls)))));
  }
  return der.ctx(0, der.seq(...exts));
}

function validate(p: BuildCrlParams): void {
  if (!p || typeof p !== 'object') throw new DomainError('bad_request', 'CRL parameters are required');
  if (typeof p.crlNumber !== 'bigint' || p.crlNumber < 0n || p.crlNumber >= MAX_CRL_NUMBER) throw invalid('crlNumber must be a bigint in [0, 2^159)', 'crlNumber');
  if (!der.isEncodableDate(p.thisUpdate)) throw invalid('thisUpdate must be a valid Date', 'thisUpdate');
  if (!der.isEncodableDate(p.nextUpdate)) throw invalid('nextUpdate must be a valid Date', 'nextUpdate');
  if (Math.floor(p.nextUpdate.getTime() / 1000) <= Math.floor(p.thisUpdate.getTime() / 1000)) throw invalid('nextUpdate must be after thisUpdate', 'nextUpdate');
  if (p.deltaBase !== undefined) {
    if (typeof p.deltaBase !== 'bigint' || p.deltaBase < 0n || p.deltaBase >= p.crlNumber) throw invalid('deltaBase must be a bigint below crlNumber', 'deltaBase');
    // RFC 5280 5.2.6: the Freshest CRL extension MUST NOT appear in delta CRLs.
    if (p.freshestCrlUrls?.length) throw invalid('a delta CRL cannot carry freshestCrlUrls', 'freshestCrlUrls');
  }
  if (!p.entries || (typeof (p.entries as any)[Symbol.iterator] !== 'function' && typeof (p.entries as any)[Symbol.asyncIterator] !== 'function')) {
    throw invalid('entries must be an iterable or async iterable', 'entries');
  }
}

/**
 * Build and sign a v2 CRL; returns its DER. A large CRL (>= 1 MiB) is returned as a
 * view on a buffer a few hundred bytes larger (zero-filled slack), to avoid a copy.
 */
export async function buildCrl(p: BuildCrlParams): Promise<Buffer> {
  // Step 1: check the inputs and that the key belongs to the issuer certificate.
  validate(p);
  const issuer = der.certificateParts(p.issuerCertificate);
  const signer = toSigner(p.signingKey);
  assertKeyMatches(signer, issuer.spki, 'issuer certificate');
  // RFC 5280 4.2.1.2 method 1 when the CA certificate has no SKI (it should).
  const keyId = issuer.subjectKeyId ?? createHash('sha1').update(issuer.publicKeyBits).digest();

  // Step 2: everything around the entries is small and known up front.
  const head = Buffer.concat([
    Buffer.from([0x02, 0x01, 0x01]), // version v2
    algorithmIdentifier(signer.algorithm),
    issuer.subject,
    der.time(p.thisUpdate),
    der.time(p.nextUpdate),
  ]);
  const tail = crlExtensions(p, keyId);

  // Step 3: encode the entries as they come.
  const isDelta = p.deltaBase !== undefined;
  const sink = new EntrySink();
  // Let the event loop breathe every 64k entries: a big CRL is ~0.5 s of CPU, and an
  // in-memory (or fully buffered) source would otherwise hold the loop for all of it.
  if (typeof (p.entries as Iterable<CrlEntry>)[Symbol.iterator] === 'function') {
    for (const e of p.entries as Iterable<CrlEntry>) {
      sink.write(e, isDelta);
      if ((sink.count & 0xffff) === 0) await yieldToEventLoop();
    }
  } else {
    for await (const e of p.entries as AsyncIterable<CrlEntry>) {
      sink.write(e, isDelta);
      if ((sink.count & 0xffff) === 0) await yieldToEventLoop();
    }
  }
  const chunks = sink.finish();
  const entriesLen = sink.total;

  // Step 4: lay out the TBS once, with room in front for the outer header and after it
  // for the signature. revokedCertificates is omitted when empty (RFC 5280 5.1.2.6).
  const revokedLen = entriesLen ? der.headerLength(entriesLen) + entriesLen : 0;
  const tbsContent = head.length + revokedLen + tail.length;
  const tbsLen = der.headerLength(tbsContent) + tbsContent;
  const algId = algorithmIdentifier(signer.algorithm);
  const out = Buffer.allocUnsafeSlow(FRONT + tbsLen + algId.length + 7 + SIG_RESERVE);
  let pos = der.writeHeader(out, FRONT, 0x30, tbsContent);
  pos += head.copy(out, pos);
  if (entriesLen) {
    pos = der.writeHeader(out, pos, 0x30, entriesLen);
    for (const c of chunks) pos += c.copy(out, pos);
    chunks.length = 0;
  }
  pos += tail.copy(out, pos);

  // Step 5: sign the TBS in place and close the CertificateList around it.
  const sig = await signer.sign(out.subarray(FRONT, pos));
  if (!(sig instanceof Uint8Array) || sig.length === 0) throw new DomainError('internal_error', 'the signer returned no signature');
  const bitLen = sig.length + 1;
  const trailer = algId.length + der.headerLength(bitLen) + bitLen;
  const outerContent = tbsLen + trailer;
  const start = FRONT - der.headerLength(outerContent);
  let result: Buffer;
  if (sig.length <= SIG_RESERVE) {
    pos += algId.copy(out, pos);
    pos = der.writeHeader(out, pos, 0x03, bitLen);
    out[pos++] = 0;
    out.set(sig, pos);
    pos += sig.length;
    der.writeHeader(out, start, 0x30, outerContent);
    out.fill(0, 0, start);
    out.fill(0, pos);
    result = out.subarray(start, pos);
  } else {
    const hdr = Buffer.alloc(der.headerLength(outerContent));
    der.writeHeader(hdr, 0, 0x30, outerContent);
    result = Buffer.concat([hdr, out.subarray(FRONT, pos), algId, der.tlv(0x03, Buffer.from([0]), Buffer.from(sig))]);
  }
  // Small CRLs get an exact-size buffer; big ones stay a view (no third copy).
  return result.length < 1024 * 1024 && result.buffer.byteLength !== result.length ? Buffer.from(result) : result;
}

/** PEM with the `X509 CRL` label (OpenSSL rejects `BEGIN CRL`). */
export function crlToPem(crlDer: Buffer): string {
  return der.toPem(crlDer, 'X509 CRL');
}

export interface ParsedCrlEntry {
  /** Canonical serial: lowercase hex, no leading zeros. */
  serialHex: string;
  revokedAt: Date;
  reason?: CrlReason;
  invalidityDate?: Date;
}

export interface CrlSummary {
  version: 1 | 2;
  /** Issuer as RFC 4514 text (e.g. `CN=Certa Root,O=Solution Libre`). */
  issuer: string;
  /** Exact DER of the issuer Name. */
  issuerDer: Buffer;
  authorityKeyId?: Buffer;
  crlNumber?: bigint;
  /** Base CRL number of a delta CRL. */
  deltaBase?: bigint;
  isDelta: boolean;
  thisUpdate: Date;
  nextUpdate?: Date;
  entryCount: number;
  /** Only with `{ withEntries: true }`. */
  entries?: ParsedCrlEntry[];
  freshestCrlUrls?: string[];
  issuingDistributionPoint?: Required<IssuingDistributionPoint>;
  /** Signature algorithm OID. */
  signatureAlgorithm: string;
  /** Exact signed bytes and signature, for callers that verify. */
  tbs: Buffer;
  signature: Buffer;
}

export interface ParseCrlOptions {
  /** Decode every entry (default: only count them). */
  withEntries?: boolean;
}

/**
 * Parse a CRL (DER, or PEM labelled `X509 CRL`) into a summary. Does not check the
 * signature. Anything malformed is a DomainError `bad_request`; nothing else escapes.
 */
export function parseCrl(input: Buffer | string, opts: ParseCrlOptions = {}): CrlSummary {
  try {
    const buf = der.derFrom(input, ['X509 CRL', 'CRL']);
    if (!buf) throw new der.DerError('expected DER or a PEM "X509 CRL" block');
    return parseCrlDer(buf, opts);
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw new DomainError('bad_request', `malformed CRL: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseGeneralNameUris(buf: Buffer, dpn: der.Tlv): string[] {
  // DistributionPointName: fullName [0] IMPLICIT GeneralNames; nameRelativeToCRLIssuer [1] is not a URL.
  const out: string[] = [];
  for (const name of der.children(buf, dpn)) {
    if (name.tag !== 0xa0) continue;
    for (const gn of der.children(buf, name)) if (gn.tag === 0x86) out.push(der.content(buf, gn).toString('latin1'));
  }
  return out;
}

function parseCrlDer(buf: Buffer, opts: ParseCrlOptions): CrlSummary {
  const list = der.readWhole(buf, 0x30, 'CertificateList');
  const [tbsT, algT, sigT, ...extra] = der.children(buf, list);
  if (!tbsT || tbsT.tag !== 0x30 || algT?.tag !== 0x30 || sigT?.tag !== 0x03 || extra.length) throw new der.DerError('CertificateList must be SEQUENCE { tbs, algorithm, signature }');
  if (sigT.end - sigT.content < 1 || buf[sigT.content] !== 0) throw new der.DerError('bad signature BIT STRING');
  const f = der.children(buf, tbsT);
  let i = 0;
  let version: 1 | 2 = 1;
  if (f[i]?.tag === 0x02) {
    if (der.readInteger(buf, f[i]) !== 1n) throw new der.DerError('CRL version must be v2 when present');
    version = 2;
    i++;
  }
  const innerAlg = f[i++];
  if (innerAlg?.tag !== 0x30 || !der.raw(buf, innerAlg).equals(der.raw(buf, algT))) throw new der.DerError('TBS signature algorithm does not match the outer one');
  const algOid = der.readOid(buf, der.read(buf, algT.content, algT.end));
  const issuerT = f[i++];
  if (issuerT?.tag !== 0x30) throw new der.DerError('bad issuer');
  const issuer = der.nameToString(buf, issuerT);
  if (!f[i]) throw new der.DerError('missing thisUpdate');
  const thisUpdate = der.readTime(buf, f[i++]);
  let nextUpdate: Date | undefined;
  if (f[i] && (f[i].tag === 0x17 || f[i].tag === 0x18)) nextUpdate = der.readTime(buf, f[i++]);
  let revoked: der.Tlv | undefined;
  if (f[i]?.tag === 0x30) revoked = f[i++];
  let extsT: der.Tlv | undefined;
  if (f[i]?.tag === 0xa0) extsT = f[i++];
  if (i !== f.length) throw new der.DerError('unexpected field in TBSCertList');

  const summary: CrlSummary = {
    version,
    issuer,
    issuerDer: Buffer.from(der.raw(buf, issuerT)),
    isDelta: false,
    thisUpdate,
    nextUpdate,
    entryCount: 0,
    signatureAlgorithm: algOid,
    tbs: der.raw(buf, tbsT),
    signature: buf.subarray(sigT.content + 1, sigT.end),
  };

  if (extsT) {
    const seqT = der.expect(buf, extsT.content, 0x30, extsT.end, 'crlExtensions');
    if (seqT.end !== extsT.end) throw new der.DerError('trailing data after crlExtensions');
    for (const ext of der.children(buf, seqT)) {
      const { id, value } = readExtension(buf, ext);
      switch (id) {
        case OID.crlNumber:
          summary.crlNumber = der.readInteger(buf, singleIn(buf, value));
          break;
        case OID.deltaCrlIndicator:
          summary.deltaBase = der.readInteger(buf, singleIn(buf, value));
          summary.isDelta = true;
          break;
        case OID.authorityKeyIdentifier: {
          const aki = singleIn(buf, value);
          const keyId = der.children(buf, aki).find((c) => c.tag === 0x80);
          if (keyId) summary.authorityKeyId = Buffer.from(der.content(buf, keyId));
          break;
        }
        case OID.freshestCrl: {
          const urls: string[] = [];
          for (const dp of der.children(buf, singleIn(buf, value))) {
            for (const part of der.children(buf, dp)) if (part.tag === 0xa0) urls.push(...parseGeneralNameUris(buf, part));
          }
          summary.freshestCrlUrls = urls;
          break;
        }
        case OID.issuingDistributionPoint: {
          const idp = { urls: [] as string[], onlyContainsUserCerts: false, onlyContainsCaCerts: false };
          for (const part of der.children(buf, singleIn(buf, value))) {
            if (part.tag === 0xa0) idp.urls = parseGeneralNameUris(buf, part);
            else if (part.tag === 0x81) idp.onlyContainsUserCerts = buf[part.content] !== 0;
            else if (part.tag === 0x82) idp.onlyContainsCaCerts = buf[part.content] !== 0;
          }
          summary.issuingDistributionPoint = idp;
          break;
        }
      }
    }
  }

  if (revoked) {
    const entries: ParsedCrlEntry[] | undefined = opts.withEntries ? [] : undefined;
    let n = 0;
    for (let p = revoked.content; p < revoked.end; n++) {
      const e = der.read(buf, p, revoked.end);
      if (e.tag !== 0x30) throw new der.DerError(`revokedCertificates[${n}] is not a SEQUENCE`);
      p = e.end;
      if (entries) entries.push(parseEntry(buf, e, n));
    }
    summary.entryCount = n;
    summary.entries = entries;
  } else if (opts.withEntries) summary.entries = [];
  return summary;
}

function readExtension(buf: Buffer, ext: der.Tlv): { id: string; value: der.Tlv } {
  if (ext.tag !== 0x30) throw new der.DerError('bad Extension');
  const parts = der.children(buf, ext);
  if (parts.length < 2 || parts.length > 3) throw new der.DerError('bad Extension');
  if (parts.length === 3) der.readBoolean(buf, parts[1]);
  const value = parts[parts.length - 1];
  if (value.tag !== 0x04) throw new der.DerError('bad Extension value');
  return { id: der.readOid(buf, parts[0]), value };
}

/** The one element inside an OCTET STRING extension value. */
function singleIn(buf: Buffer, octetString: der.Tlv): der.Tlv {
  const t = der.read(buf, octetString.content, octetString.end);
  if (t.end !== octetString.end) throw new der.DerError('trailing data in extension value');
  return t;
}

function parseEntry(buf: Buffer, e: der.Tlv, n: number): ParsedCrlEntry {
  const [serialT, dateT, extsT, ...extra] = der.children(buf, e);
  if (serialT?.tag !== 0x02 || !dateT || extra.length || (extsT && extsT.tag !== 0x30)) throw new der.DerError(`revokedCertificates[${n}] is malformed`);
  if (serialT.end === serialT.content) throw new der.DerError('empty serial');
  const entry: ParsedCrlEntry = { serialHex: der.serialHexOfInteger(der.content(buf, serialT)), revokedAt: der.readTime(buf, dateT) };
  if (extsT) {
    for (const ext of der.children(buf, extsT)) {
      const { id, value } = readExtension(buf, ext);
      if (id === OID.reasonCode) {
        const r = singleIn(buf, value);
        if (r.tag !== 0x0a || r.end - r.content !== 1) throw new der.DerError('bad reasonCode');
        const reason = crlReasonName(buf[r.content]);
        if (!reason) throw new der.DerError(`unknown reasonCode ${buf[r.content]}`);
        entry.reason = reason;
      } else if (id === OID.invalidityDate) {
        entry.invalidityDate = der.readTime(buf, singleIn(buf, value));
      }
    }
  }
  return entry;
}
