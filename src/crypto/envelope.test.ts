import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../config/config.js';
import { DomainError } from '../errors.js';
import { LocalKek, generateMasterKeyBase64, kekIdOf, loadOrCreateKek, open, rewrap, seal, type KeyEncryptionKey } from './envelope.js';

const dirs: string[] = [];
const tmpDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'certa-kek-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const kekA = new LocalKek(randomBytes(32));
const kekB = new LocalKek(randomBytes(32));
const secret = Buffer.from('-----BEGIN PRIVATE KEY-----\nCA key bytes\n-----END PRIVATE KEY-----\n');
const aad = Buffer.from('authority-key:01JD2Z');

async function expectSealedError(p: Promise<unknown>, message?: RegExp) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DomainError);
  expect((e as DomainError).code).toBe('internal_error');
  if (message) expect((e as DomainError).message).toMatch(message);
}

describe('seal / open', () => {
  it('ok/round trip, with and without aad; every blob is fresh', async () => {
    const a = await seal(kekA, secret, aad);
    const b = await seal(kekA, secret, aad);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(secret)).toBe(false);
    expect((await open(kekA, a, aad)).equals(secret)).toBe(true);
    expect((await open(() => kekA, b, aad)).equals(secret)).toBe(true);
    const plain = await seal(kekA, Buffer.alloc(0));
    expect((await open(kekA, plain)).length).toBe(0);
    expect(kekIdOf(a)).toBe(kekA.id);
    expect(kekA.id).toMatch(/^local:[0-9a-f]{16}$/);
  });

  it('ok/the KEK id is stable for a key and distinct between keys', () => {
    const raw = randomBytes(32);
    expect(new LocalKek(raw).id).toBe(new LocalKek(Buffer.from(raw)).id);
    expect(kekA.id).not.toBe(kekB.id);
  });

  // Tamper with each region of the blob: header id, wrapped key, iv, tag, ciphertext.
  const regions: Array<[string, (blob: Buffer) => number]> = [
    ['kek id', () => 2 + 6],
    ['wrapped data key', (b) => 4 + b[1] + 20],
    ['iv', (b) => b.length - secret.length - 16 - 12 + 3],
    ['tag', (b) => b.length - secret.length - 5],
    ['ciphertext', (b) => b.length - 1],
  ];
  for (const [region, at] of regions) {
    it(`error/tampered ${region}`, async () => {
      const blob = await seal(kekA, secret, aad);
      const bad = Buffer.from(blob);
      bad[at(bad)] ^= 0x01;
      await expectSealedError(open((id) => (id === kekA.id ? kekA : kekA), bad, aad));
    });
  }

  it('error/wrong aad (blob moved to another row)', async () => {
    const blob = await seal(kekA, secret, aad);
    await expectSealedError(open(kekA, blob, Buffer.from('authority-key:OTHER')), /failed authentication/);
    await expectSealedError(open(kekA, blob), /failed authentication/);
  });

  it('error/wrong KEK', async () => {
    const blob = await seal(kekA, secret, aad);
    await expectSealedError(open(kekB, blob, aad), /sealed under KEK local:/);
    // A resolver that hands back a different key under the same id fails authentication.
    const impostor: KeyEncryptionKey = { id: kekA.id, wrap: (k) => kekB.wrap(k), unwrap: (w) => kekB.unwrap(w) };
    await expectSealedError(open(() => impostor, blob, aad), /does not unwrap/);
  });

  it('error/resolver that knows no such KEK', async () => {
    const blob = await seal(kekA, secret);
    await expect(
      open(() => {
        throw new DomainError('internal_error', 'no key-encryption key loaded');
      }, blob),
    ).rejects.toThrow(/no key-encryption key/);
  });

  const junk: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /truncated/],
    ['unknown version', Buffer.from([9, 0, 0, 0, ...randomBytes(40)]), /unknown sealed-data version 9/],
    ['truncated header', Buffer.from([1, 200, 1, 2, 3]), /truncated/],
    ['truncated body', Buffer.from([1, 1, 0x41, 0, 60, ...randomBytes(40)]), /truncated/],
  ];
  for (const [name, blob, msg] of junk) it(`error/${name}`, () => expectSealedError(open(kekA, blob), msg));
});

describe('rewrap (KEK rotation)', () => {
  it('ok/re-wraps the data key only; opens under the new KEK, not the old', async () => {
    const blob = await seal(kekA, secret, aad);
    const rotated = await rewrap(blob, kekA, kekB);
    expect(kekIdOf(rotated)).toBe(kekB.id);
    // The ciphertext body (iv | tag | ciphertext) is byte-identical.
    const body = (b: Buffer) => b.subarray(4 + b[1] + b.readUInt16BE(2 + b[1]));
    expect(body(rotated).equals(body(blob))).toBe(true);
    expect((await open(kekB, rotated, aad)).equals(secret)).toBe(true);
    await expectSealedError(open(kekA, rotated, aad));
    // During a rotation a resolver serves both generations.
    const both = (id: string) => [kekA, kekB].find((k) => k.id === id)!;
    expect((await open(both, blob, aad)).equals(secret)).toBe(true);
    expect((await open(both, rotated, aad)).equals(secret)).toBe(true);
  });

  it('error/rewrap with the wrong current KEK', async () => {
    const blob = await seal(kekA, secret);
    await expectSealedError(rewrap(blob, kekB, kekA), /sealed under KEK/);
  });
});

describe('loadOrCreateKek', () => {
  it('ok/from CERTA_MASTER_KEY', () => {
    const b64 = generateMasterKeyBase64();
    const dir = tmpDir();
    const kek = loadOrCreateKek({ masterKeyBase64: b64, dataDir: dir });
    expect(kek.id).toBe(new LocalKek(Buffer.from(b64, 'base64')).id);
    expect(readdirSync(dir)).toEqual([]);
  });

  const bad: Array<[string, string]> = [
    ['16 bytes', randomBytes(16).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['not base64', 'this is not base64 at all, not even close!!'],
  ];
  for (const [name, value] of bad) {
    it(`error/CERTA_MASTER_KEY ${name}`, () => {
      expect(() => loadOrCreateKek({ masterKeyBase64: value, dataDir: tmpDir() })).toThrow(ConfigError);
      expect(() => loadOrCreateKek({ masterKeyBase64: value, dataDir: tmpDir() })).toThrow(/CERTA_MASTER_KEY: must be the base64 encoding of exactly 32 bytes/);
    });
  }

  it('ok/generates <dataDir>/master.key with mode 0600, says so, and reuses it', () => {
    const dir = join(tmpDir(), 'nested', 'data');
    const logs: Array<[string, string]> = [];
    const first = loadOrCreateKek({ dataDir: dir, log: (m, p) => logs.push([m, p]) });
    const path = join(dir, 'master.key');
    expect(logs).toEqual([[expect.stringMatching(/generated a new key-encryption key/), path]]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(readdirSync(dir)).toEqual(['master.key']);
    const again = loadOrCreateKek({ masterKeyBase64: null, dataDir: dir, log: (m, p) => logs.push([m, p]) });
    expect(again.id).toBe(first.id);
    expect(logs).toHaveLength(1);
  });

  it('ok/warns about a group-readable key file; error/corrupt key file', () => {
    const dir = tmpDir();
    const path = join(dir, 'master.key');
    writeFileSync(path, generateMasterKeyBase64() + '\n');
    chmodSync(path, 0o644);
    const logs: string[] = [];
    loadOrCreateKek({ dataDir: dir, log: (m) => logs.push(m) });
    expect(logs.join()).toMatch(/chmod 600/);
    writeFileSync(path, 'short\n');
    expect(() => loadOrCreateKek({ dataDir: dir })).toThrow(ConfigError);
  });

  it('ok/a sealed secret survives a restart with the generated key', async () => {
    const dir = tmpDir();
    const blob = await seal(loadOrCreateKek({ dataDir: dir }), secret, aad);
    expect((await open(loadOrCreateKek({ dataDir: dir }), blob, aad)).equals(secret)).toBe(true);
  });
});
