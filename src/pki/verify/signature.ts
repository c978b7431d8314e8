/**
 * Public keys and signatures: classification (for policy checks) and verification with
 * node:crypto over the exact signed bytes. Nothing here throws on hostile input.
 */
import { type KeyObject, constants, createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import type { AlgorithmId, Certificate } from './certificate.js';
import { T, bytesEqual, isContext, isUniversal, readOid, readSingle, readSmallInt, sequence, children, value, type Tlv } from './der.js';
import { ALG, CURVE_NAMES } from './oids.js';
import { Lru } from './lru.js';

export type KeyType = 'rsa' | 'rsa-pss' | 'ec' | 'ed25519' | 'ed448' | 'dsa' | 'ml-dsa' | 'unknown';

export interface KeyInfo {
  type: KeyType;
  /** RSA modulus size in bits, or the curve size for EC keys. */
  bits?: number;
  curve?: string;
  /** Human-readable description, e.g. `RSA-2048` or `ECDSA P-256`. */
  label: string;
  /** Why the key cannot be used at all (malformed, explicit curve...). */
  error?: string;
  /** The AlgorithmIdentifier is encoded exactly as CABF 7.1.3.1 requires. */
  canonical: boolean;
}

const NULL_DER = Uint8Array.of(0x05, 0x00);

function rsaModulusBits(bytes: Uint8Array): number {
  const top = readSingle(bytes, 'RSAPublicKey');
  const parts = sequence(bytes, top, 'RSAPublicKey');
  if (parts.length !== 2 || !isUniversal(parts[0], T.INTEGER) || !isUniversal(parts[1], T.INTEGER)) throw new Error('malformed RSAPublicKey');
  let n = value(bytes, parts[0]);
  if (n.length === 0 || n[0] & 0x80) throw new Error('malformed RSA modulus');
  let i = 0;
  while (i < n.length - 1 && n[i] === 0) i++;
  n = n.subarray(i);
  let bits = n.length * 8;
  for (let b = n[0]; b < 0x80 && bits > 0; b <<= 1) bits--;
  return bits;
}

const keyInfoCache = new WeakMap<Certificate, KeyInfo>();

export function keyInfo(cert: Certificate): KeyInfo {
  const cached = keyInfoCache.get(cert);
  if (cached) return cached;
  const info = computeKeyInfo(cert.spkiAlg, cert.publicKey);
  keyInfoCache.set(cert, info);
  return info;
}

function computeKeyInfo(alg: AlgorithmId, publicKey: Uint8Array): KeyInfo {
  try {
    switch (alg.oid) {
      case ALG.rsaEncryption:
      case ALG.rsassaPss: {
        const bits = rsaModulusBits(publicKey);
        const pss = alg.oid === ALG.rsassaPss;
        return {
          type: pss ? 'rsa-pss' : 'rsa',
          bits,
          label: `${pss ? 'RSA-PSS' : 'RSA'}-${bits}`,
          canonical: !pss && alg.params !== undefined && bytesEqual(alg.params, NULL_DER),
        };
      }
      case ALG.ecPublicKey: {
        if (!alg.params) return { type: 'ec', label: 'ECDSA', error: 'EC key without curve parameters', canonical: false };
        const p = readSingle(alg.params, 'ECParameters');
        if (!isUniversal(p, T.OID)) return { type: 'ec', label: 'ECDSA (explicit curve)', error: 'explicitly-encoded EC curve parameters are not allowed (RFC 5480)', canonical: false };
        const curve = readOid(alg.params, p, 'namedCurve');
        const name = CURVE_NAMES[curve] ?? curve;
        const bits = { 'P-192': 192, 'P-224': 224, 'P-256': 256, 'P-384': 384, 'P-521': 521, secp256k1: 256 }[name];
        return { type: 'ec', curve, bits, label: `ECDSA ${name}`, canonical: true };
      }
      case ALG.ed25519:
        return { type: 'ed25519', bits: 256, label: 'Ed25519', canonical: alg.params === undefined, error: alg.params ? 'Ed25519 key with parameters' : undefined };
      case ALG.ed448:
        return { type: 'ed448', bits: 456, label: 'Ed448', canonical: alg.params === undefined, error: alg.params ? 'Ed448 key with parameters' : undefined };
      case ALG.dsa:
        return { type: 'dsa', label: 'DSA', canonical: false };
      case ALG.mlDsa44:
      case ALG.mlDsa65:
      case ALG.mlDsa87:
        return { type: 'ml-dsa', label: { [ALG.mlDsa44]: 'ML-DSA-44', [ALG.mlDsa65]: 'ML-DSA-65', [ALG.mlDsa87]: 'ML-DSA-87' }[alg.oid]!, canonical: alg.params === undefined };
      default:
        return { type: 'unknown', label: `unknown key algorithm ${alg.oid}`, canonical: false };
    }
  } catch (e) {
    return { type: 'unknown', label: 'malformed public key', error: `malformed public key: ${e instanceof Error ? e.message : String(e)}`, canonical: false };
  }
}

/** A small bounded LRU, shared across verifications (keys are content-addressed). */

const keyObjectCache = new WeakMap<Certificate, KeyObject | string>();
// Importing a key costs more than verifying with it; trust anchors and intermediates
// recur across verifications, so loaded keys are shared by SPKI.
const spkiCache = new Lru<KeyObject>(2048);

/** The certificate's public key as a node KeyObject, or the reason it cannot be loaded. */
export function publicKeyObject(cert: Certificate): KeyObject | string {
  const cached = keyObjectCache.get(cert);
  if (cached) return cached;
  let result: KeyObject | string;
  const info = keyInfo(cert);
  if (info.error) result = info.error;
  else {
    const spkiKey = Buffer.from(cert.spki).toString('base64');
    const shared = spkiCache.get(spkiKey);
    if (shared) result = shared;
    else {
      try {
        result = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
        spkiCache.set(spkiKey, result);
      } catch (e) {
        result = `unusable public key (${info.label}): ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  }
  keyObjectCache.set(cert, result);
  return result;
}

// ---------------------------------------------------------------------------------------
// Signature algorithms

export type SigFamily = 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa' | 'ed25519' | 'ed448' | 'dsa' | 'ml-dsa';

export interface SigAlgInfo {
  family: SigFamily;
  hash?: string;
  saltLength?: number;
  label: string;
  /** MD5/SHA-1 and friends. */
  weakHash: boolean;
  /** Encoded exactly as one of the CABF 7.1.3.2 permitted encodings. */
  webpkiPermitted: boolean;
  error?: string;
}

const HASH_OIDS: Record<string, string> = {
  [ALG.sha1]: 'sha1',
  [ALG.sha224]: 'sha224',
  [ALG.sha256]: 'sha256',
  [ALG.sha384]: 'sha384',
  [ALG.sha512]: 'sha512',
};

const SIMPLE: Record<string, { family: SigFamily; hash?: string; label: string }> = {
  [ALG.md2WithRsa]: { family: 'rsa-pkcs1', hash: 'md2', label: 'RSA PKCS#1 v1.5 with MD2' },
  [ALG.md5WithRsa]: { family: 'rsa-pkcs1', hash: 'md5', label: 'RSA PKCS#1 v1.5 with MD5' },
  [ALG.sha1WithRsa]: { family: 'rsa-pkcs1', hash: 'sha1', label: 'RSA PKCS#1 v1.5 with SHA-1' },
  [ALG.sha224WithRsa]: { family: 'rsa-pkcs1', hash: 'sha224', label: 'RSA PKCS#1 v1.5 with SHA-224' },
  [ALG.sha256WithRsa]: { family: 'rsa-pkcs1', hash: 'sha256', label: 'RSA PKCS#1 v1.5 with SHA-256' },
  [ALG.sha384WithRsa]: { family: 'rsa-pkcs1', hash: 'sha384', label: 'RSA PKCS#1 v1.5 with SHA-384' },
  [ALG.sha512WithRsa]: { family: 'rsa-pkcs1', hash: 'sha512', label: 'RSA PKCS#1 v1.5 with SHA-512' },
  [ALG.sha3_224WithRsa]: { family: 'rsa-pkcs1', hash: 'sha3-224', label: 'RSA PKCS#1 v1.5 with SHA3-224' },
  [ALG.sha3_256WithRsa]: { family: 'rsa-pkcs1', hash: 'sha3-256', label: 'RSA PKCS#1 v1.5 with SHA3-256' },
  [ALG.sha3_384WithRsa]: { family: 'rsa-pkcs1', hash: 'sha3-384', label: 'RSA PKCS#1 v1.5 with SHA3-384' },
  [ALG.sha3_512WithRsa]: { family: 'rsa-pkcs1', hash: 'sha3-512', label: 'RSA PKCS#1 v1.5 with SHA3-512' },
  [ALG.ecdsaSha1]: { family: 'ecdsa', hash: 'sha1', label: 'ECDSA with SHA-1' },
  [ALG.ecdsaSha224]: { family: 'ecdsa', hash: 'sha224', label: 'ECDSA with SHA-224' },
  [ALG.ecdsaSha256]: { family: 'ecdsa', hash: 'sha256', label: 'ECDSA with SHA-256' },
  [ALG.ecdsaSha384]: { family: 'ecdsa', hash: 'sha384', label: 'ECDSA with SHA-384' },
  [ALG.ecdsaSha512]: { family: 'ecdsa', hash: 'sha512', label: 'ECDSA with SHA-512' },
  [ALG.ecdsaSha3_224]: { family: 'ecdsa', hash: 'sha3-224', label: 'ECDSA with SHA3-224' },
  [ALG.ecdsaSha3_256]: { family: 'ecdsa', hash: 'sha3-256', label: 'ECDSA with SHA3-256' },
  [ALG.ecdsaSha3_384]: { family: 'ecdsa', hash: 'sha3-384', label: 'ECDSA with SHA3-384' },
  [ALG.ecdsaSha3_512]: { family: 'ecdsa', hash: 'sha3-512', label: 'ECDSA with SHA3-512' },
  [ALG.ed25519]: { family: 'ed25519', label: 'Ed25519' },
  [ALG.ed448]: { family: 'ed448', label: 'Ed448' },
  [ALG.dsaSha1]: { family: 'dsa', hash: 'sha1', label: 'DSA with SHA-1' },
  [ALG.dsaSha224]: { family: 'dsa', hash: 'sha224', label: 'DSA with SHA-224' },
  [ALG.dsaSha256]: { family: 'dsa', hash: 'sha256', label: 'DSA with SHA-256' },
  [ALG.mlDsa44]: { family: 'ml-dsa', label: 'ML-DSA-44' },
  [ALG.mlDsa65]: { family: 'ml-dsa', label: 'ML-DSA-65' },
  [ALG.mlDsa87]: { family: 'ml-dsa', label: 'ML-DSA-87' },
};

const WEBPKI_HASHES = new Set(['sha256', 'sha384', 'sha512']);
const PSS_SALT: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

function hashOfAlgId(buf: Uint8Array, t: Tlv): string {
  const parts = sequence(buf, t, 'hashAlgorithm');
  if (parts.length < 1 || parts.length > 2) throw new Error('malformed hash AlgorithmIdentifier');
  const oid = readOid(buf, parts[0], 'hashAlgorithm');
  if (parts[1] && !(isUniversal(parts[1], T.NULL) && parts[1].end === parts[1].valueStart)) throw new Error('unexpected hash parameters');
  const h = HASH_OIDS[oid];
  if (!h) throw new Error(`unsupported hash ${oid}`);
  return h;
}

function explicitChild(buf: Uint8Array, t: Tlv): Tlv {
  const c = children(buf, t);
  if (c.length !== 1) throw new Error('malformed explicit tag');
  return c[0];
}

function parsePssParams(params: Uint8Array | undefined): { hash: string; mgfHash: string; salt: number; trailer: number } {
  const out = { hash: 'sha1', mgfHash: 'sha1', salt: 20, trailer: 1 };
  if (!params) throw new Error('RSASSA-PSS without parameters');
  const top = readSingle(params, 'RSASSA-PSS-params');
  for (const p of sequence(params, top, 'RSASSA-PSS-params')) {
    if (isContext(p, 0)) out.hash = hashOfAlgId(params, explicitChild(params, p));
    else if (isContext(p, 1)) {
      const mgf = sequence(params, explicitChild(params, p), 'maskGenAlgorithm');
      if (mgf.length !== 2 || readOid(params, mgf[0], 'maskGenAlgorithm') !== ALG.mgf1) throw new Error('unsupported mask generation function');
      out.mgfHash = hashOfAlgId(params, mgf[1]);
    } else if (isContext(p, 2)) out.salt = readSmallInt(params, explicitChild(params, p), 'saltLength');
    else if (isContext(p, 3)) out.trailer = readSmallInt(params, explicitChild(params, p), 'trailerField');
    else throw new Error('unexpected RSASSA-PSS parameter');
  }
  return out;
}

export function sigAlgInfo(alg: AlgorithmId): SigAlgInfo {
  const simple = SIMPLE[alg.oid];
  if (simple) {
    const weakHash = simple.hash === 'md2' || simple.hash === 'md5' || simple.hash === 'sha1';
    let paramsOk: boolean;
    if (simple.family === 'rsa-pkcs1') paramsOk = alg.params === undefined || bytesEqual(alg.params, NULL_DER);
    else paramsOk = alg.params === undefined;
    const info: SigAlgInfo = {
      ...simple,
      weakHash,
      webpkiPermitted:
        paramsOk &&
        ((simple.family === 'rsa-pkcs1' && WEBPKI_HASHES.has(simple.hash!)) ||
          (simple.family === 'ecdsa' && WEBPKI_HASHES.has(simple.hash!)) ||
          simple.family === 'ed25519' ||
          simple.family === 'ml-dsa'),
    };
    if (!paramsOk) info.error = `${simple.label}: unexpected algorithm parameters`;
    if (simple.hash === 'md2' || simple.hash === 'md5') info.error = `${simple.label} is not supported`;
    return info;
  }
  if (alg.oid === ALG.rsassaPss) {
    try {
      const p = parsePssParams(alg.params);
      if (p.mgfHash !== p.hash) return { family: 'rsa-pss', label: 'RSASSA-PSS', weakHash: false, webpkiPermitted: false, error: 'RSASSA-PSS with a different MGF1 hash is not supported' };
      if (p.trailer !== 1) return { family: 'rsa-pss', label: 'RSASSA-PSS', weakHash: false, webpkiPermitted: false, error: 'RSASSA-PSS trailer field must be 1' };
      return {
        family: 'rsa-pss',
        hash: p.hash,
        saltLength: p.salt,
        label: `RSASSA-PSS with ${p.hash.toUpperCase()}`,
        weakHash: p.hash === 'sha1',
        webpkiPermitted: PSS_SALT[p.hash] === p.salt,
      };
    } catch (e) {
      return { family: 'rsa-pss', label: 'RSASSA-PSS', weakHash: false, webpkiPermitted: false, error: `malformed RSASSA-PSS parameters: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  return { family: 'rsa-pkcs1', label: `unknown signature algorithm ${alg.oid}`, weakHash: false, webpkiPermitted: false, error: `unsupported signature algorithm ${alg.oid}` };
}

const FAMILY_KEYS: Record<SigFamily, string[]> = {
  'rsa-pkcs1': ['rsa'],
  'rsa-pss': ['rsa', 'rsa-pss'],
  ecdsa: ['ec'],
  ed25519: ['ed25519'],
  ed448: ['ed448'],
  dsa: ['dsa'],
  'ml-dsa': ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'],
};

/** Verifies `signature` over `data`; returns undefined on success or the failure reason. */
export function verifySignature(data: Uint8Array, signature: Uint8Array, alg: SigAlgInfo, key: KeyObject | string): string | undefined {
  if (alg.error) return alg.error;
  if (typeof key === 'string') return key;
  const keyType = key.asymmetricKeyType ?? '';
  if (!FAMILY_KEYS[alg.family].includes(keyType)) return `${alg.label} signature cannot be made by a ${keyType || 'unknown'} key`;
  try {
    const d = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const s = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength);
    let ok: boolean;
    switch (alg.family) {
      case 'rsa-pkcs1':
        ok = cryptoVerify(alg.hash!, d, { key, padding: constants.RSA_PKCS1_PADDING }, s);
        break;
      case 'rsa-pss':
        ok = cryptoVerify(alg.hash!, d, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, s);
        break;
      case 'ecdsa':
      case 'dsa':
        ok = cryptoVerify(alg.hash!, d, { key, dsaEncoding: 'der' }, s);
        break;
      default:
        ok = cryptoVerify(null, d, key, s);
    }
    return ok ? undefined : 'signature does not verify';
  } catch (e) {
    return `signature could not be verified: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Whether this runtime can verify ML-DSA signatures (node >= 24.7). */
export function runtimeSupportsMlDsa(): boolean {
  try {
    generateKeyPairSync('ml-dsa-44' as never);
    return true;
  } catch {
    return false;
  }
}
