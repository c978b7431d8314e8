/**
 * PKCS#12 (PFX) for Windows and Java users: the private key in a PBES2 (PBKDF2-SHA256,
 * AES-256-CBC) shrouded key bag, the certificate and its chain in cert bags, and an
 * HMAC-SHA256 integrity MAC (RFC 7292 key derivation). OpenSSL 3, Windows and Java read it.
 */
import { createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import * as der from './der.js';

const OID = {
  data: '1.2.840.113549.1.7.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  sha256: '2.16.840.1.101.3.4.2.1',
};

// Hashes between two yields to the event loop: a few milliseconds of work. The 100,000
// iterations in one go held the loop for ~150 ms per PKCS#12 issued.
const KDF_SLICE = 2_000;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * RFC 7292 appendix B.2 key derivation (SHA-256: u = 32, v = 64). node:crypto has no
 * async form of it, so the iterations run in slices that let other requests through.
 */
async function pkcs12Kdf(password: Buffer, salt: Buffer, id: number, iterations: number, size: number): Promise<Buffer> {
  const u = 32;
  const v = 64;
  const D = Buffer.alloc(v, id);
  const fill = (b: Buffer) => {
    if (!b.length) return Buffer.alloc(0);
    const n = v * Math.ceil(b.length / v);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = b[i % b.length];
    return out;
  };
  let I = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  let produced = 0;
  while (produced < size) {
    let A = createHash('sha256').update(Buffer.concat([D, I])).digest();
    for (let i = 1; i < iterations; i++) {
      A = createHash('sha256').update(A).digest();
      if (i % KDF_SLICE === 0) await yieldToLoop();
    }
    out.push(A);
    produced += u;
    const B = fill(A).subarray(0, v);
    const next = Buffer.alloc(I.length);
    for (let j = 0; j < I.length / v; j++) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const s = I[j * v + k] + B[k] + carry;
        next[j * v + k] = s & 0xff;
        carry = s >> 8;
      }
    }
    I = next;
  }
  return Buffer.concat(out).subarray(0, size);
}

function bmpPassword(p: string): Buffer {
  const b = Buffer.alloc((p.length + 1) * 2);
  for (let i = 0; i < p.length; i++) b.writeUInt16BE(p.charCodeAt(i), i * 2);
  return b;
}

function bmpString(s: string): Buffer {
  return der.tlv(0x1e, bmpPassword(s).subarray(0, s.length * 2));
}

function contentInfoData(content: Buffer): Buffer {
  return der.seq(der.oid(OID.data), der.ctx(0, der.octets(content)));
}

export interface Pkcs12Params {
  privateKey: KeyObject;
  certificateDer: Buffer;
  chainDers: Buffer[];
  passphrase: string;
  friendlyName?: string;
  iterations?: number;
}

export async function buildPkcs12(p: Pkcs12Params): Promise<Buffer> {
  const iterations = p.iterations ?? 100_000;
  const localKeyId = createHash('sha1').update(p.certificateDer).digest();
  const attrs = der.set(
    der.seq(der.oid(OID.localKeyId), der.set(der.octets(localKeyId))),
    ...(p.friendlyName ? [der.seq(der.oid(OID.friendlyName), der.set(bmpString(p.friendlyName)))] : []),
  );
  // Step 1: the key, PBES2-encrypted by OpenSSL through node:crypto.
  const encryptedKey = p.privateKey.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: p.passphrase }) as Buffer;
  const keyBag = der.seq(der.oid(OID.shroudedKeyBag), der.ctx(0, encryptedKey), attrs);
  // Step 2: the certificate (with the key's localKeyId) and the chain.
  const certBag = (d: Buffer, withAttrs: boolean) =>
    der.seq(der.oid(OID.certBag), der.ctx(0, der.seq(der.oid(OID.x509Certificate), der.ctx(0, der.octets(d)))), ...(withAttrs ? [attrs] : []));
  const certs = der.seq(certBag(p.certificateDer, true), ...p.chainDers.map((d) => certBag(d, false)));
  const authSafe = der.seq(contentInfoData(der.seq(keyBag)), contentInfoData(certs));
  // Step 3: the integrity MAC over the authenticated safe.
  const salt = randomBytes(16);
  const macKey = await pkcs12Kdf(bmpPassword(p.passphrase), salt, 3, iterations, 32);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const macData = der.seq(der.seq(der.seq(der.oid(OID.sha256), der.nul()), der.octets(mac)), der.octets(salt), der.integer(iterations));
  return der.seq(der.integer(3), contentInfoData(authSafe), macData);
}
