/**
 * Envelope encryption for secrets at rest (CA private keys, webhook secrets, SMTP
 * passwords): every secret gets its own random AES-256-GCM data key, and only that data
 * key is wrapped by a key-encryption key (KEK). Rotating the KEK re-wraps data keys and
 * leaves ciphertexts alone. The KEK sits behind a narrow interface so AWS KMS (or an HSM)
 * can replace the local one.
 *
 * Sealed blob (self-describing, versioned):
 *   0        version (0x01)
 *   1        n = KEK id length
 *   2..      KEK id (UTF-8, n bytes)
 *   ..       wrapped data key length (uint16 BE) | wrapped data key
 *   ..       iv (12) | tag (16) | ciphertext
 * The body's GCM additional data is a fixed context string plus the caller's `aad` (e.g.
 * `purpose:id`), so a blob moved to another row or purpose fails to open.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config.js';
import { DomainError } from '../errors.js';

export interface KeyEncryptionKey {
  /** Stable identifier written into every blob it wraps. */
  readonly id: string;
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

/** Finds the KEK a blob names (current or a previous one during a rotation); throws when none is loaded. */
export type KekResolver = (kekId: string) => KeyEncryptionKey;

const VERSION = 1;
const BODY_CONTEXT = Buffer.from('certa/envelope/v1\0');
const WRAP_CONTEXT = Buffer.from('certa/kek-wrap/v1\0');
const IV = 12;
const TAG = 16;

/** Integrity failures of stored secrets are server-side faults (500), never the caller's input. */
const sealedError = (message: string) => new DomainError('internal_error', message);

/** A KEK held in memory (CERTA_MASTER_KEY or `<dataDir>/master.key`); wraps with AES-256-GCM. */
export class LocalKek implements KeyEncryptionKey {
  readonly id: string;
  readonly #key: Buffer;

  /** `key`: exactly 32 random bytes. The id is derived from the key (HMAC, so it reveals nothing about it). */
  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== 32) throw new RangeError('a local key-encryption key is exactly 32 bytes');
    this.#key = Buffer.from(key);
    this.id = 'local:' + createHmac('sha256', this.#key).update('certa/kek-id/v1').digest('hex').slice(0, 16);
  }

  /** From base64 of 32 bytes (throws ConfigError naming `variable` otherwise). */
  static fromBase64(b64: string, variable = 'CERTA_MASTER_KEY'): LocalKek {
    return new LocalKek(decodeKey(b64, variable));
  }

  async wrap(dataKey: Buffer): Promise<Buffer> {
    return gcmSeal(this.#key, dataKey, Buffer.concat([WRAP_CONTEXT, Buffer.from(this.id)]));
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    try {
      return gcmOpen(this.#key, wrapped, Buffer.concat([WRAP_CONTEXT, Buffer.from(this.id)]));
    } catch {
      throw sealedError(`the data key does not unwrap under KEK ${this.id} (wrong key or tampered data)`);
    }
  }
}

function decodeKey(b64: string, variable: string): Buffer {
  const s = b64.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0 ? Buffer.from(s, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) throw new ConfigError(variable, 'must be the base64 encoding of exactly 32 bytes (generate one with: openssl rand -base64 32)');
  return key;
}

/** A fresh master key, base64 (what an operator puts in CERTA_MASTER_KEY). */
export const generateMasterKeyBase64 = (): string => randomBytes(32).toString('base64');

function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]);
}

function gcmOpen(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < IV + TAG) throw sealedError('sealed data is truncated');
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV));
  d.setAAD(aad);
  d.setAuthTag(blob.subarray(IV, IV + TAG));
  return Buffer.concat([d.update(blob.subarray(IV + TAG)), d.final()]);
}

interface Parsed {
  kekId: string;
  wrapped: Buffer;
  body: Buffer;
}

function parse(blob: Buffer): Parsed {
  if (!Buffer.isBuffer(blob) || blob.length < 4) throw sealedError('sealed data is truncated');
  if (blob[0] !== VERSION) throw sealedError(`unknown sealed-data version ${blob[0]}`);
  const n = blob[1];
  if (blob.length < 4 + n) throw sealedError('sealed data is truncated');
  const kekId = blob.subarray(2, 2 + n).toString('utf8');
  const wl = blob.readUInt16BE(2 + n);
  const bodyAt = 4 + n + wl;
  if (blob.length < bodyAt + IV + TAG) throw sealedError('sealed data is truncated');
  return { kekId, wrapped: blob.subarray(4 + n, bodyAt), body: blob.subarray(bodyAt) };
}

function assemble(kekId: string, wrapped: Buffer, body: Buffer): Buffer {
  const id = Buffer.from(kekId, 'utf8');
  if (id.length > 255) throw new RangeError('KEK id longer than 255 bytes');
  if (wrapped.length > 0xffff) throw new RangeError('wrapped data key too long');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(wrapped.length);
  return Buffer.concat([Buffer.from([VERSION, id.length]), id, len, wrapped, body]);
}

const bodyAad = (aad?: Buffer) => (aad ? Buffer.concat([BODY_CONTEXT, aad]) : BODY_CONTEXT);
const resolveKek = (r: KekResolver | KeyEncryptionKey, kekId: string): KeyEncryptionKey => (typeof r === 'function' ? r(kekId) : r);

/** The id of the KEK a blob is sealed under (for rotation bookkeeping). */
export function kekIdOf(blob: Buffer): string {
  return parse(blob).kekId;
}

/** Encrypt `plaintext` under a fresh data key wrapped by `kek`; `aad` binds the blob to its context. */
export async function seal(kek: KeyEncryptionKey, plaintext: Buffer, aad?: Buffer): Promise<Buffer> {
  const dataKey = randomBytes(32);
  try {
    const body = gcmSeal(dataKey, plaintext, bodyAad(aad));
    return assemble(kek.id, await kek.wrap(dataKey), body);
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Decrypt a sealed blob. `kek` is the KEK itself or a resolver by id (so blobs sealed
 * under a previous KEK still open during a rotation). Tampering, a wrong KEK or a wrong
 * `aad` throw (internal_error: stored data failed authentication).
 */
export async function open(kek: KekResolver | KeyEncryptionKey, blob: Buffer, aad?: Buffer): Promise<Buffer> {
  const p = parse(blob);
  const k = resolveKek(kek, p.kekId);
  if (k.id !== p.kekId) throw sealedError(`sealed under KEK ${p.kekId}, not ${k.id}`);
  const dataKey = await k.unwrap(p.wrapped);
  try {
    return gcmOpen(dataKey, p.body, bodyAad(aad));
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw sealedError('sealed data failed authentication (tampered, or opened with the wrong context)');
  } finally {
    dataKey.fill(0);
  }
}

/** Re-wrap the data key under `next` (the ciphertext is untouched): the KEK rotation step. */
export async function rewrap(blob: Buffer, current: KekResolver | KeyEncryptionKey, next: KeyEncryptionKey): Promise<Buffer> {
  const p = parse(blob);
  const k = resolveKek(current, p.kekId);
  if (k.id !== p.kekId) throw sealedError(`sealed under KEK ${p.kekId}, not ${k.id}`);
  const dataKey = await k.unwrap(p.wrapped);
  try {
    return assemble(next.id, await next.wrap(dataKey), p.body);
  } finally {
    dataKey.fill(0);
  }
}

export interface LoadKekOptions {
  /** CERTA_MASTER_KEY: base64 of exactly 32 bytes. Unset/null: use or create `<dataDir>/master.key`. */
  masterKeyBase64?: string | null;
  /** Where master.key lives in embedded mode. */
  dataDir: string;
  /** Told when a key file is generated (operators must back it up) or has loose permissions. */
  log?: (message: string, path: string) => void;
}

/**
 * The KEK from CERTA_MASTER_KEY, or in embedded mode from `<dataDir>/master.key`, which
 * is generated (mode 0600) on first use.
 */
export function loadOrCreateKek(opts: LoadKekOptions): LocalKek {
  if (opts.masterKeyBase64) return LocalKek.fromBase64(opts.masterKeyBase64);
  const path = join(opts.dataDir, 'master.key');
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  // Write a private temp file, then link it into place: link() fails if master.key exists,
  // so concurrent first starts agree on one key and nobody reads a half-written file.
  const key = randomBytes(32);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, key.toString('base64') + '\n');
  } finally {
    closeSync(fd);
  }
  let created = false;
  try {
    linkSync(tmp, path);
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  if (created) {
    opts.log?.('generated a new key-encryption key: back it up with the database (or set CERTA_MASTER_KEY)', path);
    return new LocalKek(key);
  }
  const efd = openSync(path, 'r');
  try {
    if (process.platform !== 'win32' && fstatSync(efd).mode & 0o077) opts.log?.('master.key is readable by group or others: chmod 600 it', path);
  } finally {
    closeSync(efd);
  }
  return new LocalKek(decodeKey(readFileSync(path, 'utf8'), path));
}
