import { randomBytes } from 'node:crypto';

/**
 * UUID v7 (RFC 9562): 48-bit millisecond timestamp + randomness. Time-ordered, so
 * ordering by id is ordering by creation, which keyset pagination relies on.
 * A per-process counter in the random bits keeps ids monotonic within a millisecond.
 */
// Random bytes are drawn from the CSPRNG in blocks: one call per 256 ids instead of two per id.
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;
function random(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + n));
  poolOffset += n;
  return out;
}

let lastMs = 0;
let seq = 0;
export function newId(now: number = Date.now()): string {
  if (now <= lastMs) {
    now = lastMs;
    seq = (seq + 1) & 0xfff;
    if (seq === 0) now = ++lastMs;
  } else {
    lastMs = now;
    seq = random(2).readUInt16BE(0) & 0x7ff;
  }
  const b = random(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
