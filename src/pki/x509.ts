/**
 * X.509 building blocks for authorities and issuance: keys, names, certificate building
 * (hand-rolled DER: ASN.1 object models cost more than the signature), parsing, CSRs,
 * name constraints. Pure: no HTTP, no database; time and keys are parameters.
 */
import 'reflect-metadata';
import {
  X509Certificate as NodeX509,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCb,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { DomainError, badCertificate, badCsr, badKey, type FieldError } from '../errors.js';
import * as der from './der.js';
import { pemDecodeAll, pemEncode } from './pem.js';
import { decryptPkcs8 } from './pkcs8.js';
import { ipInCidr, ipToBigInt, parseCidr, type KeyAlgorithm, type Sans, type Usage } from './names.js';

x509.cryptoProvider.set(webcrypto as any);

export { buildPkcs12 } from './pkcs12.js';

const generateKeyPairAsync = promisify(generateKeyPairCb);

export interface Subject {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
  locality?: string;
  state?: string;
}

export interface NameConstraints {
  permittedDns?: string[];
  excludedDns?: string[];
  permittedIp?: string[];
  excludedIp?: string[];
  permittedEmail?: string[];
  excludedEmail?: string[];
}

const OID = {
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
  crlDp: '2.5.29.31',
  nameConstraints: '2.5.29.30',
  aia: '1.3.6.1.5.5.7.1.1',
  ocsp: '1.3.6.1.5.5.7.48.1',
  caIssuers: '1.3.6.1.5.5.7.48.2',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
};

const EKU_NAMES: Record<string, string> = {
  [OID.serverAuth]: 'serverAuth',
  [OID.clientAuth]: 'clientAuth',
  [OID.codeSigning]: 'codeSigning',
  [OID.emailProtection]: 'emailProtection',
  [OID.ocspSigning]: 'OCSPSigning',
};

// ---------------------------------------------------------------- keys

export async function generateKeyPair(alg: KeyAlgorithm): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  // node:crypto's async generateKeyPair runs on the libuv threadpool: RSA-4096 does not block the event loop.
  switch (alg) {
    case 'ecdsa-p256':
      return generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
    case 'ecdsa-p384':
      return generateKeyPairAsync('ec', { namedCurve: 'secp384r1' });
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return generateKeyPairAsync('rsa', { modulusLength: Number(alg.slice(4)), publicExponent: 0x10001 });
    case 'ed25519':
      return generateKeyPairAsync('ed25519');
  }
}

/** The largest RSA key accepted (CSRs, imported keys). */
export const MAX_RSA_BITS = 8192;

/** The algorithm name of a key, or null with a description of why it is not acceptable. */
export function keyAlgorithmOf(key: KeyObject): { algorithm: KeyAlgorithm | null; description: string; bits: number | null } {
  const t = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (t === 'ec') {
    if (d.namedCurve === 'prime256v1') return { algorithm: 'ecdsa-p256', description: 'ECDSA P-256', bits: 256 };
    if (d.namedCurve === 'secp384r1') return { algorithm: 'ecdsa-p384', description: 'ECDSA P-384', bits: 384 };
    return { algorithm: null, description: `ECDSA on curve ${d.namedCurve ?? 'unknown'} (supported: P-256, P-384)`, bits: null };
  }
  if (t === 'rsa') {
    const bits = d.modulusLength ?? 0;
    const e = d.publicExponent ?? 0n;
    if (bits < 2048) return { algorithm: null, description: `RSA ${bits}-bit is too weak (minimum 2048)`, bits };
    // Beyond 8192 bits each signature costs the event loop too much, and Go's TLS refuses them.
    if (bits > MAX_RSA_BITS) return { algorithm: null, description: `RSA ${bits}-bit is too large (maximum ${MAX_RSA_BITS})`, bits };
    // e = 1 makes the "signature" the padded message itself: anyone can forge proof of
    // possession, and the key protects nothing. CA/B BR 6.1.6: odd, 3 <= e < 2^256.
    if (e < 3n || e % 2n === 0n || e >= 1n << 256n) return { algorithm: null, description: `RSA public exponent ${e > 1n << 64n ? 'of ' + e.toString(2).length + ' bits' : e} is not acceptable (odd, at least 3, below 2^256)`, bits };
    const alg = bits >= 4096 ? 'rsa-4096' : bits >= 3072 ? 'rsa-3072' : 'rsa-2048';
    return { algorithm: bits === 2048 || bits === 3072 || bits === 4096 ? alg : alg, description: `RSA ${bits}-bit`, bits };
  }
  if (t === 'ed25519') return { algorithm: 'ed25519', description: 'Ed25519', bits: 256 };
  return { algorithm: null, description: `${t ?? 'unknown'} keys are not supported`, bits: null };
}

export function exportPrivateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}

/**
 * PKCS#8 (optionally encrypted), SEC1 or PKCS#1 PEM. Bad input is a 400, never a crash.
 * Encrypted PKCS#8 is decrypted with its (bounded) KDF off the event loop: see pkcs8.ts.
 */
export async function parsePrivateKey(pem: string, passphrase?: string): Promise<KeyObject> {
  if (/ENCRYPTED PRIVATE KEY/.test(pem) && !passphrase) throw new DomainError('bad_key', 'the private key is encrypted: give its passphrase', [{ field: '/body/passphrase', message: 'required for an encrypted key' }]);
  let key: KeyObject;
  const encrypted = pemDecodeAll(pem, 'ENCRYPTED PRIVATE KEY');
  if (encrypted.length) key = await decryptPkcs8(encrypted[0], passphrase!);
  else {
    try {
      key = createPrivateKey({ key: pem, format: 'pem', passphrase });
    } catch (e) {
      const msg = String((e as Error).message);
      if (/bad decrypt|passphrase/i.test(msg)) throw new DomainError('bad_key', 'the passphrase does not decrypt the private key', [{ field: '/body/passphrase', message: 'wrong passphrase' }]);
      throw badKey('privateKeyPem is not a readable PEM private key (PKCS#8, encrypted PKCS#8, SEC1 or PKCS#1)');
    }
  }
  const a = keyAlgorithmOf(key);
  if (!a.algorithm) throw new DomainError('weak_key', `unsupported private key: ${a.description}`, [{ field: '/body/privateKeyPem', message: a.description }]);
  return key;
}

export function keyMatchesCertificate(privateKey: KeyObject, certDer: Buffer): boolean {
  const pub = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }) as Buffer;
  return pub.equals(spkiOf(certDer));
}

// ---------------------------------------------------------------- PEM

export { pemDecodeAll, pemEncode };

// ---------------------------------------------------------------- names

const RDN_ORDER: Array<[keyof Subject, string]> = [
  ['country', OID.C],
  ['state', OID.ST],
  ['locality', OID.L],
  ['organization', OID.O],
  ['organizationalUnit', OID.OU],
  ['commonName', OID.CN],
];

export function nameDer(s: Subject): Buffer {
  const rdns: Buffer[] = [];
  for (const [field, o] of RDN_ORDER) {
    const v = s[field];
    if (v === undefined || v === '') continue;
    rdns.push(der.set(der.seq(der.oid(o), field === 'country' ? der.printable(v) : der.utf8(v))));
  }
  return der.seq(...rdns);
}

export function subjectToString(s: Subject): string {
  const abbrev: Record<string, string> = { country: 'C', state: 'ST', locality: 'L', organization: 'O', organizationalUnit: 'OU', commonName: 'CN' };
  return RDN_ORDER.filter(([f]) => s[f])
    .map(([f]) => `${abbrev[f]}=${s[f]}`)
    .join(', ');
}

// ---------------------------------------------------------------- certificate fields by position

interface CertParts {
  tbs: der.Tlv;
  serial: der.Tlv;
  issuer: der.Tlv;
  subject: der.Tlv;
  spki: der.Tlv;
  extensions: der.Tlv | null;
}

function certParts(cert: Buffer): CertParts {
  const top = der.read(cert);
  const [tbs] = der.children(cert, top);
  const f = der.children(cert, tbs);
  let i = f[0].tag === 0xa0 ? 1 : 0;
  const serial = f[i++];
  i++; // signature algorithm
  const issuer = f[i++];
  i++; // validity
  const subject = f[i++];
  const spki = f[i++];
  const ext = f.slice(i).find((t) => t.tag === 0xa3) ?? null;
  return { tbs, serial, issuer, subject, spki, extensions: ext };
}

export function spkiOf(cert: Buffer): Buffer {
  return der.raw(cert, certParts(cert).spki);
}

function subjectDerOf(cert: Buffer): Buffer {
  return der.raw(cert, certParts(cert).subject);
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 4.2.1.2 method 1). */
export function keyIdentifier(spki: Buffer): Buffer {
  const top = der.read(spki);
  const [, bits] = der.children(spki, top);
  return createHash('sha1').update(spki.subarray(bits.content + 1, bits.end)).digest();
}

function extensionValue(cert: Buffer, oidDotted: string): Buffer | null {
  const { extensions } = certParts(cert);
  if (!extensions) return null;
  const want = der.oid(oidDotted);
  const list = der.children(cert, extensions)[0];
  for (const e of der.children(cert, list)) {
    const parts = der.children(cert, e);
    if (der.raw(cert, parts[0]).equals(want)) return der.content(cert, parts[parts.length - 1]);
  }
  return null;
}

function issuerKeyId(issuerCert: Buffer): Buffer {
  const ski = extensionValue(issuerCert, OID.ski);
  if (ski) return der.content(ski, der.read(ski));
  return keyIdentifier(spkiOf(issuerCert));
}

// ---------------------------------------------------------------- building

export interface BuildParams {
  subject: Subject;
  /** The certified public key. */
  publicKey: KeyObject;
  /** Self-signed (roots), or signed by a CA certificate + key held here. */
  issuer: { self: true; privateKey: KeyObject } | { certificateDer: Buffer; privateKey: KeyObject };
  notBefore: Date;
  notAfter: Date;
  /** CA certificate: basicConstraints cA, keyCertSign + cRLSign, optional pathLen and name constraints. */
  ca?: { pathLength: number | null; nameConstraints: NameConstraints | null };
  /** Leaf: SANs and usage (key usages and EKUs). */
  sans?: Sans;
  usage?: Usage | 'ocsp-signing';
  crlUrl?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
  /** id-pkix-ocsp-nocheck (delegated OCSP responders). */
  ocspNoCheck?: boolean;
  /** Hex serial; a random 127-bit one by default. */
  serialHex?: string;
}

export interface Built {
  der: Buffer;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
}

/** >= 64 bits from a CSPRNG (RFC 5280 / CA/B: we use 127), positive, minimal DER. */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 0x01;
  return b;
}

/** The one text form of a serial number across Certa: lowercase hex, no leading zeros. */
export function canonicalSerialHex(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

export function serialHexOf(bytes: Buffer): string {
  return canonicalSerialHex(bytes.toString('hex'));
}

function signatureAlgorithm(key: KeyObject): { algId: Buffer; hash: string | null } {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp384r1') return { algId: der.seq(der.oid('1.2.840.10045.4.3.3')), hash: 'sha384' };
    if (curve === 'secp521r1') return { algId: der.seq(der.oid('1.2.840.10045.4.3.4')), hash: 'sha512' };
    return { algId: der.seq(der.oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
  }
  if (t === 'rsa') return { algId: der.seq(der.oid('1.2.840.113549.1.1.11'), der.nul()), hash: 'sha256' };
  if (t === 'ed25519') return { algId: der.seq(der.oid('1.3.101.112')), hash: null };
  throw badKey(`cannot sign with a ${t} key`);
}

export function signWith(key: KeyObject, data: Buffer): { algId: Buffer; signature: Buffer } {
  const { algId, hash } = signatureAlgorithm(key);
  return { algId, signature: cryptoSign(hash, data, key) };
}

function ext(oidDotted: string, critical: boolean, value: Buffer): Buffer {
  return critical ? der.seq(der.oid(oidDotted), der.bool(true), der.octets(value)) : der.seq(der.oid(oidDotted), der.octets(value));
}

/** KeyUsage bits as a DER BIT STRING (named bits: trailing zeros trimmed). */
function keyUsageBits(bits: number[]): Buffer {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  if (v === 0) return der.bitString(Buffer.alloc(0));
  let unused = 0;
  while (!(v & (1 << unused))) unused++;
  return der.bitString(Buffer.from([v]), unused);
}

function ipBytes(ip: string): Buffer {
  const v = ipToBigInt(ip)!;
  const n = v.family === 4 ? 4 : 16;
  return Buffer.from(v.value.toString(16).padStart(n * 2, '0'), 'hex');
}

function cidrBytes(cidr: string): Buffer {
  const c = parseCidr(cidr);
  if (!c) throw new DomainError('bad_request', `"${cidr}" is not a CIDR range`);
  const n = c.family === 4 ? 4 : 16;
  const max = n * 8;
  const mask = ((1n << BigInt(c.bits)) - 1n) << BigInt(max - c.bits);
  return Buffer.concat([Buffer.from(c.base.toString(16).padStart(n * 2, '0'), 'hex'), Buffer.from(mask.toString(16).padStart(n * 2, '0'), 'hex')]);
}

function generalNames(s: Sans): Buffer[] {
  return [
    ...s.dns.map((d) => der.ctxPrim(2, Buffer.from(d, 'ascii'))),
    ...s.ip.map((ip) => der.ctxPrim(7, ipBytes(ip))),
    ...s.email.map((e) => der.ctxPrim(1, Buffer.from(e, 'ascii'))),
    ...s.uri.map((u) => der.ctxPrim(6, Buffer.from(u, 'ascii'))),
  ];
}

function nameConstraintsValue(nc: NameConstraints): Buffer {
  const subtrees = (dns?: string[], ip?: string[], email?: string[]) => [
    ...(dns ?? []).map((d) => der.seq(der.ctxPrim(2, Buffer.from(d, 'ascii')))),
    ...(ip ?? []).map((c) => der.seq(der.ctxPrim(7, cidrBytes(c)))),
    ...(email ?? []).map((e) => der.seq(der.ctxPrim(1, Buffer.from(e, 'ascii')))),
  ];
  const permitted = subtrees(nc.permittedDns, nc.permittedIp, nc.permittedEmail);
  const excluded = subtrees(nc.excludedDns, nc.excludedIp, nc.excludedEmail);
  return der.seq(...(permitted.length ? [der.ctx(0, ...permitted)] : []), ...(excluded.length ? [der.ctx(1, ...excluded)] : []));
}

const USAGES: Record<Usage | 'ocsp-signing', { ku: (rsa: boolean) => number[]; eku: string[] }> = {
  server: { ku: (rsa) => (rsa ? [0, 2] : [0]), eku: [OID.serverAuth] },
  client: { ku: () => [0], eku: [OID.clientAuth] },
  'server-client': { ku: (rsa) => (rsa ? [0, 2] : [0]), eku: [OID.serverAuth, OID.clientAuth] },
  'code-signing': { ku: () => [0], eku: [OID.codeSigning] },
  email: { ku: (rsa) => (rsa ? [0, 2] : [0]), eku: [OID.emailProtection] },
  'ocsp-signing': { ku: () => [0], eku: [OID.ocspSigning] },
};

export async function buildCertificate(p: BuildParams): Promise<Built> {
  const spki = p.publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
  const serial = p.serialHex ? Buffer.from(p.serialHex.length % 2 ? '0' + p.serialHex : p.serialHex, 'hex') : randomSerial();
  const self = 'self' in p.issuer;
  const issuerName = self ? nameDer(p.subject) : subjectDerOf((p.issuer as { certificateDer: Buffer }).certificateDer);
  const ski = keyIdentifier(spki);
  const aki = self ? ski : issuerKeyId((p.issuer as { certificateDer: Buffer }).certificateDer);
  // Validity is written with second precision; keep the reported times identical.
  const nb = new Date(Math.floor(p.notBefore.getTime() / 1000) * 1000);
  const na = new Date(Math.floor(p.notAfter.getTime() / 1000) * 1000);

  const exts: Buffer[] = [];
  if (p.ca) {
    exts.push(ext(OID.basicConstraints, true, der.seq(der.bool(true), ...(p.ca.pathLength !== null && p.ca.pathLength !== undefined ? [der.integer(p.ca.pathLength)] : []))));
    exts.push(ext(OID.keyUsage, true, keyUsageBits([0, 5, 6])));
  } else {
    const usage = USAGES[p.usage ?? 'server'];
    exts.push(ext(OID.basicConstraints, true, der.seq()));
    exts.push(ext(OID.keyUsage, true, keyUsageBits(usage.ku(p.publicKey.asymmetricKeyType === 'rsa'))));
    exts.push(ext(OID.extKeyUsage, false, der.seq(...usage.eku.map(der.oid))));
  }
  exts.push(ext(OID.ski, false, der.octets(ski)));
  exts.push(ext(OID.aki, false, der.seq(der.ctxPrim(0, aki))));
  if (p.sans) {
    const names = generalNames(p.sans);
    // With an empty subject the SAN must be critical (RFC 5280 4.2.1.6).
    if (names.length) exts.push(ext(OID.subjectAltName, !p.subject.commonName, der.seq(...names)));
  }
  if (p.ca?.nameConstraints && Object.values(p.ca.nameConstraints).some((v) => v?.length)) {
    exts.push(ext(OID.nameConstraints, true, nameConstraintsValue(p.ca.nameConstraints)));
  }
  if (p.crlUrl) exts.push(ext(OID.crlDp, false, der.seq(der.seq(der.ctx(0, der.ctx(0, der.ctxPrim(6, Buffer.from(p.crlUrl, 'ascii'))))))));
  if (p.ocspUrl || p.caIssuersUrl) {
    const ads: Buffer[] = [];
    if (p.ocspUrl) ads.push(der.seq(der.oid(OID.ocsp), der.ctxPrim(6, Buffer.from(p.ocspUrl, 'ascii'))));
    if (p.caIssuersUrl) ads.push(der.seq(der.oid(OID.caIssuers), der.ctxPrim(6, Buffer.from(p.caIssuersUrl, 'ascii'))));
    exts.push(ext(OID.aia, false, der.seq(...ads)));
  }
  if (p.ocspNoCheck) exts.push(ext(OID.ocspNoCheck, false, der.nul()));

  const { algId } = signatureAlgorithm(p.issuer.privateKey);
  const tbs = der.seq(
    der.ctx(0, der.integer(2)),
    der.uint(serial),
    algId,
    issuerName,
    der.seq(der.time(nb), der.time(na)),
    nameDer(p.subject),
    spki,
    der.ctx(3, der.seq(...exts)),
  );
  const { signature } = signWith(p.issuer.privateKey, tbs);
  const cert = der.seq(tbs, algId, der.bitString(signature));
  return {
    der: cert,
    serialHex: serialHexOf(serial),
    notBefore: nb.toISOString(),
    notAfter: na.toISOString(),
    fingerprintSha256: createHash('sha256').update(cert).digest('hex'),
  };
}

// ---------------------------------------------------------------- parsing

export interface CertificateInfo {
  subject: Record<string, string>;
  subjectDn: string;
  issuerDn: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  skiHex: string | null;
  akiHex: string | null;
  fingerprintSha256: string;
  fingerprintSha1: string;
  isCa: boolean;
  pathLength: number | null;
  keyAlgorithm: KeyAlgorithm | null;
  keySize: number | null;
  keyUsages: string[];
  extendedKeyUsages: string[];
  sans: Sans;
  nameConstraints: NameConstraints | null;
}

const infoCache = new Map<string, CertificateInfo>();

export function parseCertificate(input: Buffer | string): CertificateInfo {
  let bytes: Buffer;
  if (typeof input === 'string') {
    const ders = pemDecodeAll(input, 'CERTIFICATE');
    if (!ders.length) throw badCertificate('no PEM CERTIFICATE block found');
    bytes = ders[0];
  } else bytes = input;
  const fp = createHash('sha256').update(bytes).digest('hex');
  const cached = infoCache.get(fp);
  if (cached) return cached;
  // Node's parser plus our DER walker: ten times faster than a full ASN.1 object model,
  // and this runs on every issuance and every certificate shown.
  let n: NodeX509;
  let info: CertificateInfo;
  try {
    n = new NodeX509(bytes);
    const bc = extensionValue(bytes, OID.basicConstraints);
    let pathLength: number | null = null;
    if (bc) for (const t of der.children(bc, der.read(bc))) if (t.tag === 0x02) pathLength = Number(BigInt('0x' + (der.content(bc, t).toString('hex') || '0')));
    const ku = extensionValue(bytes, OID.keyUsage);
    const kuBits = ku ? der.content(ku, der.read(ku)).subarray(1) : Buffer.alloc(0);
    const kuNames = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
    const ski = extensionValue(bytes, OID.ski);
    const aki = extensionValue(bytes, OID.aki);
    const akiId = aki ? der.children(aki, der.read(aki)).find((t) => t.tag === 0x80) : undefined;
    const alg = keyAlgorithmOf(n.publicKey);
    info = {
      subject: subjectFields(n.subject),
      subjectDn: n.subject.split('\n').join(', '),
      issuerDn: n.issuer.split('\n').join(', '),
      serialHex: canonicalSerialHex(n.serialNumber),
      notBefore: new Date(n.validFrom).toISOString(),
      notAfter: new Date(n.validTo).toISOString(),
      skiHex: ski ? der.content(ski, der.read(ski)).toString('hex') : null,
      akiHex: aki && akiId ? der.content(aki, akiId).toString('hex') : null,
      fingerprintSha256: fp,
      fingerprintSha1: createHash('sha1').update(bytes).digest('hex'),
      isCa: n.ca,
      pathLength: n.ca ? pathLength : null,
      keyAlgorithm: alg.algorithm,
      keySize: alg.bits,
      keyUsages: kuNames.filter((_, i) => (kuBits[i >> 3] ?? 0) & (0x80 >> (i & 7))),
      extendedKeyUsages: (n.keyUsage ?? []).map((u) => EKU_NAMES[u] ?? u),
      sans: sansOf(extensionValue(bytes, OID.subjectAltName)),
      nameConstraints: parseNameConstraints(bytes),
    };
  } catch {
    throw badCertificate('not a parseable X.509 certificate');
  }
  if (infoCache.size > 5000) infoCache.clear();
  infoCache.set(fp, info);
  return info;
}

/** Node prints one RDN a line, `\\`-escaped (RFC 4514); map the usual attributes. */
function subjectFields(dn: string): Record<string, string> {
  const map: Record<string, string> = { CN: 'commonName', O: 'organization', OU: 'organizationalUnit', C: 'country', L: 'locality', ST: 'state' };
  const out: Record<string, string> = {};
  for (const line of dn.split('\n')) {
    const eq = line.indexOf('=');
    const key = map[line.slice(0, eq)];
    if (key && !(key in out)) out[key] = line.slice(eq + 1).replace(/\\(.)/g, '$1');
  }
  return out;
}

/** IPv6 in its canonical compressed form (RFC 5952), via the WHATWG URL serializer. */
function formatIpBytes(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups = (b.toString('hex').match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  return new URL(`http://[${groups}]`).hostname.slice(1, -1);
}

const GENERAL_NAME_TYPES = ['otherName', 'rfc822Name', 'dNSName', 'x400Address', 'directoryName', 'ediPartyName', 'uniformResourceIdentifier', 'iPAddress', 'registeredID'];

/**
 * GeneralNames of a subjectAltName value: dNSName [2], iPAddress [7], rfc822Name [1], URI [6].
 * With `bad`, every name that would be dropped or altered (another type, an address of the
 * wrong length, bytes outside printable ASCII, which 'ascii' decoding would silently change)
 * is reported to it instead: a CSR gets exactly the names it asks for, or a 400.
 */
function sansOf(v: Buffer | null, bad?: (why: string) => void): Sans {
  const sans: Sans = { dns: [], ip: [], email: [], uri: [] };
  if (!v) return sans;
  for (const g of der.children(v, der.read(v))) {
    const body = der.content(v, g);
    const t = g.tag & 0x1f;
    if (bad) {
      const type = GENERAL_NAME_TYPES[t] ?? `[${t}]`;
      if (![1, 2, 6, 7].includes(t)) bad(`${type} names are not supported`);
      else if (t === 7 && body.length !== 4 && body.length !== 16) bad(`an iPAddress of ${body.length} bytes (must be 4 or 16)`);
      else if (t !== 7 && body.some((b) => b < 0x21 || b > 0x7e)) bad(`a ${type} with bytes outside printable ASCII (IA5String; percent-encode or use A-labels)`);
    }
    if (t === 2) sans.dns.push(body.toString('ascii'));
    else if (t === 7 && (body.length === 4 || body.length === 16)) sans.ip.push(formatIpBytes(body));
    else if (t === 1) sans.email.push(body.toString('ascii'));
    else if (t === 6) sans.uri.push(body.toString('ascii'));
  }
  return sans;
}

function parseNameConstraints(cert: Buffer): NameConstraints | null {
  const v = extensionValue(cert, OID.nameConstraints);
  if (!v) return null;
  const nc: Required<NameConstraints> = { permittedDns: [], excludedDns: [], permittedIp: [], excludedIp: [], permittedEmail: [], excludedEmail: [] };
  for (const part of der.children(v, der.read(v))) {
    const permitted = (part.tag & 0x1f) === 0;
    for (const st of der.children(v, part)) {
      const [gn] = der.children(v, st);
      const val = der.content(v, gn);
      const t = gn.tag & 0x1f;
      if (t === 2) (permitted ? nc.permittedDns : nc.excludedDns).push(val.toString('ascii'));
      else if (t === 1) (permitted ? nc.permittedEmail : nc.excludedEmail).push(val.toString('ascii'));
      else if (t === 7) {
        const half = val.length / 2;
        const addr = val.subarray(0, half);
        const mask = val.subarray(half);
        const bits = [...mask].reduce((a, b) => a + b.toString(2).split('1').length - 1, 0);
        const ip = half === 4 ? [...addr].join('.') : (addr.toString('hex').match(/.{4}/g) ?? []).join(':');
        (permitted ? nc.permittedIp : nc.excludedIp).push(`${ip}/${bits}`);
      }
    }
  }
  return nc;
}

// ---------------------------------------------------------------- CSRs

export interface ParsedCsr {
  publicKey: KeyObject;
  keyAlgorithm: KeyAlgorithm | null;
  keyDescription: string;
  subject: Subject | null;
  sans: Sans | null;
}

export function parseCsr(text: string): ParsedCsr {
  // Step 1: PEM or base64 DER.
  let bytes: Buffer;
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const ders = [...pemDecodeAll(trimmed, 'CERTIFICATE REQUEST'), ...pemDecodeAll(trimmed, 'NEW CERTIFICATE REQUEST')];
    if (!ders.length) throw badCsr('the PEM is not a CERTIFICATE REQUEST');
    bytes = ders[0];
  } else {
    if (!/^[A-Za-z0-9+/=\s_-]+$/.test(trimmed)) throw badCsr('the csr is neither PEM nor base64 DER');
    bytes = Buffer.from(trimmed.replace(/\s+/g, ''), trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  }
  // Step 2: parse (DER walker: CertificationRequestInfo = version, subject, SPKI, [0] attributes).
  let publicKey: KeyObject;
  let subject: Partial<Subject>;
  let sans: Sans | null = null;
  const sanProblems: string[] = [];
  try {
    // The whole input is the request: bytes after it are refused, not ignored.
    const [info] = der.children(bytes, der.readWhole(bytes, 0x30, 'CertificationRequest'));
    const parts = der.children(bytes, info);
    publicKey = createPublicKey({ key: der.raw(bytes, parts[2]), format: 'der', type: 'spki' });
    subject = decodeSubject(bytes, parts[1]);
    const attributes = parts[3]?.tag === 0xa0 ? der.children(bytes, parts[3]) : [];
    for (const attr of attributes) {
      const [oidTlv, values] = der.children(bytes, attr);
      if (!der.raw(bytes, oidTlv).equals(EXTENSION_REQUEST)) continue;
      const [exts] = der.children(bytes, values);
      for (const e of der.children(bytes, exts)) {
        const f = der.children(bytes, e);
        if (!der.raw(bytes, f[0]).equals(SAN_OID)) continue;
        // A second subjectAltName replaced the first: its names were silently lost (RFC 5280 4.2: one instance).
        if (sans) sanProblems.push('more than one subjectAltName extension');
        sans = sansOf(der.content(bytes, f[f.length - 1]), (why) => sanProblems.push(why));
      }
    }
  } catch {
    throw badCsr('the csr is not a parseable PKCS#10 request');
  }
  if (sanProblems.length) throw new DomainError('bad_csr', `the CSR's subjectAltName has names that cannot be issued as asked: ${sanProblems[0]}`, [...new Set(sanProblems)].slice(0, 20).map((message) => ({ field: '/body/csr', message })));
  // Step 3: the key, then the signature (proof of possession).
  const alg = keyAlgorithmOf(publicKey);
  if (!alg.algorithm) throw new DomainError('weak_key', `the CSR's key is not acceptable: ${alg.description}`, [{ field: '/body/csr', message: alg.description }]);
  if (!verifyCsrSignature(bytes, publicKey)) throw badCsr('the CSR signature does not verify (no proof of possession of the key)');
  // Step 4: names are returned as found; the caller checks them against the profile, never trusts them.
  return { publicKey, keyAlgorithm: alg.algorithm, keyDescription: alg.description, subject: subject.commonName ? (subject as Subject) : null, sans };
}

const EXTENSION_REQUEST = der.oid('1.2.840.113549.1.9.14');
const SAN_OID = der.oid('2.5.29.17');
const NAME_ATTRIBUTES: Record<string, keyof Subject> = {
  [der.oid('2.5.4.3').toString('hex')]: 'commonName',
  [der.oid('2.5.4.10').toString('hex')]: 'organization',
  [der.oid('2.5.4.11').toString('hex')]: 'organizationalUnit',
  [der.oid('2.5.4.6').toString('hex')]: 'country',
  [der.oid('2.5.4.7').toString('hex')]: 'locality',
  [der.oid('2.5.4.8').toString('hex')]: 'state',
};

/** The usual attributes of a Name (first value of each wins); string types decoded by tag. */
function decodeSubject(buf: Buffer, name: der.Tlv): Partial<Subject> {
  const out: Partial<Subject> = {};
  for (const rdn of der.children(buf, name)) {
    for (const atv of der.children(buf, rdn)) {
      const [type, value] = der.children(buf, atv);
      const key = NAME_ATTRIBUTES[der.raw(buf, type).toString('hex')];
      if (!key || key in out) continue;
      const body = der.content(buf, value);
      out[key] = value.tag === 0x1e ? Buffer.from(body).swap16().toString('utf16le') : value.tag === 0x14 ? body.toString('latin1') : body.toString('utf8');
    }
  }
  return out;
}

/** Verify the CSR's self-signature with node:crypto (RSA PKCS#1 v1.5 / PSS, ECDSA, Ed25519). */
function verifyCsrSignature(csrDer: Buffer, publicKey: KeyObject): boolean {
  try {
    const top = der.read(csrDer);
    const [info, algId, sig] = der.children(csrDer, top);
    const algOid = der.children(csrDer, algId)[0];
    const o = der.raw(csrDer, algOid).toString('hex');
    const data = der.raw(csrDer, info);
    const signature = csrDer.subarray(sig.content + 1, sig.end);
    const byOid: Record<string, string | null> = {
      [der.oid('1.2.840.113549.1.1.11').toString('hex')]: 'sha256',
      [der.oid('1.2.840.113549.1.1.12').toString('hex')]: 'sha384',
      [der.oid('1.2.840.113549.1.1.13').toString('hex')]: 'sha512',
      [der.oid('1.2.840.10045.4.3.2').toString('hex')]: 'sha256',
      [der.oid('1.2.840.10045.4.3.3').toString('hex')]: 'sha384',
      [der.oid('1.2.840.10045.4.3.4').toString('hex')]: 'sha512',
      [der.oid('1.3.101.112').toString('hex')]: null,
    };
    const pssOid = der.oid('1.2.840.113549.1.1.10').toString('hex');
    if (o === pssOid) {
      // RSASSA-PSS: take the hash from the parameters (SHA-256 by default of what clients send).
      const params = der.raw(csrDer, algId).toString('hex');
      const hash = params.includes('608648016503040202') ? 'sha384' : params.includes('608648016503040203') ? 'sha512' : 'sha256';
      return cryptoVerify(hash, data, { key: publicKey, padding: 6, saltLength: -2 }, signature);
    }
    if (!(o in byOid)) return false;
    return cryptoVerify(byOid[o], data, publicKey, signature);
  } catch {
    return false;
  }
}


export async function createCsr(subject: Subject, privateKey: KeyObject, publicKey: KeyObject): Promise<string> {
  const spki = publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
  const info = der.seq(der.integer(0), nameDer(subject), spki, der.ctx(0));
  const { algId, signature } = signWith(privateKey, info);
  return pemEncode(der.seq(info, algId, der.bitString(signature)), 'CERTIFICATE REQUEST');
}

// ---------------------------------------------------------------- name constraints

function dnsWithin(name: string, base: string): boolean {
  const n = name.toLowerCase().replace(/^\*\./, '');
  const b = base.toLowerCase().replace(/^\./, '');
  return n === b || n.endsWith('.' + b);
}

function emailWithin(email: string, base: string): boolean {
  const e = email.toLowerCase();
  const b = base.toLowerCase();
  if (b.includes('@')) return e === b;
  const host = e.split('@')[1] ?? '';
  if (b.startsWith('.')) return host.endsWith(b);
  return host === b;
}

export function validateNameConstraints(nc: NameConstraints): void {
  const problems: FieldError[] = [];
  for (const key of ['permittedIp', 'excludedIp'] as const) {
    (nc[key] ?? []).forEach((c, i) => {
      if (!parseCidr(c)) problems.push({ field: `/body/nameConstraints/${key}/${i}`, message: `"${c}" is not a CIDR range` });
    });
  }
  for (const key of ['permittedDns', 'excludedDns'] as const) {
    (nc[key] ?? []).forEach((d, i) => {
      if (d.startsWith('.')) {
        // RFC 5280 4.2.1.10: the leading-period form is for URIs and mailboxes; verifiers
        // (Certa's included) treat it as a malformed dNSName constraint.
        problems.push({ field: `/body/nameConstraints/${key}/${i}`, message: `"${d}" starts with a period: a DNS constraint is a host name and already covers every name below it (write "${d.slice(1)}")` });
      } else if (!/^([a-z0-9-]+\.)*[a-z0-9-]+$/i.test(d)) problems.push({ field: `/body/nameConstraints/${key}/${i}`, message: `"${d}" is not a DNS name` });
    });
  }
  if (problems.length) throw new DomainError('bad_request', 'invalid name constraints', problems);
}

/** Does a child CA's permitted set fit in the parent's (and not reopen what it excludes)? */
export function constraintsWithin(child: NameConstraints, parent: NameConstraints | null): FieldError[] {
  if (!parent) return [];
  const out: FieldError[] = [];
  if (parent.permittedDns?.length) {
    if (!child.permittedDns?.length) out.push({ field: '/body/nameConstraints/permittedDns', message: `the parent only permits DNS names under ${parent.permittedDns.join(', ')}` });
    child.permittedDns?.forEach((d, i) => {
      if (!parent.permittedDns!.some((p) => dnsWithin(d, p))) out.push({ field: `/body/nameConstraints/permittedDns/${i}`, message: `${d} is outside the parent's permitted DNS names` });
    });
  }
  child.permittedDns?.forEach((d, i) => {
    if (parent.excludedDns?.some((x) => dnsWithin(d, x))) out.push({ field: `/body/nameConstraints/permittedDns/${i}`, message: `${d} is excluded by the parent` });
  });
  if (parent.permittedIp?.length) {
    if (!child.permittedIp?.length) out.push({ field: '/body/nameConstraints/permittedIp', message: `the parent only permits IP ranges ${parent.permittedIp.join(', ')}` });
    child.permittedIp?.forEach((c, i) => {
      const cc = parseCidr(c);
      const fits = cc && parent.permittedIp!.some((p) => {
        const pc = parseCidr(p);
        return pc && pc.family === cc.family && pc.bits <= cc.bits && ipInCidr(c.split('/')[0], p);
      });
      if (!fits) out.push({ field: `/body/nameConstraints/permittedIp/${i}`, message: `${c} is outside the parent's permitted ranges` });
    });
  }
  if (parent.permittedEmail?.length) {
    if (!child.permittedEmail?.length) out.push({ field: '/body/nameConstraints/permittedEmail', message: `the parent only permits emails ${parent.permittedEmail.join(', ')}` });
    child.permittedEmail?.forEach((e, i) => {
      const within = parent.permittedEmail!.some((p) => (e.includes('@') ? emailWithin(e, p) : dnsWithin(e.replace(/^\./, ''), p.replace(/^\./, '').replace(/^.*@/, ''))));
      if (!within) out.push({ field: `/body/nameConstraints/permittedEmail/${i}`, message: `${e} is outside the parent's permitted emails` });
    });
  }
  return out;
}

/** Leaf SANs against one CA's constraints (RFC 5280 4.2.1.10 semantics for DNS, IP, email). */
export function checkNamesAgainstConstraints(sans: Sans, nc: NameConstraints, caName: string): FieldError[] {
  const out: FieldError[] = [];
  sans.dns.forEach((d, i) => {
    if (nc.permittedDns?.length && !nc.permittedDns.some((p) => dnsWithin(d, p))) out.push({ field: `/body/sans/dns/${i}`, message: `${d} is outside the DNS names "${caName}" may certify (${nc.permittedDns.join(', ')})` });
    if (nc.excludedDns?.some((x) => dnsWithin(d, x))) out.push({ field: `/body/sans/dns/${i}`, message: `${d} is excluded for "${caName}"` });
  });
  sans.ip.forEach((ip, i) => {
    if (!isIP(ip)) return;
    const fam = isIP(ip);
    const permitted = (nc.permittedIp ?? []).filter((c) => parseCidr(c)?.family === fam);
    if (permitted.length && !permitted.some((c) => ipInCidr(ip, c))) out.push({ field: `/body/sans/ip/${i}`, message: `${ip} is outside the ranges "${caName}" may certify` });
    if ((nc.excludedIp ?? []).some((c) => ipInCidr(ip, c))) out.push({ field: `/body/sans/ip/${i}`, message: `${ip} is excluded for "${caName}"` });
  });
  sans.email.forEach((e, i) => {
    if (nc.permittedEmail?.length && !nc.permittedEmail.some((p) => emailWithin(e, p))) out.push({ field: `/body/sans/email/${i}`, message: `${e} is outside the emails "${caName}" may certify` });
    if (nc.excludedEmail?.some((x) => emailWithin(e, x))) out.push({ field: `/body/sans/email/${i}`, message: `${e} is excluded for "${caName}"` });
  });
  return out;
}

export function checkNamesAgainstCertificate(sans: Sans, caDer: Buffer, caName: string): FieldError[] {
  const nc = parseCertificate(caDer).nameConstraints;
  return nc ? checkNamesAgainstConstraints(sans, nc, caName) : [];
}
