/**
 * Signing for CRLs and OCSP responses. A `Signer` is the narrow interface a KMS or HSM
 * implements; a node:crypto private KeyObject is the fast path and is wrapped here.
 *
 * Named `crl-*` only because of file ownership; shared with `ocsp.ts`.
 */
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { DomainError } from '../errors.js';

export type SignatureAlgorithm =
  | 'ecdsa-sha256'
  | 'ecdsa-sha384'
  | 'ecdsa-sha512'
  | 'rsa-sha256'
  | 'rsa-sha384'
  | 'rsa-sha512'
  | 'ed25519'
  | 'ed448';

export interface Signer {
  /** Decides the AlgorithmIdentifier written next to the signature. */
  readonly algorithm: SignatureAlgorithm;
  /** The public half, checked against the issuer/responder certificate before signing. */
  readonly publicKey: KeyObject;
  /** Sign `data` (the exact DER to be signed); ECDSA signatures are DER Ecdsa-Sig-Value. */
  sign(data: Buffer): Buffer | Promise<Buffer>;
}

/** What the builders accept: a private KeyObject (fast path) or any Signer. */
export type SigningKey = KeyObject | Signer;

const ALG_ID: Record<SignatureAlgorithm, Buffer> = {
  // ecdsa-with-SHA256/384/512 (RFC 5758: parameters absent)
  'ecdsa-sha256': Buffer.from('300a06082a8648ce3d040302', 'hex'),
  'ecdsa-sha384': Buffer.from('300a06082a8648ce3d040303', 'hex'),
  'ecdsa-sha512': Buffer.from('300a06082a8648ce3d040304', 'hex'),
  // sha256/384/512WithRSAEncryption (RFC 4055: parameters NULL)
  'rsa-sha256': Buffer.from('300d06092a864886f70d01010b0500', 'hex'),
  'rsa-sha384': Buffer.from('300d06092a864886f70d01010c0500', 'hex'),
  'rsa-sha512': Buffer.from('300d06092a864886f70d01010d0500', 'hex'),
  // id-Ed25519 / id-Ed448 (RFC 8410: parameters absent)
  ed25519: Buffer.from('300506032b6570', 'hex'),
  ed448: Buffer.from('300506032b6571', 'hex'),
};

/** DER AlgorithmIdentifier for a signature algorithm. */
export const algorithmIdentifier = (alg: SignatureAlgorithm): Buffer => ALG_ID[alg];

const HASH_OF: Record<SignatureAlgorithm, string | null> = {
  'ecdsa-sha256': 'sha256',
  'ecdsa-sha384': 'sha384',
  'ecdsa-sha512': 'sha512',
  'rsa-sha256': 'sha256',
  'rsa-sha384': 'sha384',
  'rsa-sha512': 'sha512',
  ed25519: null,
  ed448: null,
};

export interface SignerOptions {
  /** RSA only: the digest (default sha256). ECDSA follows the curve; EdDSA has none. */
  hash?: 'sha256' | 'sha384' | 'sha512';
}

/**
 * Wrap a node:crypto private key: ECDSA P-256/P-384/P-521 (with SHA-256/384/512),
 * RSA PKCS#1 v1.5, Ed25519, Ed448. Anything else is a `bad_key` DomainError.
 */
export function signerFromKey(key: KeyObject, opts: SignerOptions = {}): Signer {
  if (!key || typeof key !== 'object' || (key as KeyObject).type !== 'private') throw new DomainError('bad_key', 'a private KeyObject is required to sign');
  let algorithm: SignatureAlgorithm;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') algorithm = 'ecdsa-sha256';
      else if (curve === 'secp384r1') algorithm = 'ecdsa-sha384';
      else if (curve === 'secp521r1') algorithm = 'ecdsa-sha512';
      else throw new DomainError('bad_key', `unsupported EC curve ${curve}`);
      break;
    }
    case 'rsa':
      algorithm = `rsa-${opts.hash ?? 'sha256'}`;
      break;
    case 'ed25519':
      algorithm = 'ed25519';
      break;
    case 'ed448':
      algorithm = 'ed448';
      break;
    default:
      throw new DomainError('bad_key', `unsupported key type ${key.asymmetricKeyType}`);
  }
  const hash = HASH_OF[algorithm];
  return { algorithm, publicKey: createPublicKey(key), sign: (data) => cryptoSign(hash, data, key) };
}

const wrapped = new WeakMap<KeyObject, Signer>();

/** A Signer for either form (KeyObject wrappers are cached, they are immutable). */
export function toSigner(key: SigningKey): Signer {
  if (key && typeof (key as Signer).sign === 'function' && (key as Signer).algorithm) return key as Signer;
  const k = key as KeyObject;
  let s = wrapped.get(k);
  if (!s) {
    s = signerFromKey(k);
    wrapped.set(k, s);
  }
  return s;
}

/** Throw `bad_key` unless the signer's public key is the one in `spkiDer`. */
export function assertKeyMatches(signer: Signer, spkiDer: Buffer, what: string): void {
  let certKey: KeyObject;
  try {
    certKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    throw new DomainError('bad_certificate', `${what} has a public key node:crypto cannot read`);
  }
  let same = false;
  try {
    same = certKey.equals(signer.publicKey);
  } catch {
    // not a KeyObject: cannot be the right key
  }
  if (!same) throw new DomainError('bad_key', `the signing key does not match the ${what}`);
}
