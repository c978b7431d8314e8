/**
 * A small, strict DER reader. We parse certificates and CRLs ourselves (instead of
 * re-encoding through an ASN.1 library) so that signatures are always checked over the
 * exact bytes that were signed, and so that every structural problem surfaces as a
 * `DerError` we can map to a domain error — never as a stray exception.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

/** ASN.1 tag classes. */
export const CLASS_UNIVERSAL = 0;
export const CLASS_CONTEXT = 2;

/** Universal tag numbers we care about. */
export const T = {
  BOOLEAN: 1,
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  ENUMERATED: 10,
  UTF8_STRING: 12,
  SEQUENCE: 16,
  SET: 17,
  NUMERIC_STRING: 18,
  PRINTABLE_STRING: 19,
  T61_STRING: 20,
  IA5_STRING: 22,
  UTC_TIME: 23,
  GENERALIZED_TIME: 24,
  VISIBLE_STRING: 26,
  UNIVERSAL_STRING: 28,
  BMP_STRING: 30,
} as const;

export interface Tlv {
  cls: number;
  constructed: boolean;
  tag: number;
  /** Offset of the identifier octet. */
  start: number;
  /** Offset of the first content octet. */
  valueStart: number;
  /** Offset just past the last content octet. */
  end: number;
}

/** Nesting depth limit: hostile inputs must not be able to blow the stack. */
const MAX_DEPTH = 64;

export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos >= limit) throw new DerError('unexpected end of data');
  const start = pos;
  const id = buf[pos++];
  const cls = id >> 6;
  const constructed = (id & 0x20) !== 0;
  let tag = id & 0x1f;
  if (tag === 0x1f) {
    tag = 0;
    for (let i = 0; ; i++) {
      if (pos >= limit) throw new DerError('truncated tag');
      if (i >= 4) throw new DerError('tag number too large');
      const b = buf[pos++];
      if (i === 0 && b === 0x80) throw new DerError('non-minimal tag encoding');
      tag = tag * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (pos >= limit) throw new DerError('truncated length');
  let len = buf[pos++];
  if (len === 0x80) throw new DerError('indefinite length is not allowed in DER');
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4) throw new DerError('length too large');
    if (pos + n > limit) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++];
  }
  const end = pos + len;
  if (end > limit) throw new DerError('value extends past the end of its container');
  return { cls, constructed, tag, start, valueStart: pos, end };
}

export const value = (buf: Uint8Array, t: Tlv) => buf.subarray(t.valueStart, t.end);
export const raw = (buf: Uint8Array, t: Tlv) => buf.subarray(t.start, t.end);

export const isUniversal = (t: Tlv, tag: number) => t.cls === CLASS_UNIVERSAL && t.tag === tag;
export const isContext = (t: Tlv, tag: number) => t.cls === CLASS_CONTEXT && t.tag === tag;

export function expectUniversal(t: Tlv, tag: number, what: string): Tlv {
  if (!isUniversal(t, tag)) throw new DerError(`${what}: unexpected tag`);
  const mustBeConstructed = tag === T.SEQUENCE || tag === T.SET;
  if (t.constructed !== mustBeConstructed) throw new DerError(`${what}: wrong constructed bit`);
  return t;
}

/** The child elements of a constructed element, which must exactly fill it. */
export function children(buf: Uint8Array, parent: Tlv, depth = 0): Tlv[] {
  if (depth > MAX_DEPTH) throw new DerError('nesting too deep');
  if (!parent.constructed) throw new DerError('expected a constructed element');
  const out: Tlv[] = [];
  let pos = parent.valueStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** Parse a whole buffer as exactly one element. */
export function readSingle(buf: Uint8Array, what: string): Tlv {
  const t = readTlv(buf, 0, buf.length);
  if (t.end !== buf.length) throw new DerError(`${what}: trailing data after the encoded value`);
  return t;
}

/** Reads a SEQUENCE and returns its children. */
export function sequence(buf: Uint8Array, t: Tlv, what: string): Tlv[] {
  expectUniversal(t, T.SEQUENCE, what);
  return children(buf, t);
}

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  if (bytes.length > 128) throw new DerError('OID too long');
  const parts: number[] = [];
  let acc = 0;
  let first = true;
  let started = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (!started && b === 0x80) throw new DerError('non-minimal OID encoding');
    started = true;
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER / 256) throw new DerError('OID arc too large');
    if ((b & 0x80) === 0) {
      if (first) {
        if (acc < 40) parts.push(0, acc);
        else if (acc < 80) parts.push(1, acc - 40);
        else parts.push(2, acc - 80);
        first = false;
      } else {
        parts.push(acc);
      }
      acc = 0;
      started = false;
    }
  }
  if (started) throw new DerError('truncated OID');
  return parts.join('.');
}

export function readOid(buf: Uint8Array, t: Tlv, what: string): string {
  if (!isUniversal(t, T.OID) || t.constructed) throw new DerError(`${what}: expected an OID`);
  return decodeOid(value(buf, t));
}

export function readBoolean(buf: Uint8Array, t: Tlv, what: string): boolean {
  const v = value(buf, t);
  if (t.constructed || v.length !== 1) throw new DerError(`${what}: malformed BOOLEAN`);
  // DER requires 0xff for TRUE; a few old encoders wrote other non-zero values, which BER
  // (and every mainstream validator) reads as TRUE.
  return v[0] !== 0;
}

/** INTEGER content bytes (two's complement, big-endian). */
export function readIntegerBytes(buf: Uint8Array, t: Tlv, what: string, tag: number = T.INTEGER): Uint8Array {
  if (t.constructed || (t.cls === CLASS_UNIVERSAL && t.tag !== tag)) throw new DerError(`${what}: expected an INTEGER`);
  const v = value(buf, t);
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`);
  return v;
}

/** A small non-negative INTEGER as a JS number (path lengths, CRL reasons, skip counts). */
export function readSmallInt(buf: Uint8Array, t: Tlv, what: string, tag: number = T.INTEGER): number {
  const v = readIntegerBytes(buf, t, what, tag);
  if (v[0] & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (v.length > 1 && v[0] === 0 && (v[1] & 0x80) === 0) throw new DerError(`${what}: non-minimal INTEGER`);
  let n = 0;
  for (const b of v) {
    n = n * 256 + b;
    if (n > 0x7fffffff) throw new DerError(`${what}: INTEGER too large`);
  }
  return n;
}

export interface BitString {
  unusedBits: number;
  bytes: Uint8Array;
}

export function readBitString(buf: Uint8Array, t: Tlv, what: string): BitString {
  if (t.constructed || (t.cls === CLASS_UNIVERSAL && t.tag !== T.BIT_STRING)) throw new DerError(`${what}: expected a BIT STRING`);
  const v = value(buf, t);
  if (v.length === 0) throw new DerError(`${what}: empty BIT STRING`);
  const unusedBits = v[0];
  if (unusedBits > 7 || (v.length === 1 && unusedBits !== 0)) throw new DerError(`${what}: malformed BIT STRING`);
  return { unusedBits, bytes: v.subarray(1) };
}

export function readOctetString(buf: Uint8Array, t: Tlv, what: string): Uint8Array {
  if (t.constructed || (t.cls === CLASS_UNIVERSAL && t.tag !== T.OCTET_STRING)) throw new DerError(`${what}: expected an OCTET STRING`);
  return value(buf, t);
}

export interface DerTime {
  /** Milliseconds since the epoch (UTC). */
  ms: number;
  year: number;
  kind: 'utc' | 'generalized';
}

const DIGITS = /^[0-9]+$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 4.1.2.5 requires. */
export function readTime(buf: Uint8Array, t: Tlv, what: string): DerTime {
  if (t.constructed || t.cls !== CLASS_UNIVERSAL) throw new DerError(`${what}: expected a time`);
  const s = Buffer.from(value(buf, t)).toString('latin1');
  let year: number;
  let rest: string;
  let kind: DerTime['kind'];
  if (t.tag === T.UTC_TIME) {
    if (s.length !== 13 || !s.endsWith('Z') || !DIGITS.test(s.slice(0, 12))) throw new DerError(`${what}: UTCTime must be YYMMDDHHMMSSZ`);
    const yy = Number(s.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = s.slice(2, 12);
    kind = 'utc';
  } else if (t.tag === T.GENERALIZED_TIME) {
    if (s.length !== 15 || !s.endsWith('Z') || !DIGITS.test(s.slice(0, 14))) throw new DerError(`${what}: GeneralizedTime must be YYYYMMDDHHMMSSZ`);
    year = Number(s.slice(0, 4));
    rest = s.slice(4, 14);
    kind = 'generalized';
  } else {
    throw new DerError(`${what}: expected UTCTime or GeneralizedTime`);
  }
  const month = Number(rest.slice(0, 2));
  const day = Number(rest.slice(2, 4));
  const hour = Number(rest.slice(4, 6));
  const minute = Number(rest.slice(6, 8));
  const second = Number(rest.slice(8, 10));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new DerError(`${what}: invalid date`);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return { ms: d.getTime(), year, kind };
}

export const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
