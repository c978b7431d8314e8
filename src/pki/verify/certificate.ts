/**
 * Certificate parsing for path validation. Structural damage (bad TLVs, missing
 * fields) makes `parseCertificate` throw a `DerError`; problems *inside* fields and
 * extensions are recorded on the certificate instead, so the validator can report them
 * as findings (`malformed`) against the certificate that carries them.
 */
import { createHash } from 'node:crypto';
import {
  CLASS_CONTEXT,
  DerError,
  T,
  type DerTime,
  type Tlv,
  bytesEqual,
  children,
  expectUniversal,
  hex,
  isContext,
  isUniversal,
  raw,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOctetString,
  readOid,
  readSingle,
  readSmallInt,
  readTime,
  sequence,
  value,
} from './der.js';
import { type GeneralName, type Name, type NameConstraintsValue, parseGeneralName, parseGeneralNames, parseName, namesEqual } from './names.js';
import { EXT } from './oids.js';
import { Lru } from './lru.js';

export interface AlgorithmId {
  oid: string;
  /** Full TLV of the parameters, if present. */
  params?: Uint8Array;
  der: Uint8Array;
}

export interface Extension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

export interface KeyUsage {
  digitalSignature: boolean;
  contentCommitment: boolean;
  keyEncipherment: boolean;
  dataEncipherment: boolean;
  keyAgreement: boolean;
  keyCertSign: boolean;
  cRLSign: boolean;
  encipherOnly: boolean;
  decipherOnly: boolean;
  /** Number of asserted bits. */
  count: number;
}

export const KEY_USAGE_BITS = [
  'digitalSignature',
  'contentCommitment',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_BITS)[number];

export interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

export interface AuthorityKeyId {
  keyId?: Uint8Array;
  hasIssuer: boolean;
  hasSerial: boolean;
}

export interface DistributionPointName {
  fullName?: GeneralName[];
  relativeName?: boolean;
}

export interface DistributionPoint {
  name?: DistributionPointName;
  hasReasons: boolean;
  hasCrlIssuer: boolean;
}

export interface PolicyInfo {
  oid: string;
}

export interface PolicyConstraints {
  requireExplicitPolicy?: number;
  inhibitPolicyMapping?: number;
}

/** Parsed value of a recognised extension, or the reason it could not be parsed. */
export type Parsed<V> = { ok: true; value: V; critical: boolean } | { ok: false; error: string; critical: boolean };

export interface Certificate {
  der: Uint8Array;
  tbs: Uint8Array;
  /** 0 = v1, 1 = v2, 2 = v3. */
  version: number;
  serial: Uint8Array;
  serialHex: string;
  tbsSignatureAlg: AlgorithmId;
  signatureAlg: AlgorithmId;
  signature: Uint8Array;
  signatureUnusedBits: number;
  issuer: Name;
  subject: Name;
  notBefore: DerTime;
  notAfter: DerTime;
  /** The whole SubjectPublicKeyInfo TLV. */
  spki: Uint8Array;
  spkiAlg: AlgorithmId;
  publicKey: Uint8Array;
  extensions: Extension[];
  /** Field-level problems (malformed extensions, duplicates, v1 with extensions...). */
  problems: string[];
  fingerprint: string;
  selfIssued: boolean;
  /** Stable identity of the logical CA: subject + key. */
  entityKey: string;
  ext: {
    basicConstraints?: Parsed<BasicConstraints>;
    keyUsage?: Parsed<KeyUsage>;
    extKeyUsage?: Parsed<string[]>;
    subjectAltName?: Parsed<GeneralName[]>;
    nameConstraints?: Parsed<NameConstraintsValue>;
    authorityKeyId?: Parsed<AuthorityKeyId>;
    subjectKeyId?: Parsed<Uint8Array>;
    authorityInfoAccess?: Parsed<number>;
    crlDistributionPoints?: Parsed<DistributionPoint[]>;
    certificatePolicies?: Parsed<PolicyInfo[]>;
    policyConstraints?: Parsed<PolicyConstraints>;
    policyMappings?: Parsed<Array<[string, string]>>;
    inhibitAnyPolicy?: Parsed<number>;
    issuerAltName?: Parsed<GeneralName[]>;
  };
}

export function parseAlgorithmId(buf: Uint8Array, t: Tlv, what: string): AlgorithmId {
  const parts = sequence(buf, t, what);
  if (parts.length < 1 || parts.length > 2) throw new DerError(`${what}: malformed AlgorithmIdentifier`);
  return { oid: readOid(buf, parts[0], what), params: parts[1] ? raw(buf, parts[1]) : undefined, der: raw(buf, t) };
}

export function parseExtensions(buf: Uint8Array, t: Tlv, what: string): Extension[] {
  const out: Extension[] = [];
  for (const e of sequence(buf, t, what)) {
    const parts = sequence(buf, e, what);
    if (parts.length < 2 || parts.length > 3) throw new DerError(`${what}: malformed extension`);
    const oid = readOid(buf, parts[0], what);
    let critical = false;
    let idx = 1;
    if (parts.length === 3) {
      if (!isUniversal(parts[1], T.BOOLEAN)) throw new DerError(`${what}: malformed extension criticality`);
      critical = readBoolean(buf, parts[1], what);
      idx = 2;
    }
    out.push({ oid, critical, value: readOctetString(buf, parts[idx], what) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Extension value parsers (each receives the OCTET STRING content)

function parseBasicConstraints(v: Uint8Array): BasicConstraints {
  const t = readSingle(v, 'basicConstraints');
  const parts = sequence(v, t, 'basicConstraints');
  let i = 0;
  let ca = false;
  let pathLen: number | undefined;
  if (parts[i] && isUniversal(parts[i], T.BOOLEAN)) ca = readBoolean(v, parts[i++], 'basicConstraints');
  if (parts[i] && isUniversal(parts[i], T.INTEGER)) pathLen = readSmallInt(v, parts[i++], 'basicConstraints.pathLenConstraint');
  if (i !== parts.length) throw new DerError('basicConstraints: unexpected content');
  return { ca, pathLen };
}

function parseKeyUsage(v: Uint8Array): KeyUsage {
  const bits = readBitString(v, readSingle(v, 'keyUsage'), 'keyUsage');
  const bit = (n: number) => {
    const byte = n >> 3;
    return byte < bits.bytes.length && ((bits.bytes[byte] >> (7 - (n & 7))) & 1) === 1;
  };
  const ku = {} as KeyUsage;
  let count = 0;
  KEY_USAGE_BITS.forEach((name, i) => {
    ku[name] = bit(i);
    if (ku[name]) count++;
  });
  ku.count = count;
  return ku;
}

function parseOidSequence(v: Uint8Array, what: string): string[] {
  const oids = sequence(v, readSingle(v, what), what).map((t) => readOid(v, t, what));
  if (oids.length === 0) throw new DerError(`${what}: empty sequence`);
  return oids;
}

function parseSubtrees(v: Uint8Array, t: Tlv): GeneralName[] {
  const out: GeneralName[] = [];
  for (const st of children(v, t)) {
    const parts = sequence(v, st, 'nameConstraints');
    if (parts.length < 1) throw new DerError('nameConstraints: empty GeneralSubtree');
    out.push(parseGeneralName(v, parts[0], 'nameConstraints'));
  }
  if (out.length === 0) throw new DerError('nameConstraints: empty GeneralSubtrees');
  return out;
}

function parseNameConstraints(v: Uint8Array): NameConstraintsValue {
  const parts = sequence(v, readSingle(v, 'nameConstraints'), 'nameConstraints');
  const nc: NameConstraintsValue = {};
  for (const p of parts) {
    if (isContext(p, 0) && p.constructed && !nc.permitted) nc.permitted = parseSubtrees(v, p);
    else if (isContext(p, 1) && p.constructed && !nc.excluded) nc.excluded = parseSubtrees(v, p);
    else throw new DerError('nameConstraints: unexpected content');
  }
  if (!nc.permitted && !nc.excluded) throw new DerError('nameConstraints: neither permittedSubtrees nor excludedSubtrees is present');
  return nc;
}

function parseAuthorityKeyId(v: Uint8Array): AuthorityKeyId {
  const parts = sequence(v, readSingle(v, 'authorityKeyIdentifier'), 'authorityKeyIdentifier');
  const aki: AuthorityKeyId = { hasIssuer: false, hasSerial: false };
  let last = -1;
  for (const p of parts) {
    if (p.cls !== CLASS_CONTEXT || p.tag <= last || p.tag > 2) throw new DerError('authorityKeyIdentifier: unexpected content');
    last = p.tag;
    if (p.tag === 0) {
      if (p.constructed) throw new DerError('authorityKeyIdentifier: malformed keyIdentifier');
      aki.keyId = value(v, p);
    } else if (p.tag === 1) {
      parseGeneralNames(v, p, 'authorityKeyIdentifier.authorityCertIssuer');
      aki.hasIssuer = true;
    } else {
      readIntegerBytes(v, p, 'authorityKeyIdentifier.authorityCertSerialNumber');
      aki.hasSerial = true;
    }
  }
  if (aki.hasIssuer !== aki.hasSerial) throw new DerError('authorityKeyIdentifier: authorityCertIssuer and authorityCertSerialNumber must appear together');
  return aki;
}

function parseAuthorityInfoAccess(v: Uint8Array): number {
  const parts = sequence(v, readSingle(v, 'authorityInfoAccess'), 'authorityInfoAccess');
  if (parts.length === 0) throw new DerError('authorityInfoAccess: must contain at least one AccessDescription');
  for (const p of parts) {
    const ad = sequence(v, p, 'authorityInfoAccess');
    if (ad.length !== 2) throw new DerError('authorityInfoAccess: malformed AccessDescription');
    readOid(v, ad[0], 'authorityInfoAccess');
    parseGeneralName(v, ad[1], 'authorityInfoAccess');
  }
  return parts.length;
}

export function parseDistributionPointName(buf: Uint8Array, t: Tlv, what: string): DistributionPointName {
  // DistributionPointName is a CHOICE, so its [0] tag in the enclosing structure is explicit.
  const inner = children(buf, t);
  if (inner.length !== 1) throw new DerError(`${what}: malformed DistributionPointName`);
  const c = inner[0];
  if (isContext(c, 0) && c.constructed) return { fullName: parseGeneralNames(buf, c, what) };
  if (isContext(c, 1) && c.constructed) return { relativeName: true };
  throw new DerError(`${what}: malformed DistributionPointName`);
}

function parseCrlDistributionPoints(v: Uint8Array): DistributionPoint[] {
  const out: DistributionPoint[] = [];
  for (const p of sequence(v, readSingle(v, 'cRLDistributionPoints'), 'cRLDistributionPoints')) {
    const dp: DistributionPoint = { hasReasons: false, hasCrlIssuer: false };
    for (const f of sequence(v, p, 'cRLDistributionPoints')) {
      if (isContext(f, 0) && f.constructed) dp.name = parseDistributionPointName(v, f, 'cRLDistributionPoints');
      else if (isContext(f, 1)) dp.hasReasons = true;
      else if (isContext(f, 2) && f.constructed) {
        parseGeneralNames(v, f, 'cRLDistributionPoints.cRLIssuer');
        dp.hasCrlIssuer = true;
      } else throw new DerError('cRLDistributionPoints: unexpected content');
    }
    out.push(dp);
  }
  if (out.length === 0) throw new DerError('cRLDistributionPoints: empty');
  return out;
}

function parseCertificatePolicies(v: Uint8Array): PolicyInfo[] {
  const out: PolicyInfo[] = [];
  const seen = new Set<string>();
  for (const p of sequence(v, readSingle(v, 'certificatePolicies'), 'certificatePolicies')) {
    const parts = sequence(v, p, 'certificatePolicies');
    if (parts.length < 1 || parts.length > 2) throw new DerError('certificatePolicies: malformed PolicyInformation');
    const oid = readOid(v, parts[0], 'certificatePolicies');
    if (parts[1]) expectUniversal(parts[1], T.SEQUENCE, 'certificatePolicies.policyQualifiers');
    if (seen.has(oid)) throw new DerError('certificatePolicies: duplicate policy');
    seen.add(oid);
    out.push({ oid });
  }
  if (out.length === 0) throw new DerError('certificatePolicies: empty');
  return out;
}

function parsePolicyConstraints(v: Uint8Array): PolicyConstraints {
  const parts = sequence(v, readSingle(v, 'policyConstraints'), 'policyConstraints');
  const pc: PolicyConstraints = {};
  for (const p of parts) {
    if (isContext(p, 0) && pc.requireExplicitPolicy === undefined) pc.requireExplicitPolicy = readSmallInt(v, p, 'policyConstraints');
    else if (isContext(p, 1) && pc.inhibitPolicyMapping === undefined) pc.inhibitPolicyMapping = readSmallInt(v, p, 'policyConstraints');
    else throw new DerError('policyConstraints: unexpected content');
  }
  if (pc.requireExplicitPolicy === undefined && pc.inhibitPolicyMapping === undefined) throw new DerError('policyConstraints: empty');
  return pc;
}

function parsePolicyMappings(v: Uint8Array): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const p of sequence(v, readSingle(v, 'policyMappings'), 'policyMappings')) {
    const parts = sequence(v, p, 'policyMappings');
    if (parts.length !== 2) throw new DerError('policyMappings: malformed mapping');
    out.push([readOid(v, parts[0], 'policyMappings'), readOid(v, parts[1], 'policyMappings')]);
  }
  if (out.length === 0) throw new DerError('policyMappings: empty');
  return out;
}

function parsed<V>(ext: Extension, fn: (v: Uint8Array) => V): Parsed<V> {
  try {
    return { ok: true, value: fn(ext.value), critical: ext.critical };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e), critical: ext.critical };
  }
}

// ---------------------------------------------------------------------------------------

// Parsed certificates are immutable and a pure function of their DER, so they are shared
// across verifications (bounded), keyed by SHA-256: trust anchors, intermediates and
// re-submitted chains are parsed once, and the per-certificate caches keyed by the parsed
// object (public key, key info, self-signature) then hit across requests too.
const parsedCache = new Lru<Certificate>(4096);
const CACHEABLE_BYTES = 64 * 1024;

/** Parses a DER certificate (throws `DerError` on structural damage); results are shared. */
export function parseCertificate(der: Uint8Array): Certificate {
  const fingerprint = createHash('sha256').update(der).digest('hex');
  const hit = parsedCache.get(fingerprint);
  if (hit) return hit;
  if (der.length > CACHEABLE_BYTES) return decodeCertificate(der, fingerprint);
  // Parse a private copy: a cached certificate must not pin the request buffer it came in.
  const cert = decodeCertificate(der.slice(), fingerprint);
  parsedCache.set(fingerprint, cert);
  return cert;
}

function decodeCertificate(der: Uint8Array, fingerprint: string): Certificate {
  const top = readSingle(der, 'certificate');
  const parts = sequence(der, top, 'certificate');
  if (parts.length !== 3) throw new DerError('certificate: expected tbsCertificate, signatureAlgorithm and signatureValue');
  const [tbsTlv, sigAlgTlv, sigTlv] = parts;
  const tbsParts = sequence(der, tbsTlv, 'tbsCertificate');
  const problems: string[] = [];
  let i = 0;
  let version = 0;
  if (tbsParts[i] && isContext(tbsParts[i], 0) && tbsParts[i].constructed) {
    const inner = children(der, tbsParts[i]);
    if (inner.length !== 1) throw new DerError('tbsCertificate: malformed version');
    version = readSmallInt(der, inner[0], 'version');
    if (version > 2) throw new DerError('tbsCertificate: unknown version');
    i++;
  }
  const need = (what: string) => {
    const t = tbsParts[i++];
    if (!t) throw new DerError(`tbsCertificate: missing ${what}`);
    return t;
  };
  const serial = readIntegerBytes(der, need('serialNumber'), 'serialNumber');
  const tbsSignatureAlg = parseAlgorithmId(der, need('signature'), 'signature');
  const issuer = parseName(der, need('issuer'), 'issuer');
  const validity = sequence(der, need('validity'), 'validity');
  if (validity.length !== 2) throw new DerError('validity: expected notBefore and notAfter');
  const notBefore = readTime(der, validity[0], 'notBefore');
  const notAfter = readTime(der, validity[1], 'notAfter');
  const subject = parseName(der, need('subject'), 'subject');
  const spkiTlv = need('subjectPublicKeyInfo');
  const spkiParts = sequence(der, spkiTlv, 'subjectPublicKeyInfo');
  if (spkiParts.length !== 2) throw new DerError('subjectPublicKeyInfo: malformed');
  const spkiAlg = parseAlgorithmId(der, spkiParts[0], 'subjectPublicKeyInfo.algorithm');
  const publicKey = readBitString(der, spkiParts[1], 'subjectPublicKey').bytes;
  let extensions: Extension[] = [];
  let seenExtensions = false;
  for (; i < tbsParts.length; i++) {
    const t = tbsParts[i];
    if (isContext(t, 1) || isContext(t, 2)) {
      if (version < 1) problems.push('unique identifiers require a v2 or v3 certificate');
      continue;
    }
    if (isContext(t, 3) && t.constructed && !seenExtensions) {
      const inner = children(der, t);
      if (inner.length !== 1) throw new DerError('tbsCertificate: malformed extensions');
      extensions = parseExtensions(der, inner[0], 'extensions');
      seenExtensions = true;
      if (version !== 2) problems.push('extensions require a v3 certificate');
      if (extensions.length === 0) problems.push('extensions, when present, must not be empty');
      continue;
    }
    throw new DerError('tbsCertificate: unexpected field');
  }
  const sigAlg = parseAlgorithmId(der, sigAlgTlv, 'signatureAlgorithm');
  const sig = readBitString(der, sigTlv, 'signatureValue');

  const cert: Certificate = {
    der,
    tbs: raw(der, tbsTlv),
    version,
    serial,
    serialHex: serialToHex(serial),
    tbsSignatureAlg,
    signatureAlg: sigAlg,
    signature: sig.bytes,
    signatureUnusedBits: sig.unusedBits,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: raw(der, spkiTlv),
    spkiAlg,
    publicKey,
    extensions,
    problems,
    fingerprint,
    selfIssued: namesEqual(subject, issuer),
    entityKey: `${subject.key}|${hex(raw(der, spkiTlv))}`,
    ext: {},
  };

  const seen = new Set<string>();
  for (const e of extensions) {
    if (seen.has(e.oid)) problems.push(`duplicate extension ${e.oid}`);
    seen.add(e.oid);
    const x = cert.ext;
    switch (e.oid) {
      case EXT.basicConstraints:
        x.basicConstraints ??= parsed(e, parseBasicConstraints);
        break;
      case EXT.keyUsage:
        x.keyUsage ??= parsed(e, parseKeyUsage);
        break;
      case EXT.extKeyUsage:
        x.extKeyUsage ??= parsed(e, (v) => parseOidSequence(v, 'extKeyUsage'));
        break;
      case EXT.subjectAltName:
        x.subjectAltName ??= parsed(e, (v) => parseGeneralNames(v, readSingle(v, 'subjectAltName'), 'subjectAltName'));
        break;
      case EXT.issuerAltName:
        x.issuerAltName ??= parsed(e, (v) => parseGeneralNames(v, readSingle(v, 'issuerAltName'), 'issuerAltName'));
        break;
      case EXT.nameConstraints:
        x.nameConstraints ??= parsed(e, parseNameConstraints);
        break;
      case EXT.authorityKeyIdentifier:
        x.authorityKeyId ??= parsed(e, parseAuthorityKeyId);
        break;
      case EXT.subjectKeyIdentifier:
        x.subjectKeyId ??= parsed(e, (v) => readOctetString(v, readSingle(v, 'subjectKeyIdentifier'), 'subjectKeyIdentifier'));
        break;
      case EXT.authorityInfoAccess:
        x.authorityInfoAccess ??= parsed(e, parseAuthorityInfoAccess);
        break;
      case EXT.crlDistributionPoints:
        x.crlDistributionPoints ??= parsed(e, parseCrlDistributionPoints);
        break;
      case EXT.certificatePolicies:
        x.certificatePolicies ??= parsed(e, parseCertificatePolicies);
        break;
      case EXT.policyConstraints:
        x.policyConstraints ??= parsed(e, parsePolicyConstraints);
        break;
      case EXT.policyMappings:
        x.policyMappings ??= parsed(e, parsePolicyMappings);
        break;
      case EXT.inhibitAnyPolicy:
        x.inhibitAnyPolicy ??= parsed(e, (v) => readSmallInt(v, readSingle(v, 'inhibitAnyPolicy'), 'inhibitAnyPolicy'));
        break;
      default:
        break;
    }
  }
  for (const [name, p] of Object.entries(cert.ext)) {
    if (p && !p.ok) problems.push(`malformed ${name} extension: ${p.error}`);
  }
  if (!bytesEqual(tbsSignatureAlg.der, sigAlg.der)) problems.push('signatureAlgorithm does not match the tbsCertificate signature field');
  return cert;
}

/** Lower-case hex of the serial's magnitude bytes (a single DER sign octet is dropped). */
export function serialToHex(serial: Uint8Array): string {
  const s = serial.length > 1 && serial[0] === 0 ? serial.subarray(1) : serial;
  return hex(s);
}

export { hex };
