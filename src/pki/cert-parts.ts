/**
 * Certificate plumbing shared by the CRL and OCSP builders (`crl.ts`, `ocsp.ts`):
 * serial-number INTEGERs (hot path of the CRL builder), extensions, names as text, PEM
 * input, and the parts of an issuer certificate they need. It re-exports the DER module,
 * so the builders use one `der` namespace.
 */
import { DomainError } from '../errors.js';
import { DerError, type Tlv, bool, children, content, ctxPrim, expect, octets, raw, readOid, readWhole, seq } from './der.js';
import { DerError as VerifyDerError, readTlv } from './verify/der.js';
import { formatName, parseName } from './verify/names.js';
import { canonicalSerialHex } from './x509.js';

export * from './der.js';

export function extension(oidDer: Buffer, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oidDer, bool(true), octets(value)) : seq(oidDer, octets(value));
}

/** GeneralNames holding URIs ([6] IA5String each). */
export function uriGeneralNames(urls: readonly string[]): Buffer[] {
  return urls.map((u) => {
    // IA5String: 7-bit ASCII only; an IRI must be converted to a URI by the caller.
    if (!u || !/^[\x20-\x7e]+$/.test(u)) throw new DomainError('bad_request', `URL must be non-empty printable ASCII: ${JSON.stringify(u)}`);
    return ctxPrim(6, Buffer.from(u, 'ascii'));
  });
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

/**
 * Write a serial number (hex, either case, odd length and leading zeros allowed) as a
 * DER INTEGER at `pos`; returns the new position, or -1 if `hex` is not a valid
 * positive serial of at most 20 octets of magnitude. Hot path of the CRL builder.
 */
export function writeSerial(buf: Buffer, pos: number, hex: string): number {
  const len = hex.length;
  let i = 0;
  while (i < len - 1 && hex.charCodeAt(i) === 0x30) i++;
  const digits = len - i;
  if (digits === 0 || digits > 40) return -1;
  const bytes = (digits + 1) >> 1;
  // The first nibble decides whether a 0x00 sign octet is needed.
  const c0 = hex.charCodeAt(i);
  const n0 = c0 < 128 ? HEX[c0] : -1;
  if (n0 < 0) return -1;
  const firstByte = digits & 1 ? n0 : (n0 << 4) | 0;
  const sign = !(digits & 1) && firstByte >= 0x80 ? 1 : 0;
  buf[pos++] = 0x02;
  buf[pos++] = bytes + sign;
  if (sign) buf[pos++] = 0;
  let j = i;
  if (digits & 1) {
    buf[pos++] = n0;
    j++;
  }
  for (; j < len; j += 2) {
    const a = hex.charCodeAt(j);
    const b = hex.charCodeAt(j + 1);
    const hi = a < 128 ? HEX[a] : -1;
    const lo = b < 128 ? HEX[b] : -1;
    if (hi < 0 || lo < 0) return -1;
    buf[pos++] = (hi << 4) | lo;
  }
  return pos;
}

/** A serial number (see `writeSerial`) as a DER INTEGER, or throws a DomainError. */
export function serialInteger(hex: string): Buffer {
  const tmp = Buffer.alloc(24);
  const end = typeof hex === 'string' ? writeSerial(tmp, 0, hex) : -1;
  if (end < 0) throw new DomainError('bad_request', `invalid serial number: ${JSON.stringify(hex)}`);
  return Buffer.from(tmp.subarray(0, end));
}

/** Canonical serial text used across Certa: lowercase hex, no leading zeros. */
export function serialHexOfInteger(content: Buffer): string {
  return canonicalSerialHex(content.toString('hex'));
}

/** RFC 4514 text of a DER Name (most significant RDN last), rendered as the path validator does. */
export function nameToString(buf: Buffer, name: Tlv): string {
  if (name.tag !== 0x30) throw new DerError('bad Name');
  try {
    return formatName(parseName(buf, readTlv(buf, name.start, name.end), 'Name'));
  } catch (e) {
    throw e instanceof VerifyDerError ? new DerError(e.message) : e;
  }
}

// ---------------------------------------------------------------------------------
// PEM
// ---------------------------------------------------------------------------------

export { pemEncode as toPem } from './pem.js';

/**
 * DER from a Buffer that is DER or PEM text, or from a PEM string. The first PEM block
 * whose label is in `labels` wins. Returns null if no such block is found.
 */
export function derFrom(input: Buffer | string, labels: readonly string[]): Buffer | null {
  if (Buffer.isBuffer(input)) {
    if (input.length && input[0] === 0x30) return input;
    input = input.toString('latin1');
  }
  if (typeof input !== 'string') return null;
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(input); m; m = re.exec(input)) {
    if (!labels.includes(m[1])) continue;
    const body = m[2].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return null;
    return Buffer.from(body, 'base64');
  }
  return null;
}

// ---------------------------------------------------------------------------------
// Certificates (just the parts CRL/OCSP need)
// ---------------------------------------------------------------------------------

export interface CertificateParts {
  der: Buffer;
  /** Exact DER of the subject Name. */
  subject: Buffer;
  /** Exact DER of the SubjectPublicKeyInfo. */
  spki: Buffer;
  /** The subjectPublicKey BIT STRING value without its unused-bits octet (OCSP key hashes). */
  publicKeyBits: Buffer;
  /** subjectKeyIdentifier value, if the certificate has one. */
  subjectKeyId?: Buffer;
  serialHex: string;
}

/** Parse a certificate (DER or PEM) into the parts CRL/OCSP building needs. */
export function certificateParts(input: Buffer | string): CertificateParts {
  const der = derFrom(input, ['CERTIFICATE']);
  if (!der) throw new DomainError('bad_certificate', 'expected a DER or PEM certificate');
  try {
    const cert = readWhole(der, 0x30, 'Certificate');
    const tbs = expect(der, cert.content, 0x30, cert.end, 'TBSCertificate');
    const f = children(der, tbs);
    let i = 0;
    if (f[i]?.tag === 0xa0) i++;
    const serial = f[i++];
    if (serial?.tag !== 0x02) throw new DerError('bad serial');
    i++; // signature
    i++; // issuer
    i++; // validity
    const subject = f[i++];
    const spki = f[i++];
    if (subject?.tag !== 0x30 || spki?.tag !== 0x30) throw new DerError('bad subject or SPKI');
    const [, bits] = children(der, spki);
    if (bits?.tag !== 0x03 || bits.end - bits.content < 2 || der[bits.content] !== 0) throw new DerError('bad subjectPublicKey');
    let subjectKeyId: Buffer | undefined;
    const exts = f.find((x) => x.tag === 0xa3);
    if (exts) {
      const list = expect(der, exts.content, 0x30, exts.end, 'Extensions');
      for (const e of children(der, list)) {
        const parts = children(der, e);
        if (readOid(der, parts[0]) !== '2.5.29.14') continue;
        const value = parts[parts.length - 1];
        const keyId = expect(der, value.content, 0x04, value.end, 'SubjectKeyIdentifier');
        subjectKeyId = Buffer.from(content(der, keyId));
      }
    }
    return {
      der,
      subject: Buffer.from(raw(der, subject)),
      spki: Buffer.from(raw(der, spki)),
      publicKeyBits: Buffer.from(der.subarray(bits.content + 1, bits.end)),
      subjectKeyId,
      serialHex: serialHexOfInteger(content(der, serial)),
    };
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw new DomainError('bad_certificate', `malformed certificate: ${(e as Error).message}`);
  }
}
