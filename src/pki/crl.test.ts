import { generateKeyPairSync, verify as cryptoVerify, createPublicKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, CertificateList } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../errors.js';
import { buildCrl, crlToPem, parseCrl, type BuildCrlParams, type CrlEntry } from './crl.js';
import { createTestKit, junk, mutations, type CaKeyType, type TestCert, type TestKit } from './crl-openssl.testkit.js';

// Fixed dates. nextUpdate is after 2049, so it exercises GeneralizedTime.
const THIS_UPDATE = new Date('2026-01-01T00:00:00Z');
const NEXT_UPDATE = new Date('2099-01-01T00:00:00Z');
const REVOKED_AT = new Date('2026-01-01T00:00:00Z');
const INVALID_SINCE = new Date('2025-12-24T12:30:00Z');
const CRL_URL = 'http://crl.certa.test/root.crl';
const DELTA_URL = 'http://crl.certa.test/root-delta.crl';

let kit: TestKit;
const cas = {} as Record<CaKeyType, { ca: TestCert; revoked: TestCert; good: TestCert }>;

beforeAll(() => {
  kit = createTestKit('crl');
  for (const type of ['p256', 'p384', 'p521', 'rsa', 'ed25519', 'ed448'] as CaKeyType[]) {
    const ca = kit.ca(`ca-${type}`, type);
    cas[type] = {
      ca,
      revoked: kit.leaf(ca, `revoked-${type}`, '7e57000000000001', { crlUrl: CRL_URL }),
      good: kit.leaf(ca, `good-${type}`, '7e57000000000002', { crlUrl: CRL_URL }),
    };
  }
});

afterAll(() => kit?.cleanup());

function writeCrl(name: string, der: Buffer): string {
  return kit.write(`${name}.crl.pem`, crlToPem(der));
}

function base(type: CaKeyType, over: Partial<BuildCrlParams> = {}): BuildCrlParams {
  const { ca } = cas[type];
  return { issuerCertificate: ca.pem, signingKey: ca.key, crlNumber: 42n, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE, entries: [], ...over };
}

function sampleEntries(type: CaKeyType): CrlEntry[] {
  return [
    { serialHex: cas[type].revoked.serialHex, revokedAt: REVOKED_AT, reason: 'keyCompromise', invalidityDate: INVALID_SINCE },
    { serialHex: '00FF01', revokedAt: REVOKED_AT, reason: 'superseded' },
    { serialHex: 'abc', revokedAt: new Date('2051-06-01T00:00:00Z'), reason: 'cessationOfOperation' },
    { serialHex: '1234', revokedAt: REVOKED_AT, reason: 'unspecified' },
    { serialHex: '80', revokedAt: REVOKED_AT },
    { serialHex: '7fffffffffffffffffffffffffffffffffffffff', revokedAt: REVOKED_AT, reason: 'certificateHold' },
  ];
}

describe('buildCrl with openssl as the peer', () => {
  it.each(['p256', 'p384', 'p521', 'rsa', 'ed25519', 'ed448'] as CaKeyType[])('ok/%s: openssl verifies it, shows it, and rejects the revoked leaf', async (type) => {
    const { ca, revoked, good } = cas[type];
    const der = await buildCrl(base(type, { entries: sampleEntries(type) }));
    const file = writeCrl(`full-${type}`, der);

    const check = kit.openssl(['crl', '-in', file, '-CAfile', ca.file, '-noout']);
    expect(check.out).toContain('verify OK');
    expect(check.code).toBe(0);

    const text = kit.openssl(['crl', '-in', file, '-noout', '-text']).stdout;
    expect(text).toMatch(/Version 2 \(0x1\)/);
    expect(text).toMatch(/X509v3 CRL Number:\s+42/);
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('Key Compromise');
    expect(text).toContain('Superseded');
    expect(text).toContain('Cessation Of Operation');
    expect(text).toContain('Certificate Hold');
    expect(text).toContain('Invalidity Date');
    expect(text).toContain('Dec 24 12:30:00 2025 GMT');
    expect(text).toContain('Next Update: Jan  1 00:00:00 2099 GMT');
    expect(text).toContain('Revocation Date: Jun  1 00:00:00 2051 GMT');
    // unspecified -> no reasonCode extension (RFC 5280 5.3.1)
    expect(text).not.toContain('Unspecified');
    expect(text.match(/Serial Number:/g)).toHaveLength(6);

    const bad = kit.openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', ca.file, revoked.file]);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain('error 23 at 0 depth lookup: certificate revoked');

    const ok = kit.openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', ca.file, good.file]);
    expect(ok.out).toContain(`${good.file}: OK`);
    expect(ok.code).toBe(0);
  });

  it('ok/empty: no revokedCertificates field, still verifies', async () => {
    const { ca, good } = cas.p256;
    const der = await buildCrl(base('p256'));
    const file = writeCrl('empty', der);
    expect(kit.openssl(['crl', '-in', file, '-CAfile', ca.file, '-noout']).out).toContain('verify OK');
    expect(kit.openssl(['crl', '-in', file, '-noout', '-text']).stdout).toContain('No Revoked Certificates');
    expect(kit.openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', ca.file, good.file]).code).toBe(0);
    expect(parseCrl(der).entryCount).toBe(0);
  });

  it('ok/delta: Delta CRL Indicator shown; -use_deltas revokes a leaf only on the delta', async () => {
    const { ca, revoked, good } = cas.p256;
    const full = await buildCrl(base('p256', { crlNumber: 10n, freshestCrlUrls: [DELTA_URL], entries: [{ serialHex: 'dead', revokedAt: REVOKED_AT }] }));
    const delta = await buildCrl(
      base('p256', { crlNumber: 11n, deltaBase: 10n, entries: [{ serialHex: revoked.serialHex, revokedAt: REVOKED_AT, reason: 'affiliationChanged' }, { serialHex: 'dead', revokedAt: REVOKED_AT, reason: 'removeFromCRL' }] }),
    );
    const fullFile = writeCrl('delta-base', full);
    const deltaFile = writeCrl('delta', delta);

    const fullText = kit.openssl(['crl', '-in', fullFile, '-noout', '-text']).stdout;
    expect(fullText).toContain('X509v3 Freshest CRL');
    expect(fullText).toContain(DELTA_URL);
    const deltaCheck = kit.openssl(['crl', '-in', deltaFile, '-CAfile', ca.file, '-noout', '-text']);
    expect(deltaCheck.out).toContain('verify OK');
    expect(deltaCheck.stdout).toMatch(/X509v3 Delta CRL Indicator: critical\s+10/);
    expect(deltaCheck.stdout).toContain('Remove From CRL');

    const both = ['verify', '-crl_check', '-use_deltas', '-CRLfile', fullFile, '-CRLfile', deltaFile, '-CAfile', ca.file];
    expect(kit.openssl([...both, revoked.file]).out).toContain('certificate revoked');
    expect(kit.openssl([...both, good.file]).code).toBe(0);
    expect(kit.openssl(['verify', '-crl_check', '-CRLfile', fullFile, '-CAfile', ca.file, revoked.file]).code).toBe(0);

    expect(parseCrl(delta)).toMatchObject({ isDelta: true, deltaBase: 10n, crlNumber: 11n, entryCount: 2 });
    expect(parseCrl(full)).toMatchObject({ isDelta: false, crlNumber: 10n, freshestCrlUrls: [DELTA_URL] });
  });

  it('ok/issuing distribution point matching the leaves CRLDP', async () => {
    const { ca, revoked, good } = cas.rsa;
    const der = await buildCrl(base('rsa', { issuingDistributionPoint: { urls: [CRL_URL], onlyContainsUserCerts: true }, entries: sampleEntries('rsa') }));
    const file = writeCrl('idp', der);
    const text = kit.openssl(['crl', '-in', file, '-CAfile', ca.file, '-noout', '-text']);
    expect(text.out).toContain('verify OK');
    expect(text.stdout).toContain('X509v3 Issuing Distribution Point: critical');
    expect(text.stdout).toContain('Only User Certificates');
    expect(kit.openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', ca.file, revoked.file]).out).toContain('certificate revoked');
    expect(kit.openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', ca.file, good.file]).code).toBe(0);
    expect(parseCrl(der).issuingDistributionPoint).toEqual({ urls: [CRL_URL], onlyContainsUserCerts: true, onlyContainsCaCerts: false });
  });

  it('ok/20,000 entries from an async iterable', async () => {
    const { ca, revoked } = cas.p256;
    async function* rows(): AsyncGenerator<CrlEntry> {
      for (let i = 1; i <= 20_000; i++) yield { serialHex: (0x10000000 + i).toString(16), revokedAt: REVOKED_AT, reason: i % 3 ? 'superseded' : undefined };
      yield { serialHex: revoked.serialHex, revokedAt: REVOKED_AT, reason: 'keyCompromise' };
    }
    const der = await buildCrl(base('p256', { entries: rows() }));
    const file = writeCrl('big', der);
    expect(kit.openssl(['crl', '-in', file, '-CAfile', ca.file, '-noout']).out).toContain('verify OK');
    expect(kit.openssl(['verify', '-crl_check', '-CRLfile', file, '-CAfile', ca.file, revoked.file]).out).toContain('certificate revoked');
    expect(parseCrl(der).entryCount).toBe(20_001);
  });
});

describe('buildCrl output, read back', () => {
  it('ok/parseCrl and @peculiar/asn1-x509 agree with what was asked', async () => {
    const { ca } = cas.ed25519;
    const der = await buildCrl(base('ed25519', { crlNumber: (1n << 158n) + 5n, entries: sampleEntries('ed25519') }));
    const s = parseCrl(crlToPem(der), { withEntries: true });
    expect(s).toMatchObject({
      version: 2,
      issuer: 'CN=ca-ed25519,O=Solution Libre,C=FR',
      crlNumber: (1n << 158n) + 5n,
      isDelta: false,
      thisUpdate: THIS_UPDATE,
      nextUpdate: NEXT_UPDATE,
      entryCount: 6,
      signatureAlgorithm: '1.3.101.112',
    });
    expect(s.entries).toEqual([
      { serialHex: cas.ed25519.revoked.serialHex, revokedAt: REVOKED_AT, reason: 'keyCompromise', invalidityDate: INVALID_SINCE },
      { serialHex: 'ff01', revokedAt: REVOKED_AT, reason: 'superseded' },
      { serialHex: 'abc', revokedAt: new Date('2051-06-01T00:00:00Z'), reason: 'cessationOfOperation' },
      { serialHex: '1234', revokedAt: REVOKED_AT },
      { serialHex: '80', revokedAt: REVOKED_AT },
      { serialHex: '7fffffffffffffffffffffffffffffffffffffff', revokedAt: REVOKED_AT, reason: 'certificateHold' },
    ]);
    // The issuer is the CA subject byte for byte; the signature checks with the CA key.
    const caCert = AsnConvert.parse(ca.der, Certificate);
    expect(s.issuerDer.equals(Buffer.from(AsnConvert.serialize(caCert.tbsCertificate.subject)))).toBe(true);
    expect(cryptoVerify(null, s.tbs, createPublicKey(ca.key), s.signature)).toBe(true);
    // An independent decoder re-encodes it to the same bytes (so it is DER, not just BER).
    const list = AsnConvert.parse(der, CertificateList);
    expect(Buffer.from(AsnConvert.serialize(list)).equals(der)).toBe(true);
    expect(list.tbsCertList.revokedCertificates).toHaveLength(6);
  });

  it('ok/crlToPem uses the X509 CRL label', async () => {
    const pem = crlToPem(await buildCrl(base('p256')));
    expect(pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(pem.trimEnd().endsWith('-----END X509 CRL-----')).toBe(true);
    expect(pem.split('\n').every((l) => l.length <= 64)).toBe(true);
  });

  it('ok/a Signer (e.g. KMS) with an async sign()', async () => {
    const { ca } = cas.p384;
    const pub = createPublicKey(ca.key);
    const der = await buildCrl(
      base('p384', {
        signingKey: { algorithm: 'ecdsa-sha384', publicKey: pub, sign: async (data) => (await import('node:crypto')).sign('sha384', data, ca.key) },
        entries: sampleEntries('p384'),
      }),
    );
    expect(kit.openssl(['crl', '-in', writeCrl('signer', der), '-CAfile', ca.file, '-noout']).out).toContain('verify OK');
  });
});

describe('buildCrl rejects bad input with a DomainError', () => {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const cases: Array<[string, () => Partial<BuildCrlParams>, string]> = [
    ['error/bad serial hex', () => ({ entries: [{ serialHex: '12zz', revokedAt: REVOKED_AT }] }), 'bad_request'],
    ['error/empty serial', () => ({ entries: [{ serialHex: '', revokedAt: REVOKED_AT }] }), 'bad_request'],
    ['error/serial over 20 octets', () => ({ entries: [{ serialHex: '1'.repeat(41), revokedAt: REVOKED_AT }] }), 'bad_request'],
    ['error/serial not a string', () => ({ entries: [{ serialHex: 12 as any, revokedAt: REVOKED_AT }] }), 'bad_request'],
    ['error/invalid revokedAt', () => ({ entries: [{ serialHex: '01', revokedAt: new Date('nope') }] }), 'bad_request'],
    ['error/unknown reason', () => ({ entries: [{ serialHex: '01', revokedAt: REVOKED_AT, reason: 'toString' as any }] }), 'bad_request'],
    ['error/removeFromCRL on a full CRL', () => ({ entries: [{ serialHex: '01', revokedAt: REVOKED_AT, reason: 'removeFromCRL' }] }), 'bad_request'],
    ['error/invalid invalidityDate', () => ({ entries: [{ serialHex: '01', revokedAt: REVOKED_AT, invalidityDate: 'yesterday' as any }] }), 'bad_request'],
    ['error/null entry', () => ({ entries: [null as any] }), 'bad_request'],
    ['error/entries not iterable', () => ({ entries: 5 as any }), 'bad_request'],
    ['error/nextUpdate before thisUpdate', () => ({ nextUpdate: new Date('2025-01-01T00:00:00Z') }), 'bad_request'],
    ['error/negative crlNumber', () => ({ crlNumber: -1n }), 'bad_request'],
    ['error/crlNumber over 20 octets', () => ({ crlNumber: 1n << 159n }), 'bad_request'],
    ['error/crlNumber not a bigint', () => ({ crlNumber: 3 as any }), 'bad_request'],
    ['error/deltaBase not below crlNumber', () => ({ deltaBase: 42n }), 'bad_request'],
    ['error/freshest CRL on a delta', () => ({ crlNumber: 43n, deltaBase: 42n, freshestCrlUrls: [DELTA_URL] }), 'bad_request'],
    ['error/non-ASCII URL', () => ({ freshestCrlUrls: ['http://crl.exemple.test/é.crl'] }), 'bad_request'],
    ['error/IDP both only flags', () => ({ issuingDistributionPoint: { onlyContainsCaCerts: true, onlyContainsUserCerts: true } }), 'bad_request'],
    ['error/key does not match the issuer', () => ({ signingKey: other }), 'bad_key'],
    ['error/public key instead of private', () => ({ signingKey: createPublicKey(other) }), 'bad_key'],
    ['error/issuer is not a certificate', () => ({ issuerCertificate: 'hello' }), 'bad_certificate'],
    ['error/issuer is a truncated certificate', () => ({ issuerCertificate: cas.p256.ca.der.subarray(0, 100) }), 'bad_certificate'],
  ];
  it.each(cases)('%s', async (_name, over, code) => {
    const err = await buildCrl(base('p256', over())).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(code);
  });

  it('error/an entry error names the entry', async () => {
    const err = await buildCrl(base('p256', { entries: [{ serialHex: '01', revokedAt: REVOKED_AT }, { serialHex: 'x', revokedAt: REVOKED_AT }] })).catch((e) => e);
    expect(err.errors).toEqual([{ field: 'entries/1/serialHex', message: expect.stringContaining('entries[1].serialHex') }]);
  });
});

describe('parseCrl on junk throws only DomainError bad_request', () => {
  let valid: Buffer;
  beforeAll(async () => {
    valid = await buildCrl(base('p256', { entries: sampleEntries('p256'), freshestCrlUrls: [DELTA_URL], issuingDistributionPoint: { urls: [CRL_URL] } }));
  });

  const fixed: Array<[string, Buffer | string]> = [
    ['error/empty', Buffer.alloc(0)],
    ['error/one byte', Buffer.from([0x30])],
    ['error/empty sequence', Buffer.from([0x30, 0x00])],
    ['error/indefinite length', Buffer.from([0x30, 0x80, 0x00, 0x00])],
    ['error/huge length', Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])],
    ['error/PEM with the wrong label', '-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n'],
    ['error/PEM with bad base64', '-----BEGIN X509 CRL-----\n*&^%\n-----END X509 CRL-----\n'],
    ['error/text', 'not a crl'],
    ['error/a certificate', Buffer.alloc(0)],
  ];
  it.each(fixed)('%s', (name, input) => {
    const data = name === 'error/a certificate' ? cas.p256.ca.der : input;
    expect(() => parseCrl(data)).toThrow(DomainError);
    try {
      parseCrl(data);
    } catch (e) {
      expect((e as DomainError).code).toBe('bad_request');
    }
  });

  it('error/random bytes, truncations and mutations never escape as another error', () => {
    const inputs = [...mutations(valid, 400), ...Array.from({ length: 200 }, (_, i) => junk(i + 1, (i * 37) % 600)), ...Array.from({ length: 50 }, (_, i) => Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), junk(i + 7, 256)]))];
    let accepted = 0;
    for (const input of inputs) {
      for (const withEntries of [false, true]) {
        try {
          parseCrl(input, { withEntries });
          accepted++;
        } catch (e) {
          if (!(e instanceof DomainError) || e.code !== 'bad_request') throw new Error(`unexpected ${String(e)} for ${input.toString('hex').slice(0, 80)}`);
        }
      }
    }
    // Some single-bit flips (e.g. inside the signature) leave a well-formed CRL.
    expect(accepted).toBeGreaterThan(0);
  });
});
