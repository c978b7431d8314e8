/**
 * A hostile path-building input: `levels` levels of `width` CA certificates each, every
 * certificate of a level sharing one subject name and one key, all signed by the key of
 * the level above (so every candidate at every step verifies), under a self-signed root.
 * A leaf signed at the bottom completes the bundle (levels x width + 1 certificates).
 * Every complete path then reaches the root, and path building faces width^depth of them.
 */
import { buildCertificate, exportPrivateKeyPem, generateKeyPair, pemEncode } from '../../src/pki/x509.js';

export interface HostileMesh {
  /** The leaf first, then every mesh certificate (PEM, one string). */
  bundlePem: string;
  rootPem: string;
  /** The leaf's private key (to serve the bundle over TLS). */
  leafKeyPem: string;
  certificates: number;
}

export async function hostileMesh(levels = 30, width = 17): Promise<HostileMesh> {
  const day = 86_400_000;
  const notBefore = new Date(Date.now() - day);
  const notAfter = new Date(Date.now() + 365 * day);
  const keys = await Promise.all(Array.from({ length: levels + 1 }, () => generateKeyPair('ecdsa-p256')));
  const subject = (i: number) => ({ commonName: `Mesh Level ${i}`, organization: 'Hostile' });
  const ca = { pathLength: null, nameConstraints: null };
  const root = await buildCertificate({ subject: subject(levels), publicKey: keys[levels].publicKey, issuer: { self: true, privateKey: keys[levels].privateKey }, notBefore, notAfter, ca });
  // One certificate per level is enough to name the issuer; its subject and key are what the children need.
  let above = root.der;
  const pems: string[] = [];
  for (let i = levels - 1; i >= 0; i--) {
    let first: Buffer | undefined;
    for (let j = 0; j < width; j++) {
      const c = await buildCertificate({ subject: subject(i), publicKey: keys[i].publicKey, issuer: { certificateDer: above, privateKey: keys[i + 1].privateKey }, notBefore: new Date(notBefore.getTime() + j * 1000), notAfter, ca });
      first ??= c.der;
      pems.push(pemEncode(c.der, 'CERTIFICATE'));
    }
    above = first!;
  }
  const leafKey = await generateKeyPair('ecdsa-p256');
  const leaf = await buildCertificate({
    subject: { commonName: 'mesh.example.test' },
    publicKey: leafKey.publicKey,
    issuer: { certificateDer: above, privateKey: keys[0].privateKey },
    notBefore,
    notAfter,
    sans: { dns: ['mesh.example.test'], ip: [], email: [], uri: [] },
    usage: 'server',
  });
  return { bundlePem: [pemEncode(leaf.der, 'CERTIFICATE'), ...pems.reverse()].join(''), rootPem: pemEncode(root.der, 'CERTIFICATE'), leafKeyPem: exportPrivateKeyPem(leafKey.privateKey), certificates: 1 + pems.length };
}
