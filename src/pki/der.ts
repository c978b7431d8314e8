/**
 * The DER writer and reader of the builders (certificates, CSRs, CRLs, OCSP, PKCS#12).
 * Writing is byte-exact concatenation of pre-sized buffers (no object model: that is
 * where CRL/OCSP speed is won); reading is a small strict reader (definite minimal
 * lengths, single-octet tags) whose every failure is a `DerError`, which the public
 * parsers turn into a DomainError. The path validator has its own reader
 * (`verify/der.ts`) because it reports problems per field instead of failing.
 */

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
export const set = (...parts: Buffer[]) => tlv(0x31, ...parts);
export const nul = () => Buffer.from([0x05, 0x00]);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string) => tlv(0x13, Buffer.from(s, 'ascii'));
export const ia5 = (s: string) => tlv(0x16, Buffer.from(s, 'ascii'));

export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes);
}

/** A positive INTEGER from unsigned big-endian bytes (leading zeros trimmed, sign octet added). */
export function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

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
export function integer(n: bigint | number): Buffer {
  const v = BigInt(n);
  if (v < 0n) throw new DerError('negative INTEGER');
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return uint(Buffer.from(hex, 'hex'));
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
export function read(buf: Buffer, pos = 0, limit = buf.length): Tlv {
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

