/**
 * DER, PEM and certificate plumbing shared by the CRL and OCSP builders (`crl.ts`,
 * `ocsp.ts`). Writing is byte-exact concatenation of pre-sized buffers (no object
 * model: that is where CRL/OCSP speed is won); reading is a small strict reader whose
 * every failure is a `DerError`, which the public parsers turn into a DomainError.
 *
 * Named `crl-*` only because of file ownership; it is a generic DER helper and could
 * move to `src/pki/der.ts`.
 */
import { DomainError } from '../errors.js';

/** Internal structural error; public entry points convert it to a DomainError. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

// ---------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------

/** Size of the identifier + length octets for a content of `n` bytes (single-byte tags). */
export function headerLength(n: number): number {
  if (n < 0x80) return 2;
  if (n < 0x100) return 3;
  if (n < 0x10000) return 4;
  if (n < 0x1000000) return 5;
  return 6;
}

/** Write tag + length at `pos`; returns the position of the content. */
export function writeHeader(buf: Buffer, pos: number, tag: number, n: number): number {
  buf[pos++] = tag;
  if (n < 0x80) {
    buf[pos++] = n;
  } else if (n < 0x100) {
    buf[pos++] = 0x81;
    buf[pos++] = n;
  } else if (n < 0x10000) {
    buf[pos++] = 0x82;
    buf[pos++] = n >>> 8;
    buf[pos++] = n & 0xff;
  } else if (n < 0x1000000) {
    buf[pos++] = 0x83;
    buf[pos++] = n >>> 16;
    buf[pos++] = (n >>> 8) & 0xff;
    buf[pos++] = n & 0xff;
  } else {
    buf[pos++] = 0x84;
    buf.writeUInt32BE(n, pos);
    pos += 4;
  }
  return pos;
}

/** One TLV from its content parts, allocated once at its exact size. */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafe(headerLength(n) + n);
  let pos = writeHeader(out, 0, tag, n);
  for (const p of parts) pos += p.copy(out, pos);
  return out;
}

export const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
export const octets = (b: Buffer) => tlv(0x04, b);
/** Context-specific constructed [n] (EXPLICIT, or IMPLICIT of a constructed type). */
export const ctx = (n: number, ...parts: Buffer[]) => tlv(0xa0 | n, ...parts);
/** Context-specific primitive [n] IMPLICIT. */
export const ctxPrim = (n: number, b: Buffer) => tlv(0x80 | n, b);
export const bool = (v: boolean) => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const enumerated = (n: number) => Buffer.from([0x0a, 0x01, n]);

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A non-negative INTEGER. */
export function integer(n: bigint): Buffer {
  if (n < 0n) throw new DerError('negative INTEGER');
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let b = Buffer.from(hex, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

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
  return content.toString('hex').replace(/^0+(?=.)/, '');
}

/** True if `d` is a Date that DER can carry (year 1..9999). */
export function isEncodableDate(d: unknown): d is Date {
  if (!(d instanceof Date)) return false;
  const t = d.getTime();
  return Number.isFinite(t) && d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999;
}

const d2 = (buf: Buffer, pos: number, v: number) => {
  buf[pos] = 0x30 + ((v / 10) | 0);
  buf[pos + 1] = 0x30 + (v % 10);
};

/**
 * Write a Time at `pos` (seconds precision, Zulu): UTCTime for 1950-2049 unless
 * `generalized` (RFC 5280 4.1.2.5), else GeneralizedTime. Returns the new position.
 * Hot path: no strings.
 */
export function writeTime(buf: Buffer, pos: number, d: Date, generalized: boolean): number {
  const y = d.getUTCFullYear();
  if (!generalized && y >= 1950 && y < 2050) {
    buf[pos++] = 0x17;
    buf[pos++] = 13;
    d2(buf, pos, y % 100);
    pos += 2;
  } else {
    buf[pos++] = 0x18;
    buf[pos++] = 15;
    d2(buf, pos, (y / 100) | 0);
    d2(buf, pos + 2, y % 100);
    pos += 4;
  }
  d2(buf, pos, d.getUTCMonth() + 1);
  d2(buf, pos + 2, d.getUTCDate());
  d2(buf, pos + 4, d.getUTCHours());
  d2(buf, pos + 6, d.getUTCMinutes());
  d2(buf, pos + 8, d.getUTCSeconds());
  buf[pos + 10] = 0x5a; // 'Z'
  return pos + 11;
}

/** Encoded size of `writeTime`. */
export function timeLength(d: Date, generalized: boolean): number {
  const y = d.getUTCFullYear();
  return !generalized && y >= 1950 && y < 2050 ? 15 : 17;
}

export function time(d: Date, generalized = false): Buffer {
  const out = Buffer.allocUnsafe(timeLength(d, generalized));
  writeTime(out, 0, d, generalized);
  return out;
}

// ---------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------

export interface Tlv {
  tag: number;
  /** Offset of the tag octet. */
  start: number;
  /** Offset of the first content octet. */
  content: number;
  /** Offset just past the element. */
  end: number;
}

/** Read one element at `pos` within `limit`: single-octet tags, definite minimal lengths. */
export function read(buf: Buffer, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated');
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not supported');
  let n = buf[pos + 1];
  let p = pos + 2;
  if (n & 0x80) {
    const k = n & 0x7f;
    if (k === 0) throw new DerError('indefinite length');
    if (k > 4) throw new DerError('length too large');
    if (p + k > limit) throw new DerError('truncated');
    if (buf[p] === 0) throw new DerError('non-minimal length');
    n = 0;
    for (let i = 0; i < k; i++) n = n * 256 + buf[p + i];
    if (n < 0x80) throw new DerError('non-minimal length');
    p += k;
  }
  if (p + n > limit) throw new DerError('truncated');
  return { tag, start: pos, content: p, end: p + n };
}

/** Read an element and require its tag. */
export function expect(buf: Buffer, pos: number, tag: number, limit: number, what: string): Tlv {
  const t = read(buf, pos, limit);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** Read the single top-level element of `buf`, refusing trailing bytes. */
export function readWhole(buf: Buffer, tag: number, what: string): Tlv {
  const t = expect(buf, 0, tag, buf.length, what);
  if (t.end !== buf.length) throw new DerError(`${what}: trailing data`);
  return t;
}

/** The children of a constructed element. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.content; p < parent.end; ) {
    const c = read(buf, p, parent.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const raw = (buf: Buffer, t: Tlv) => buf.subarray(t.start, t.end);
export const content = (buf: Buffer, t: Tlv) => buf.subarray(t.content, t.end);

export function readOid(buf: Buffer, t: Tlv): string {
  if (t.tag !== 0x06 || t.end === t.content) throw new DerError('bad OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = t.content; i < t.end; i++) {
    const b = buf[i];
    if (v === 0 && b === 0x80) throw new DerError('bad OID');
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    } else if (i === t.end - 1) throw new DerError('bad OID');
  }
  return parts.join('.');
}

/** INTEGER content (two's complement) as a bigint. */
export function readInteger(buf: Buffer, t: Tlv): bigint {
  if (t.tag !== 0x02 || t.end === t.content) throw new DerError('bad INTEGER');
  if (t.end - t.content > 64) throw new DerError('INTEGER too large');
  const b = content(buf, t);
  let v = BigInt('0x' + b.toString('hex'));
  if (b[0] & 0x80) v -= 1n << BigInt(b.length * 8);
  return v;
}

export function readBoolean(buf: Buffer, t: Tlv): boolean {
  if (t.tag !== 0x01 || t.end - t.content !== 1) throw new DerError('bad BOOLEAN');
  return buf[t.content] !== 0;
}

function digits(buf: Buffer, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = buf[i] - 0x30;
    if (c < 0 || c > 9) throw new DerError('bad time');
    v = v * 10 + c;
  }
  return v;
}

/** UTCTime or GeneralizedTime (Zulu, seconds; fractional seconds tolerated). */
export function readTime(buf: Buffer, t: Tlv): Date {
  const n = t.end - t.content;
  let p = t.content;
  let year: number;
  if (t.tag === 0x17) {
    if (n !== 13) throw new DerError('bad UTCTime');
    const yy = digits(buf, p, 2);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    p += 2;
  } else if (t.tag === 0x18) {
    if (n < 15 || n > 24) throw new DerError('bad GeneralizedTime');
    year = digits(buf, p, 4);
    p += 4;
  } else throw new DerError('expected a time');
  const month = digits(buf, p, 2);
  const day = digits(buf, p + 2, 2);
  const hour = digits(buf, p + 4, 2);
  const min = digits(buf, p + 6, 2);
  const sec = digits(buf, p + 8, 2);
  p += 10;
  let ms = 0;
  if (t.tag === 0x18 && buf[p] === 0x2e) {
    p++;
    let frac = 0;
    let scale = 1;
    let nd = 0;
    for (; p < t.end && buf[p] >= 0x30 && buf[p] <= 0x39; p++, nd++) {
      if (nd < 3) {
        frac = frac * 10 + (buf[p] - 0x30);
        scale *= 10;
      }
    }
    if (nd === 0) throw new DerError('bad GeneralizedTime');
    ms = Math.floor((frac * 1000) / scale);
  }
  if (p !== t.end - 1 || buf[p] !== 0x5a) throw new DerError('time must end in Z');
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) throw new DerError('bad time');
  const d = new Date(Date.UTC(year, month - 1, day, hour, min, sec, ms));
  if (year < 100) d.setUTCFullYear(year);
  return d;
}

const NAME_ATTRS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

function decodeString(buf: Buffer, t: Tlv): string {
  const b = content(buf, t);
  switch (t.tag) {
    case 0x0c: // UTF8String
      return b.toString('utf8');
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x12: // NumericString
    case 0x14: // TeletexString (treated as Latin-1)
      return b.toString('latin1');
    case 0x1e: // BMPString
      if (b.length % 2) throw new DerError('bad BMPString');
      return Buffer.from(b).swap16().toString('utf16le');
    default:
      return '#' + raw(buf, t).toString('hex');
  }
}

const escapeRdn = (s: string) =>
  s.replace(/[,+"\\<>;=]/g, (c) => '\\' + c).replace(/^[ #]/, (c) => '\\' + c).replace(/ $/, '\\ ');

/** RFC 4514-style text of a DER Name (most significant RDN last). */
export function nameToString(buf: Buffer, name: Tlv): string {
  if (name.tag !== 0x30) throw new DerError('bad Name');
  const rdns = children(buf, name).map((rdn) => {
    if (rdn.tag !== 0x31) throw new DerError('bad RDN');
    return children(buf, rdn)
      .map((atv) => {
        const [type, value] = children(buf, atv);
        if (atv.tag !== 0x30 || !type || !value) throw new DerError('bad AttributeTypeAndValue');
        const o = readOid(buf, type);
        return `${NAME_ATTRS[o] ?? o}=${escapeRdn(decodeString(buf, value))}`;
      })
      .join('+');
  });
  return rdns.reverse().join(',');
}

// ---------------------------------------------------------------------------------
// PEM
// ---------------------------------------------------------------------------------

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

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
