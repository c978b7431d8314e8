/**
 * Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo) decrypted off the event loop.
 *
 * The iteration count is the file's to choose: OpenSSL's createPrivateKey runs the whole
 * PBKDF2 synchronously, so a key claiming 2^31 iterations held the event loop for hours.
 * PBES2/PBKDF2 (what every current tool writes) is decrypted here with the async pbkdf2
 * (libuv threadpool) under an iteration cap; the legacy PBES1 / PKCS#12 schemes are left
 * to OpenSSL only under a small cap; anything else (scrypt...) is refused.
 */
import { createDecipheriv, createPrivateKey, pbkdf2 as pbkdf2Cb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as der from './der.js';
import { DomainError } from '../errors.js';

const pbkdf2 = promisify(pbkdf2Cb);

/** PBKDF2 iterations accepted (threadpool time: about a second at this count). */
export const MAX_PBKDF2_ITERATIONS = 2_000_000;
/** Iterations accepted for legacy schemes, which OpenSSL derives synchronously (a few ms). */
export const MAX_LEGACY_ITERATIONS = 10_000;

const PBES2 = '1.2.840.113549.1.5.13';
const PBKDF2 = '1.2.840.113549.1.5.12';
const PRF: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const CIPHERS: Record<string, { name: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24 },
};
// PBES1 (RFC 8018 A.3) and PKCS#12 PBE (RFC 7292 C): params are { salt, iterations }.
const LEGACY = /^1\.2\.840\.113549\.1\.(5\.(1|3|4|6|10|11)|12\.1\.[1-6])$/;

const FIELD = '/body/privateKeyPem';
const unreadable = (why: string) => new DomainError('bad_key', `privateKeyPem is not a readable encrypted PKCS#8 key: ${why}`, [{ field: FIELD, message: why }]);
const tooCostly = (n: bigint, max: number) =>
  new DomainError('bad_key', `the key's encryption asks for ${n} key-derivation iterations; the limit is ${max}`, [{ field: FIELD, message: `iteration count above ${max}: re-encrypt it (openssl pkcs8 -topk8 -v2 aes-256-cbc)` }]);
const wrongPassphrase = () => new DomainError('bad_key', 'the passphrase does not decrypt the private key', [{ field: '/body/passphrase', message: 'wrong passphrase' }]);

function iterationsOf(buf: Buffer, t: der.Tlv): bigint {
  if (t.tag !== 0x02 || t.end - t.content > 8) throw unreadable('iteration count is not a small INTEGER');
  const n = der.readInteger(buf, t);
  if (n < 1n) throw unreadable('iteration count is not positive');
  return n;
}

/** Decrypt an EncryptedPrivateKeyInfo (DER) with the passphrase; never blocks on the KDF. */
export async function decryptPkcs8(info: Buffer, passphrase: string): Promise<KeyObject> {
  let scheme: string;
  let params: der.Tlv | undefined;
  let data: Buffer;
  try {
    const top = der.readWhole(info, 0x30, 'EncryptedPrivateKeyInfo');
    const [alg, enc] = der.children(info, top);
    if (alg?.tag !== 0x30 || enc?.tag !== 0x04) throw new der.DerError('bad structure');
    const algParts = der.children(info, alg);
    scheme = der.readOid(info, algParts[0]);
    params = algParts[1];
    data = Buffer.from(der.content(info, enc));
  } catch (e) {
    throw unreadable(e instanceof der.DerError ? e.message : 'bad structure');
  }
  if (LEGACY.test(scheme)) {
    // { salt OCTET STRING, iterations INTEGER }: bound it, then let OpenSSL do the rest.
    const [salt, iter] = params?.tag === 0x30 ? der.children(info, params) : [];
    if (salt?.tag !== 0x04 || !iter) throw unreadable('bad PBE parameters');
    const n = iterationsOf(info, iter);
    if (n > BigInt(MAX_LEGACY_ITERATIONS)) throw tooCostly(n, MAX_LEGACY_ITERATIONS);
    try {
      return createPrivateKey({ key: info, format: 'der', type: 'pkcs8', passphrase });
    } catch {
      throw wrongPassphrase();
    }
  }
  if (scheme !== PBES2 || params?.tag !== 0x30) throw unreadable(`encryption scheme ${scheme} is not supported (use PBES2 with PBKDF2)`);
  let salt: Buffer;
  let iterations: bigint;
  let keyLength: number | undefined;
  let hash = 'sha1';
  let cipher: { name: string; keyLength: number };
  let iv: Buffer;
  try {
    const [kdf, encScheme] = der.children(info, params);
    const [kdfOid, kdfParams] = der.children(info, kdf);
    const kdfName = der.readOid(info, kdfOid);
    // scrypt included: its cost parameters are a memory bomb of their own.
    if (kdfName !== PBKDF2) throw unreadable(`key derivation ${kdfName === '1.3.6.1.4.1.11591.4.11' ? 'scrypt' : kdfName} is not supported (use PBKDF2)`);
    const p = der.children(info, kdfParams);
    if (p[0]?.tag !== 0x04) throw unreadable('PBKDF2 salt must be an OCTET STRING');
    salt = Buffer.from(der.content(info, p[0]));
    iterations = iterationsOf(info, p[1]);
    let i = 2;
    if (p[i]?.tag === 0x02) keyLength = Number(der.readInteger(info, p[i++]));
    if (p[i]) {
      const prf = PRF[der.readOid(info, der.children(info, p[i])[0])];
      if (!prf) throw unreadable('unsupported PBKDF2 PRF');
      hash = prf;
    }
    const [cipherOid, ivT] = der.children(info, encScheme);
    const c = CIPHERS[der.readOid(info, cipherOid)];
    if (!c) throw unreadable('unsupported cipher (use AES-CBC or 3DES-CBC)');
    cipher = c;
    if (ivT?.tag !== 0x04) throw unreadable('cipher IV must be an OCTET STRING');
    iv = Buffer.from(der.content(info, ivT));
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw unreadable('bad PBES2 parameters');
  }
  if (iterations > BigInt(MAX_PBKDF2_ITERATIONS)) throw tooCostly(iterations, MAX_PBKDF2_ITERATIONS);
  if (keyLength !== undefined && keyLength !== cipher.keyLength) throw unreadable('PBKDF2 key length does not fit the cipher');
  const key = await pbkdf2(Buffer.from(passphrase, 'utf8'), salt, Number(iterations), cipher.keyLength, hash);
  let plain: Buffer;
  try {
    const d = createDecipheriv(cipher.name, key, iv);
    plain = Buffer.concat([d.update(data), d.final()]);
    return createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
  } catch {
    // Bad padding, or a padding that happened to pass over garbage.
    throw wrongPassphrase();
  }
}
