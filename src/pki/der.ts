/**
 * A minimal DER writer and reader: just what building certificates, CRLs and OCSP
 * responses fast needs. Writing is concatenation of pre-sized buffers; no object model.
 */

export function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? content[0] : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

export const seq = (...c: Buffer[]) => tlv(0x30, ...c);
export const set = (...c: Buffer[]) => tlv(0x31, ...c);
export const octets = (b: Buffer) => tlv(0x04, b);
export const nul = () => Buffer.from([0x05, 0x00]);
export const bool = (v: boolean) => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string) => tlv(0x13, Buffer.from(s, 'ascii'));
export const ia5 = (s: string) => tlv(0x16, Buffer.from(s, 'ascii'));
/** Context-specific constructed [n] (EXPLICIT, or IMPLICIT of a constructed type). */
export const ctx = (n: number, ...c: Buffer[]) => tlv(0xa0 | n, ...c);
/** Context-specific primitive [n] IMPLICIT. */
export const ctxPrim = (n: number, b: Buffer) => tlv(0x80 | n, b);

export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes);
}

/** A positive INTEGER from unsigned big-endian bytes (leading zeros trimmed, sign byte added). */
export function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

export function int(n: number | bigint): Buffer {
  const v = BigInt(n);
  if (v < 0n) throw new Error('negative integers are not needed here');
  const hex = v.toString(16);
  return uint(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex'));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      stack.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; seconds precision, Zulu. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${pad(y % 100)}${rest}`, 'ascii'));
  return tlv(0x18, Buffer.from(`${pad(y, 4)}${rest}`, 'ascii'));
}

export function generalizedTime(d: Date): Buffer {
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(`${pad(d.getUTCFullYear(), 4)}${rest}`, 'ascii'));
}

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the content. */
  content: number;
  /** Offset just past the element. */
  end: number;
}

/** Read one element at `offset`; throws on truncation or indefinite lengths. */
export function read(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[offset];
  let l = buf[offset + 1];
  let p = offset + 2;
  if (l & 0x80) {
    const n = l & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new Error('unsupported DER length');
    l = 0;
    for (let i = 0; i < n; i++) l = l * 256 + buf[p + i];
    p += n;
  }
  if (p + l > buf.length) throw new Error('truncated DER');
  return { tag, start: offset, content: p, end: p + l };
}

/** The children of a constructed element. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.content;
  while (p < parent.end) {
    const c = read(buf, p);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const raw = (buf: Buffer, t: Tlv) => buf.subarray(t.start, t.end);
export const body = (buf: Buffer, t: Tlv) => buf.subarray(t.content, t.end);
