import 'reflect-metadata';
import { webcrypto, randomBytes, createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate as AsnCertificate, CertificateList, Name as AsnName, Time, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../errors.js';
import { EXT, type Issued, type KeyAlg, OpensslPki } from './openssl-pki.fixture.js';
import { VERIFY_ERROR_CODES, parseCertificateBundle, verifyChain, type VerifyInput, type VerifyReport } from './index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const AT = new Date('2025-06-01T00:00:00Z');
const pki = new OpensslPki();

interface Hierarchy {
  root: Issued;
  intermediate: Issued;
  leaf: Issued;
}

const hierarchies = {} as Record<KeyAlg, Hierarchy>;
let extra: Record<string, Issued>;
let crls: Record<string, Uint8Array>;

function hierarchy(alg: KeyAlg): Hierarchy {
  const root = pki.issue({ name: `${alg}-root`, subject: `/CN=Certa Test Root ${alg}/O=Certa`, alg, ext: EXT.root });
  const intermediate = pki.issue({ name: `${alg}-int`, subject: `/CN=Certa Test Intermediate ${alg}/O=Certa`, alg, ext: EXT.intermediate(), issuer: root });
  const leaf = pki.issue({ name: `${alg}-leaf`, subject: '/CN=www.example.com', alg, ext: EXT.leaf(alg), issuer: intermediate });
  return { root, intermediate, leaf };
}

beforeAll(() => {
  for (const alg of ['rsa', 'ec', 'ed25519'] as const) hierarchies[alg] = hierarchy(alg);
  const { root, intermediate } = hierarchies.ec;
  const leafWith = (name: string, ext: string[], params: { end?: string; issuer?: Issued; subject?: string } = {}) =>
    pki.issue({ name, subject: params.subject ?? '/CN=www.example.com', alg: 'ec', ext, issuer: params.issuer ?? intermediate, end: params.end });
  const pathLen0 = pki.issue({ name: 'int-pathlen0', subject: '/CN=Certa PathLen0 CA', alg: 'ec', ext: EXT.intermediate([], 0), issuer: root });
  const belowPathLen0 = pki.issue({ name: 'int-below-pathlen0', subject: '/CN=Certa Sub CA', alg: 'ec', ext: EXT.intermediate(), issuer: pathLen0 });
  const constrained = pki.issue({ name: 'int-nc', subject: '/CN=Certa Constrained CA', alg: 'ec', ext: EXT.intermediate(['nameConstraints = critical, permitted;DNS:example.org']), issuer: root });
  extra = {
    expired: leafWith('leaf-expired', EXT.leaf('ec'), { end: '20250101000000Z' }),
    clientOnly: leafWith('leaf-client', EXT.leaf('ec', 'DNS:www.example.com', 'clientAuth')),
    revoked: leafWith('leaf-revoked', EXT.leaf('ec')),
    codeSigningToo: leafWith('leaf-tls-codesigning', EXT.leaf('ec', 'DNS:www.example.com', 'serverAuth, codeSigning')),
    critical: leafWith('leaf-critical', EXT.leaf('ec', 'DNS:www.example.com', 'serverAuth', ['1.2.3.4.5.6 = critical, ASN1:NULL'])),
    pathLen0,
    belowPathLen0,
    pathLenLeaf: leafWith('leaf-pathlen', EXT.leaf('ec'), { issuer: belowPathLen0 }),
    constrained,
    ncLeaf: leafWith('leaf-nc', EXT.leaf('ec'), { issuer: constrained }),
    ncLeafOk: leafWith('leaf-nc-ok', EXT.leaf('ec', 'DNS:api.example.org'), { issuer: constrained, subject: '/CN=api.example.org' }),
  };
  pki.revoke(intermediate, extra.revoked);
  crls = {
    intermediate: pki.crl(intermediate, '20250501000000Z', '20250701000000Z'),
    root: pki.crl(root, '20250501000000Z', '20250701000000Z'),
    stale: pki.crl(intermediate, '20250101000000Z', '20250201000000Z'),
  };
}, 120_000);

afterAll(() => pki.cleanup());

function input(h: Hierarchy, overrides: Partial<VerifyInput> = {}): VerifyInput {
  return {
    leaf: h.leaf.der,
    intermediates: [h.intermediate.der],
    trustAnchors: [h.root.der],
    at: AT,
    purpose: 'serverAuth',
    peerName: { kind: 'dns', value: 'www.example.com' },
    mode: 'webpki',
    ...overrides,
  };
}

const codes = (r: VerifyReport) => r.errors.map((e) => e.code);

describe('verifyChain with openssl-made chains', () => {
  it.each(['rsa', 'ec', 'ed25519'] as const)('ok/%s root -> intermediate -> leaf', async (alg) => {
    for (const mode of ['webpki', 'rfc5280'] as const) {
      const r = await verifyChain(input(hierarchies[alg], { mode }));
      expect(r.errors).toEqual([]);
      expect(r.valid).toBe(true);
      expect(r.mode).toBe(mode);
      expect(r.path.map((p) => p.subject)).toEqual(['CN=www.example.com', `O=Certa,CN=Certa Test Intermediate ${alg}`, `O=Certa,CN=Certa Test Root ${alg}`]);
      expect(r.path[0]).toMatchObject({ notBefore: '2024-01-01T00:00:00.000Z', notAfter: '2034-01-01T00:00:00.000Z' });
      expect(r.path[0].fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.checks.every((c) => c.passed)).toBe(true);
    }
  });

  it('ok/intermediates in any order with irrelevant extras', async () => {
    const r = await verifyChain(input(hierarchies.ec, { intermediates: [hierarchies.rsa.intermediate.der, extra.constrained.der, hierarchies.ec.intermediate.der, hierarchies.ed25519.root.der] }));
    expect(r.valid).toBe(true);
    expect(r.path).toHaveLength(3);
  });

  it('ok/CRL that does not list the leaf', async () => {
    const r = await verifyChain(input(hierarchies.ec, { crls: [crls.intermediate, crls.root] }));
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.checks.find((c) => c.name === 'revocation')).toEqual({ name: 'revocation', passed: true });
  });

  it('ok/name constraints satisfied', async () => {
    const r = await verifyChain(input(hierarchies.ec, { leaf: extra.ncLeafOk.der, intermediates: [extra.constrained.der], peerName: { kind: 'dns', value: 'api.example.org' } }));
    expect(r.errors).toEqual([]);
  });

  const failures: Array<{ name: string; make: () => VerifyInput; code: (typeof VERIFY_ERROR_CODES)[number]; index?: number }> = [
    {
      name: 'error/tampered signature',
      make: () => {
        const der = new Uint8Array(hierarchies.ec.leaf.der);
        der[der.length - 5] ^= 0x01;
        return input(hierarchies.ec, { leaf: der });
      },
      code: 'badSignature',
      index: 0,
    },
    { name: 'error/expired leaf', make: () => input(hierarchies.ec, { leaf: extra.expired.der }), code: 'expired', index: 0 },
    { name: 'error/not yet valid', make: () => input(hierarchies.ec, { at: new Date('2023-06-01T00:00:00Z') }), code: 'notYetValid' },
    { name: 'error/wrong host', make: () => input(hierarchies.ec, { peerName: { kind: 'dns', value: 'www.example.net' } }), code: 'nameMismatch', index: 0 },
    { name: 'error/wrong IP', make: () => input(hierarchies.ec, { peerName: { kind: 'ip', value: '192.0.2.1' } }), code: 'nameMismatch', index: 0 },
    { name: 'error/wrong EKU', make: () => input(hierarchies.ec, { leaf: extra.clientOnly.der }), code: 'extKeyUsage', index: 0 },
    { name: 'error/revoked by an openssl CRL', make: () => input(hierarchies.ec, { leaf: extra.revoked.der, crls: [crls.intermediate] }), code: 'revoked', index: 0 },
    { name: 'error/stale CRL', make: () => input(hierarchies.ec, { crls: [crls.stale] }), code: 'crlInvalid', index: 0 },
    { name: 'error/missing trust anchor', make: () => input(hierarchies.ec, { trustAnchors: [hierarchies.rsa.root.der] }), code: 'untrustedRoot', index: 1 },
    { name: 'error/missing intermediate', make: () => input(hierarchies.ec, { intermediates: [] }), code: 'untrustedRoot', index: 0 },
    {
      name: 'error/pathLen exceeded',
      make: () => input(hierarchies.ec, { leaf: extra.pathLenLeaf.der, intermediates: [extra.belowPathLen0.der, extra.pathLen0.der] }),
      code: 'pathLenExceeded',
      index: 2,
    },
    {
      name: 'error/name constraints violation',
      make: () => input(hierarchies.ec, { leaf: extra.ncLeaf.der, intermediates: [extra.constrained.der] }),
      code: 'nameConstraintViolation',
      index: 0,
    },
    { name: 'error/unknown critical extension', make: () => input(hierarchies.ec, { leaf: extra.critical.der }), code: 'unknownCriticalExtension', index: 0 },
    { name: 'error/chain too long', make: () => input(hierarchies.ec, { maxDepth: 0 }), code: 'chainTooLong' },
  ];

  it.each(failures)('$name', async ({ make, code, index }) => {
    const r = await verifyChain(make());
    expect(r.valid).toBe(false);
    expect(codes(r)).toContain(code);
    if (index !== undefined) expect(r.errors.find((e) => e.code === code)?.certificateIndex).toBe(index);
    expect(r.checks.some((c) => !c.passed)).toBe(true);
  });

  it('validity is to the second: notAfter + 500 ms is still valid, notBefore - 1 ms is not yet', async () => {
    const h = hierarchies.ec;
    // Every certificate of the fixture is valid from 2024-01-01T00:00:00Z to 2034-01-01T00:00:00Z.
    const late = await verifyChain(input(h, { at: new Date('2034-01-01T00:00:00.500Z') }));
    expect(codes(late)).not.toContain('expired');
    const early = await verifyChain(input(h, { at: new Date('2023-12-31T23:59:59.999Z') }));
    expect(codes(early)).toContain('notYetValid');
    const after = await verifyChain(input(h, { at: new Date('2034-01-01T00:00:01.000Z') }));
    expect(codes(after)).toContain('expired');
  });

  it('ok/a trust anchor signed by its own key needs no authorityKeyIdentifier, even when its issuer names someone else', async () => {
    const h = hierarchies.ec;
    const root = AsnConvert.parse(h.root.der, AsnCertificate);
    const tbs = root.tbsCertificate;
    tbs.issuer = AsnConvert.parse(AsnConvert.serialize(AsnConvert.parse(h.intermediate.der, AsnCertificate).tbsCertificate.subject), AsnName);
    tbs.extensions = tbs.extensions?.filter((e) => e.extnID !== id_ce_authorityKeyIdentifier) as typeof tbs.extensions;
    root.signatureValue = new Uint8Array(sign('sha256', Buffer.from(AsnConvert.serialize(tbs)), createPrivateKey(readFileSync(h.root.keyPath)))).buffer;
    const anchor = new Uint8Array(AsnConvert.serialize(root));
    const r = await verifyChain(input(h, { trustAnchors: [anchor] }));
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
  });

  it('error/a TLS leaf that also asserts codeSigning: refused in webpki mode (CABF 7.1.2.7.10), accepted by RFC 5280', async () => {
    const web = await verifyChain(input(hierarchies.ec, { leaf: extra.codeSigningToo.der }));
    expect(web.valid).toBe(false);
    expect(web.errors).toEqual([expect.objectContaining({ code: 'extKeyUsage', certificateIndex: 0, message: expect.stringContaining('codeSigning') })]);
    const plain = await verifyChain(input(hierarchies.ec, { leaf: extra.codeSigningToo.der, mode: 'rfc5280' }));
    expect(plain.errors).toEqual([]);
    expect(plain.valid).toBe(true);
  });

  // A CRL that is not a well-formed v2 CRL is not a CRL: ignored with a warning (as
  // x509-limbo expects), while a well-formed one that fails a check fails the path.
  // Each variant is the openssl CRL that revokes the leaf, altered and re-signed by the CA.
  const resigned = (mutate: (c: CertificateList) => void) => {
    const crl = AsnConvert.parse(crls.intermediate, CertificateList);
    mutate(crl);
    const tbs = AsnConvert.serialize(crl.tbsCertList);
    crl.signature = new Uint8Array(sign('sha256', Buffer.from(tbs), createPrivateKey(readFileSync(hierarchies.ec.intermediate.keyPath)))).buffer;
    return new Uint8Array(AsnConvert.serialize(crl));
  };
  it.each([
    { name: 'version 3', mutate: (c: CertificateList) => void (c.tbsCertList.version = 2), why: /version/ },
    { name: 'no nextUpdate', mutate: (c: CertificateList) => void (c.tbsCertList.nextUpdate = undefined), why: /nextUpdate/ },
    { name: 'GeneralizedTime for 2025', mutate: (c: CertificateList) => void (c.tbsCertList.thisUpdate = new Time({ generalTime: new Date('2025-05-01T00:00:00Z') })), why: /UTCTime/ },
  ])('ok/a malformed CRL ($name) revoking the leaf is ignored with a warning', async ({ mutate, why }) => {
    const r = await verifyChain(input(hierarchies.ec, { leaf: extra.revoked.der, crls: [resigned(mutate)] }));
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'crlIgnored', message: expect.stringMatching(why) })]);
    // The same CRL re-signed without the damage still revokes (the re-signing itself is sound).
    const sound = await verifyChain(input(hierarchies.ec, { leaf: extra.revoked.der, crls: [resigned(() => {})] }));
    expect(codes(sound)).toEqual(['revoked']);
  });

  it('revocation lookup callback is consulted for every non-anchor certificate', async () => {
    const seen: string[] = [];
    const r = await verifyChain(
      input(hierarchies.ec, {
        revocationLookup: async (_issuer, serial) => {
          seen.push(serial);
          return serial === hierarchies.ec.intermediate.der.length.toString(16) ? undefined : { revoked: serial === seen[0], reason: 'keyCompromise' };
        },
      }),
    );
    expect(seen).toHaveLength(2);
    expect(r.errors).toEqual([expect.objectContaining({ code: 'revoked', certificateIndex: 0 })]);
  });

  it('rfc5280 mode reports weak signature algorithms as warnings, webpki refuses them', async () => {
    const dir = `${pki.root}/sha1`;
    const root = pki.issue({ name: 'sha1-root', subject: '/CN=SHA1 Root', alg: 'rsa', ext: EXT.root });
    const leafKey = `${pki.root}/sha1-leaf.key`;
    pki.key(leafKey, 'rsa');
    pki.run(['req', '-new', '-key', leafKey, '-subj', '/CN=www.example.com', '-out', `${pki.root}/sha1.csr`]);
    const ext = `${pki.root}/sha1.ext`;
    await import('node:fs').then((fs) => fs.writeFileSync(ext, `[e]\n${EXT.leaf('rsa').join('\n')}\n`));
    pki.run(['x509', '-req', '-in', `${pki.root}/sha1.csr`, '-CA', root.certPath, '-CAkey', root.keyPath, '-set_serial', '4660', '-days', '3650', '-sha1', '-extfile', ext, '-extensions', 'e', '-out', `${dir}.pem`]);
    const leaf = pki.toDer(`${dir}.pem`);
    const base = { leaf, trustAnchors: [root.der], at: new Date(), peerName: { kind: 'dns' as const, value: 'www.example.com' } };
    const loose = await verifyChain({ ...base, mode: 'rfc5280' });
    expect(loose.valid).toBe(true);
    expect(loose.warnings.map((w) => w.code)).toContain('sha1Signature');
    const strict = await verifyChain({ ...base, mode: 'webpki' });
    expect(strict.valid).toBe(false);
    expect(codes(strict)).toContain('policyViolation');
  });
});

describe('hostile input', () => {
  it('a bundle of many cross-signed CAs with the same name finishes quickly', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await Promise.all(Array.from({ length: 8 }, () => webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>));
    const name = 'CN=Hostile CA';
    const notBefore = new Date('2024-01-01T00:00:00Z');
    const notAfter = new Date('2034-01-01T00:00:00Z');
    const bundle: Uint8Array[] = [];
    let serial = 1;
    for (const signer of keys) {
      for (const subject of keys) {
        const cert = await x509.X509CertificateGenerator.create({
          serialNumber: (serial++).toString(16).padStart(4, '0'),
          subject: name,
          issuer: name,
          notBefore,
          notAfter,
          signingAlgorithm: alg,
          publicKey: subject.publicKey,
          signingKey: signer.privateKey,
          extensions: [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
            await x509.SubjectKeyIdentifierExtension.create(subject.publicKey),
          ],
        });
        bundle.push(new Uint8Array(cert.rawData));
      }
    }
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: 'ffff',
      subject: 'CN=www.example.com',
      issuer: name,
      notBefore,
      notAfter,
      signingAlgorithm: alg,
      publicKey: keys[0].publicKey,
      signingKey: keys[0].privateKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'www.example.com' }]),
        await x509.AuthorityKeyIdentifierExtension.create(keys[0].publicKey),
      ],
    });
    const started = performance.now();
    const r = await verifyChain({
      leaf: new Uint8Array(leaf.rawData),
      intermediates: bundle,
      trustAnchors: [hierarchies.ec.root.der],
      at: AT,
      peerName: { kind: 'dns', value: 'www.example.com' },
      mode: 'webpki',
    });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(r.valid).toBe(false);
    expect(codes(r).some((c) => c === 'untrustedRoot' || c === 'badSignature')).toBe(true);
    expect(r.warnings.map((w) => w.code)).toContain('budgetExhausted');
  });

  it('mutated certificates never throw anything but DomainError', async () => {
    const base = hierarchies.rsa.leaf.der;
    for (let i = 0; i < 400; i++) {
      const der = new Uint8Array(base);
      const flips = 1 + (i % 4);
      for (let f = 0; f < flips; f++) der[(i * 7919 + f * 104729) % der.length] = (i * 31 + f) & 0xff;
      try {
        const r = await verifyChain(input(hierarchies.rsa, { leaf: der }));
        expect(typeof r.valid).toBe('boolean');
      } catch (e) {
        expect(e).toBeInstanceOf(DomainError);
        expect((e as DomainError).code).toBe('bad_certificate');
      }
    }
  });

  const junk: Array<{ name: string; value: () => string | Uint8Array; message: RegExp }> = [
    { name: 'junk/plain text', value: () => 'hello, I am not a certificate', message: /no PEM block/ },
    { name: 'junk/empty', value: () => new Uint8Array(), message: /empty/ },
    { name: 'junk/truncated DER', value: () => hierarchies.ec.leaf.der.subarray(0, 200), message: /truncated/ },
    { name: 'junk/DER with trailing garbage', value: () => new Uint8Array([...hierarchies.ec.leaf.der.subarray(0, 30), 1, 2, 3]), message: /truncated|malformed|not a valid/ },
    {
      name: 'junk/truncated PEM body',
      value: () => hierarchies.ec.leaf.pem.replace(/\n[A-Za-z0-9+/=]+\n-----END/, '\n-----END'),
      message: /not a valid X\.509|base64/,
    },
    { name: 'junk/private key instead of a certificate', value: () => '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', message: /PRIVATE KEY/ },
    { name: 'junk/10 MB of random bytes', value: () => new Uint8Array(randomBytes(10 * 1024 * 1024)), message: /too large/ },
    { name: 'junk/10 MB of text', value: () => 'A'.repeat(10 * 1024 * 1024), message: /too large/ },
    // Read in one linear pass: a back-referencing regex rescanned the rest from every BEGIN.
    { name: 'junk/200 KB of BEGIN lines without an END', value: () => '-----BEGIN CERTIFICATE-----\n'.repeat(7000), message: /no END line/ },
    { name: 'junk/a block that ends with another label', value: () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n', message: /different label/ },
  ];

  it.each(junk)('$name -> badCertificate', ({ value, message }) => {
    let thrown: unknown;
    try {
      parseCertificateBundle(value());
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect((thrown as DomainError).code).toBe('bad_certificate');
    expect((thrown as DomainError).message).toMatch(message);
  });

  it('parses PEM bundles and concatenated DER', () => {
    const { leaf, intermediate, root } = hierarchies.ec;
    expect(parseCertificateBundle(`subject=...\n${leaf.pem}\n${intermediate.pem}`)).toHaveLength(2);
    expect(parseCertificateBundle(new Uint8Array([...leaf.der, ...root.der]))).toHaveLength(2);
    expect(parseCertificateBundle([leaf.pem, root.der])).toHaveLength(2);
  });

  it.each([
    { name: 'junk leaf', leaf: () => new Uint8Array([1, 2, 3]) },
    { name: '10 MB leaf', leaf: () => new Uint8Array(10 * 1024 * 1024) },
    { name: 'truncated leaf', leaf: () => hierarchies.ec.leaf.der.subarray(0, 100) },
  ])('verifyChain refuses a $name with badCertificate', async ({ leaf }) => {
    await expect(verifyChain(input(hierarchies.ec, { leaf: leaf() }))).rejects.toMatchObject({ name: 'DomainError', code: 'bad_certificate' });
  });
});

describe('webpki TLS leaf names: commonName among the SANs (CABF 7.1.4.3), no wildcard under a public suffix (CABF 3.2.2.6)', () => {
  const leaves: Record<string, Issued> = {};
  const leaf = (name: string, subject: string, san: string) => {
    leaves[name] ??= pki.issue({ name: `names-${name}`, subject, alg: 'ec', ext: EXT.leaf('ec', san), issuer: hierarchies.ec.intermediate });
    return leaves[name];
  };
  const dns = (value: string) => ({ kind: 'dns' as const, value });
  const cases: Array<{ name: string; subject: string; san: string; peer: { kind: 'dns' | 'ip'; value: string }; mode?: 'webpki' | 'rfc5280'; error?: string; warning?: string }> = [
    { name: 'ok/CN is a copy of a DNS SAN', subject: '/CN=www.example.com', san: 'DNS:www.example.com', peer: dns('www.example.com') },
    { name: 'ok/CN is the RFC 5952 text of an IP SAN', subject: '/CN=2001:db8::1', san: 'IP:2001:db8::1', peer: { kind: 'ip', value: '2001:db8::1' } },
    { name: 'error/CN is another host of the same domain', subject: '/CN=notinsan.example.com', san: 'DNS:valid.example.com, DNS:another.example.com', peer: dns('valid.example.com'), error: 'commonNameNotInSan' },
    { name: 'error/CN is an A-label that no SAN holds', subject: '/CN=xn--nxasmq6b.com', san: 'DNS:xn--n3h.com', peer: dns('xn--n3h.com'), error: 'commonNameNotInSan' },
    { name: 'error/CN differs from its SAN in case only', subject: '/CN=WWW.Example.com', san: 'DNS:www.example.com', peer: dns('www.example.com'), error: 'commonNameNotInSan' },
    { name: 'error/CN is the parent of a wildcard SAN', subject: '/CN=example.com', san: 'DNS:*.example.com', peer: dns('foo.example.com'), error: 'commonNameNotInSan' },
    { name: 'error/CN is an IP address no SAN holds', subject: '/CN=192.0.2.9', san: 'IP:192.0.2.1', peer: { kind: 'ip', value: '192.0.2.1' }, error: 'commonNameNotInSan' },
    { name: 'warning/a single-label CN is no host name: tolerated', subject: '/CN=EE', san: 'DNS:www.example.com', peer: dns('www.example.com'), warning: 'commonNameNotInSan' },
    { name: 'warning/rfc5280 mode tolerates a CN outside the SANs', subject: '/CN=notinsan.example.com', san: 'DNS:valid.example.com', peer: dns('valid.example.com'), mode: 'rfc5280', warning: 'commonNameNotInSan' },
    { name: 'error/*.co.uk is a wildcard under an ICANN public suffix', subject: '/CN=*.co.uk', san: 'DNS:*.co.uk', peer: dns('example.co.uk'), error: 'wildcardPublicSuffix' },
    { name: 'error/*.com', subject: '/CN=*.com', san: 'DNS:*.com', peer: dns('example.com'), error: 'wildcardPublicSuffix' },
    { name: 'error/*.internal: an unlisted top-level label counts as a suffix', subject: '/CN=*.internal', san: 'DNS:*.internal', peer: dns('ca.internal'), error: 'wildcardPublicSuffix' },
    { name: 'ok/*.example.co.uk is under a registrable domain', subject: '/CN=*.example.co.uk', san: 'DNS:*.example.co.uk', peer: dns('www.example.co.uk') },
    { name: 'ok/*.s3.amazonaws.com: a private-section suffix its owner may cover', subject: '/CN=*.s3.amazonaws.com', san: 'DNS:*.s3.amazonaws.com', peer: dns('bucket.s3.amazonaws.com') },
    { name: 'ok/rfc5280 mode leaves *.co.uk to the CAs', subject: '/CN=*.co.uk', san: 'DNS:*.co.uk', peer: dns('example.co.uk'), mode: 'rfc5280' },
  ];

  it.each(cases)('$name', async ({ name, subject, san, peer, mode, error, warning }) => {
    const issued = leaf(name.replace(/\W+/g, '-'), subject, san);
    const r = await verifyChain(input(hierarchies.ec, { leaf: issued.der, peerName: peer, mode: mode ?? 'webpki' }));
    if (error) {
      expect(r.valid).toBe(false);
      // `*.com` and `*.internal` also match no reference name (one label under the `*.`).
      expect(codes(r).filter((c) => c !== 'nameMismatch')).toEqual([error]);
      expect(r.errors.find((e) => e.code === error)?.certificateIndex).toBe(0);
      expect(r.checks.find((c) => c.name === 'profile')?.passed).toBe(false);
    } else {
      expect(r.valid, JSON.stringify(r.errors)).toBe(true);
    }
    if (warning) expect(r.warnings.map((w) => w.code)).toContain(warning);
    else expect(r.warnings.map((w) => w.code)).not.toContain('commonNameNotInSan');
  });
});
