import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../errors.js';
import {
  OCSP_HASH_OIDS,
  OcspMalformedRequestError,
  buildOcspErrorResponse,
  buildOcspResponse,
  certIdFor,
  certIdMatchesIssuer,
  issuerHashes,
  ocspRequestFromGetPath,
  parseOcspRequest,
  parseOcspResponse,
  prepareOcspResponder,
  tryParseOcspRequest,
  type OcspCertStatus,
  type OcspErrorStatus,
  type OcspResponder,
} from './ocsp.js';
import { createTestKit, junk, mutations, type TestCert, type TestKit } from './crl-openssl.testkit.js';

// Fixed dates (thisUpdate in the past, nextUpdate far ahead: openssl checks them against its clock).
const PRODUCED_AT = new Date('2026-01-01T00:00:00Z');
const THIS_UPDATE = new Date('2026-01-01T00:00:00Z');
const NEXT_UPDATE = new Date('2099-01-01T00:00:00Z');
const REVOKED_AT = new Date('2026-01-01T00:00:00Z');
const UNSPECIFIED_SERIAL = '7e57000000000003';

type CaType = 'p256' | 'rsa';
interface Pki {
  ca: TestCert;
  good: TestCert;
  revoked: TestCert;
  responderCert: TestCert;
  delegated: OcspResponder;
  caAsResponder: OcspResponder;
  statuses: Map<string, OcspCertStatus>;
}

let kit: TestKit;
let server: Server;
let baseUrl: string;
const pkis = {} as Record<CaType, Pki>;
/** What the server saw last, to check the nonce is echoed byte for byte. */
let last: { requestNonce?: Buffer; responseNonce?: Buffer } = {};

async function answer(pki: Pki, responder: OcspResponder, body: Buffer): Promise<Buffer> {
  const parsed = tryParseOcspRequest(body);
  if (!parsed.ok) return buildOcspErrorResponse(parsed.status);
  const responses = parsed.request.requests.map((certId) => {
    const status: OcspCertStatus = certIdMatchesIssuer(certId, pki.ca.der) ? (pki.statuses.get(certId.serialHex) ?? { status: 'unknown' }) : { status: 'unknown' };
    return { certId, ...status, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE };
  });
  const der = await buildOcspResponse({ responder, producedAt: PRODUCED_AT, responses, nonce: parsed.request.nonce });
  last = { requestNonce: parsed.request.nonce, responseNonce: parseOcspResponse(der).nonce };
  return der;
}

beforeAll(async () => {
  kit = createTestKit('ocsp');
  for (const type of ['p256', 'rsa'] as CaType[]) {
    const ca = kit.ca(`ca-${type}`, type);
    const good = kit.leaf(ca, `good-${type}`, '7e57000000000001');
    const revoked = kit.leaf(ca, `revoked-${type}`, '7e57000000000002');
    const responderCert = kit.leaf(ca, `responder-${type}`, '0c5b0001', { ocspResponder: true, keyType: type });
    pkis[type] = {
      ca,
      good,
      revoked,
      responderCert,
      delegated: prepareOcspResponder({ certificate: responderCert.pem, signingKey: responderCert.key }),
      caAsResponder: prepareOcspResponder({ certificate: ca.der, signingKey: ca.key, includeCertificate: false }),
      statuses: new Map<string, OcspCertStatus>([
        [good.serialHex, { status: 'good' }],
        [revoked.serialHex, { status: 'revoked', revokedAt: REVOKED_AT, reason: 'keyCompromise' }],
        [UNSPECIFIED_SERIAL, { status: 'revoked', revokedAt: REVOKED_AT, reason: 'unspecified' }],
      ]),
    };
  }
  // A real HTTP responder: POST application/ocsp-request to /<ca>/<delegated|ca>/.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const [, type, who] = (req.url ?? '').split('/');
      const pki = pkis[type as CaType];
      let body: Buffer;
      try {
        if (!pki || req.method !== 'POST') body = buildOcspErrorResponse('unauthorized');
        else body = await answer(pki, who === 'ca' ? pki.caAsResponder : pki.delegated, Buffer.concat(chunks));
      } catch {
        body = buildOcspErrorResponse('internalError');
      }
      res.writeHead(200, { 'content-type': 'application/ocsp-response', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  kit?.cleanup();
});

describe('openssl ocsp against a real HTTP responder', () => {
  interface Case {
    name: string;
    args: (p: Pki) => string[];
    path?: 'delegated' | 'ca';
    expect: (p: Pki) => Array<string | RegExp>;
    absent?: Array<string | RegExp>;
    nonce: boolean;
  }
  const cases: Case[] = [
    { name: 'ok/good', args: (p) => ['-cert', p.good.file], expect: (p) => [`${p.good.file}: good`], nonce: true },
    {
      name: 'ok/revoked with reason',
      args: (p) => ['-cert', p.revoked.file],
      expect: (p) => [`${p.revoked.file}: revoked`, 'Reason: keyCompromise', 'Revocation Time: Jan  1 00:00:00 2026 GMT'],
      nonce: true,
    },
    {
      name: 'ok/revoked unspecified has no reason',
      args: () => ['-serial', `0x${UNSPECIFIED_SERIAL}`],
      expect: () => [`0x${UNSPECIFIED_SERIAL}: revoked`],
      absent: ['Reason:'],
      nonce: true,
    },
    { name: 'ok/unknown serial', args: () => ['-serial', '0x1234'], expect: () => ['0x1234: unknown'], nonce: true },
    {
      name: 'ok/several certs in one request',
      args: (p) => ['-cert', p.good.file, '-cert', p.revoked.file, '-serial', '0x99'],
      expect: (p) => [`${p.good.file}: good`, `${p.revoked.file}: revoked`, '0x99: unknown'],
      nonce: true,
    },
    { name: 'ok/no nonce', args: (p) => ['-cert', p.good.file, '-no_nonce'], expect: (p) => [`${p.good.file}: good`], absent: ['OCSP Nonce'], nonce: false },
    { name: 'ok/sha256 CertID', args: (p) => ['-sha256', '-cert', p.revoked.file], expect: (p) => [`${p.revoked.file}: revoked`, 'Hash Algorithm: sha256'], nonce: true },
    { name: 'ok/CA itself as responder', path: 'ca', args: (p) => ['-cert', p.good.file], expect: (p) => [`${p.good.file}: good`], nonce: true },
  ];

  for (const type of ['p256', 'rsa'] as CaType[]) {
    it.each(cases)(`${type}: $name`, async (c) => {
      const p = pkis[type];
      const r = await kit.opensslAsync(['ocsp', '-issuer', p.ca.file, ...c.args(p), '-url', `${baseUrl}/${type}/${c.path ?? 'delegated'}/`, '-CAfile', p.ca.file, '-resp_text']);
      expect(r.out).toContain('Response verify OK');
      expect(r.out).toContain('OCSP Response Status: successful (0x0)');
      expect(r.out).toContain('Responder Id: ');
      expect(r.out).toContain('This Update: Jan  1 00:00:00 2026 GMT');
      expect(r.out).toContain('Next Update: Jan  1 00:00:00 2099 GMT');
      for (const e of c.expect(p)) expect(r.out).toMatch(e);
      for (const a of c.absent ?? []) expect(r.out).not.toMatch(a);
      expect(r.out).not.toMatch(/WARNING|error/i);
      expect(r.code).toBe(0);
      if (c.nonce) {
        expect(r.out).toContain('OCSP Nonce');
        expect(last.requestNonce).toBeDefined();
        expect(last.responseNonce).toEqual(last.requestNonce);
      } else expect(last.responseNonce).toBeUndefined();
    });
  }

  it('error/malformed body gets a malformedRequest response openssl reads', async () => {
    const res = await fetch(`${baseUrl}/p256/delegated/`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: 'this is not DER' });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body).toEqual(buildOcspErrorResponse('malformedRequest'));
    const file = kit.write('malformed.resp', body);
    const r = kit.openssl(['ocsp', '-respin', file, '-resp_text', '-noverify']);
    expect(r.out).toContain('Responder Error: malformedrequest (1)');
  });
});

describe('buildOcspErrorResponse', () => {
  // openssl 3.0 prints `Responder Error: <lowercased status> (<code>)`.
  const cases: Array<[OcspErrorStatus, string]> = [
    ['malformedRequest', 'Responder Error: malformedrequest (1)'],
    ['internalError', 'Responder Error: internalerror (2)'],
    ['tryLater', 'Responder Error: trylater (3)'],
    ['sigRequired', 'Responder Error: sigrequired (5)'],
    ['unauthorized', 'Responder Error: unauthorized (6)'],
  ];
  it.each(cases)('ok/%s', (status, shown) => {
    const der = buildOcspErrorResponse(status);
    expect(parseOcspResponse(der)).toMatchObject({ status, responses: [] });
    expect(kit.openssl(['ocsp', '-respin', kit.write(`${status}.resp`, der), '-resp_text', '-noverify']).out).toContain(shown);
  });
  it('error/successful is not an error status', () => {
    expect(() => buildOcspErrorResponse('successful' as any)).toThrow(DomainError);
  });
});

describe('parseOcspRequest on requests made by openssl', () => {
  const reqOf = (args: string[]) => {
    const out = `req-${Math.random().toString(36).slice(2)}.der`;
    const r = kit.openssl(['ocsp', '-issuer', pkis.p256.ca.file, ...args, '-reqout', out]);
    expect(r.code).toBe(0);
    return kit.read(out);
  };
  const cases: Array<[string, string[], 'sha1' | 'sha256', boolean]> = [
    ['ok/sha1 with nonce', ['-cert', 'good-p256.pem'], 'sha1', true],
    ['ok/sha1 without nonce', ['-cert', 'good-p256.pem', '-no_nonce'], 'sha1', false],
    ['ok/sha256', ['-sha256', '-cert', 'good-p256.pem'], 'sha256', true],
  ];
  it.each(cases)('%s', (_n, args, hash, withNonce) => {
    const p = pkis.p256;
    const req = parseOcspRequest(reqOf(args));
    const want = certIdFor(p.ca.pem, p.good.serialHex, hash);
    expect(req.requests).toEqual([want]);
    expect(req.requests[0].hashAlgorithm).toBe(OCSP_HASH_OIDS[hash]);
    expect(req.requests[0]).toMatchObject(issuerHashes(p.ca.der, hash));
    expect(certIdMatchesIssuer(req.requests[0], p.ca.der)).toBe(true);
    expect(certIdMatchesIssuer(req.requests[0], pkis.rsa.ca.der)).toBe(false);
    if (withNonce) {
      // openssl: extnValue = OCTET STRING (16 random octets)
      expect(req.nonce).toHaveLength(18);
      expect(req.nonce!.subarray(0, 2)).toEqual(Buffer.from([0x04, 0x10]));
    } else expect(req.nonce).toBeUndefined();
    expect(req.signed).toBe(false);
  });

  it('ok/several certs keep their order; GET encoding round-trips', () => {
    const der = reqOf(['-cert', 'revoked-p256.pem', '-serial', '0x00ab', '-cert', 'good-p256.pem']);
    const req = parseOcspRequest(der);
    expect(req.requests.map((r) => r.serialHex)).toEqual([pkis.p256.revoked.serialHex, 'ab', pkis.p256.good.serialHex]);
    expect(ocspRequestFromGetPath(encodeURIComponent(der.toString('base64')))).toEqual(der);
    expect(ocspRequestFromGetPath(der.toString('base64url'))).toEqual(der);
  });
});

describe('buildOcspResponse, read back by an independent decoder', () => {
  it.each(['p256', 'rsa'] as CaType[])('ok/%s: DER, signed by the responder, fields as asked', async (type) => {
    const p = pkis[type];
    const nonce = Buffer.from('0410' + '11'.repeat(16), 'hex');
    const der = await buildOcspResponse({
      responder: p.delegated,
      producedAt: PRODUCED_AT,
      nonce,
      responses: [
        { certId: certIdFor(p.ca.der, p.good.serialHex), status: 'good', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE },
        { certId: { ...certIdFor(p.ca.der, p.revoked.serialHex, 'sha256'), der: undefined }, status: 'revoked', revokedAt: REVOKED_AT, reason: 'superseded', thisUpdate: THIS_UPDATE },
        { certId: certIdFor(p.ca.der, '42'), status: 'unknown', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE },
      ],
    });
    const resp = AsnConvert.parse(der, OCSPResponse);
    expect(Buffer.from(AsnConvert.serialize(resp)).equals(der)).toBe(true);
    const basicDer = Buffer.from(resp.responseBytes!.response.buffer);
    const basic = AsnConvert.parse(basicDer, BasicOCSPResponse);
    expect(Buffer.from(AsnConvert.serialize(basic)).equals(basicDer)).toBe(true);
    expect(basic.certs).toHaveLength(1);
    expect(Buffer.from(AsnConvert.serialize(basic.certs![0])).equals(p.responderCert.der)).toBe(true);
    expect(Buffer.from(basic.tbsResponseData.responderID.byKey!.buffer).equals(p.delegated.keyHash)).toBe(true);
    const tbs = Buffer.from(AsnConvert.serialize(basic.tbsResponseData));
    expect(cryptoVerify('sha256', tbs, createPublicKey(p.responderCert.key), Buffer.from(basic.signature))).toBe(true);

    const s = parseOcspResponse(der);
    expect(s).toMatchObject({ status: 'successful', producedAt: PRODUCED_AT, nonce });
    expect(s.responses).toEqual([
      { serialHex: p.good.serialHex, hashAlgorithm: OCSP_HASH_OIDS.sha1, status: 'good', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE },
      { serialHex: p.revoked.serialHex, hashAlgorithm: OCSP_HASH_OIDS.sha256, status: 'revoked', revokedAt: REVOKED_AT, reason: 'superseded', thisUpdate: THIS_UPDATE },
      { serialHex: '42', hashAlgorithm: OCSP_HASH_OIDS.sha1, status: 'unknown', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE },
    ]);
  });

  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const errorCases: Array<[string, () => Promise<unknown>, string]> = [
    ['error/no responses', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [] }), 'bad_request'],
    ['error/bad status', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [{ certId: certIdFor(pkis.p256.ca.der, '1'), status: 'maybe' as any, thisUpdate: THIS_UPDATE }] }), 'bad_request'],
    ['error/bad reason', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [{ certId: certIdFor(pkis.p256.ca.der, '1'), status: 'revoked', revokedAt: REVOKED_AT, reason: 'oops' as any, thisUpdate: THIS_UPDATE }] }), 'bad_request'],
    ['error/invalid thisUpdate', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [{ certId: certIdFor(pkis.p256.ca.der, '1'), status: 'good', thisUpdate: new Date(NaN) }] }), 'bad_request'],
    ['error/invalid producedAt', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: 'now' as any, responses: [{ certId: certIdFor(pkis.p256.ca.der, '1'), status: 'good', thisUpdate: THIS_UPDATE }] }), 'bad_request'],
    ['error/nonce too long', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, nonce: Buffer.alloc(64), responses: [{ certId: certIdFor(pkis.p256.ca.der, '1'), status: 'good', thisUpdate: THIS_UPDATE }] }), 'bad_request'],
    ['error/missing certId', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [{ status: 'good', thisUpdate: THIS_UPDATE } as any] }), 'bad_request'],
    ['error/certId without hashes', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [{ certId: { hashAlgorithm: OCSP_HASH_OIDS.sha1, serialHex: '01' } as any, status: 'good', thisUpdate: THIS_UPDATE }] }), 'bad_request'],
    ['error/null response', () => buildOcspResponse({ responder: pkis.p256.delegated, producedAt: PRODUCED_AT, responses: [null as any] }), 'bad_request'],
    ['error/Signer with a bogus public key', async () => prepareOcspResponder({ certificate: pkis.p256.responderCert.der, signingKey: { algorithm: 'ecdsa-sha256', publicKey: 'nope' as any, sign: () => Buffer.alloc(0) } }), 'bad_key'],
    ['error/responder key mismatch', async () => prepareOcspResponder({ certificate: pkis.p256.responderCert.der, signingKey: other }), 'bad_key'],
    ['error/responder cert junk', async () => prepareOcspResponder({ certificate: Buffer.from('30030201', 'hex'), signingKey: other }), 'bad_certificate'],
    ['error/certIdFor bad serial', async () => certIdFor(pkis.p256.ca.der, 'xyz'), 'bad_request'],
    ['error/certIdFor bad hash', async () => certIdFor(pkis.p256.ca.der, '01', 'md5' as any), 'bad_request'],
  ];
  it.each(errorCases)('%s', async (_n, run, code) => {
    const err = await run().then(
      () => null,
      (e) => e,
    );
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(code);
  });
});

describe('parseOcspRequest on junk throws only OcspMalformedRequestError', () => {
  let valid: Buffer;
  beforeAll(() => {
    kit.openssl(['ocsp', '-issuer', pkis.p256.ca.file, '-cert', 'good-p256.pem', '-cert', 'revoked-p256.pem', '-reqout', 'junk-base.der']);
    valid = kit.read('junk-base.der');
  });
  const wrap = (hex: string) => Buffer.from(hex, 'hex');
  const tlv = (tag: number, b: Buffer) => {
    const len = b.length < 0x80 ? [b.length] : b.length < 0x100 ? [0x81, b.length] : [0x82, b.length >> 8, b.length & 0xff];
    return Buffer.concat([Buffer.from([tag, ...len]), b]);
  };
  const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
  const certId = () => certIdFor(pkis.p256.ca.der, '01').der;
  const requestList = (n = 1) => seq(...Array.from({ length: n }, () => seq(certId())));
  const ocspRequest = (...tbsParts: Buffer[]) => seq(seq(...tbsParts));
  const nonceExt = (value: Buffer) => seq(wrap('06092b0601050507300102'), tlv(0x04, value));
  const fixed: Array<[string, () => Buffer]> = [
    ['error/empty', () => Buffer.alloc(0)],
    ['error/not DER', () => Buffer.from('GET / HTTP/1.1')],
    ['error/empty sequence', () => wrap('3000')],
    ['error/empty requestList', () => ocspRequest(seq())],
    ['error/trailing data', () => Buffer.concat([valid, Buffer.from([0])])],
    ['error/version 2', () => ocspRequest(wrap('a003020101'), requestList())],
    ['error/too many requests', () => ocspRequest(requestList(51))],
    ['error/duplicate nonce', () => ocspRequest(requestList(), tlv(0xa2, seq(nonceExt(wrap('0401aa')), nonceExt(wrap('0401bb')))))],
    ['error/nonce over 32 octets', () => ocspRequest(requestList(), tlv(0xa2, seq(nonceExt(Buffer.concat([wrap('0421'), Buffer.alloc(33)])))))],
    ['error/sha1 CertID with short hashes', () => ocspRequest(seq(seq(seq(wrap('300906052b0e03021a0500'), wrap('0401aa'), wrap('0401bb'), wrap('020101')))))],
    ['error/negative-length trick', () => wrap('3084ffffffff')],
    ['error/too large', () => Buffer.alloc(70_000, 0x30)],
    ['error/not a Buffer', () => 'abc' as any],
  ];

  it.each([
    ['ok/minimal request', () => ocspRequest(requestList())],
    ['ok/explicit v1 and a requestor name', () => ocspRequest(wrap('a003020100'), tlv(0xa1, wrap('820474657374')), requestList())],
    ['ok/raw 32-octet nonce', () => ocspRequest(requestList(), tlv(0xa2, seq(nonceExt(Buffer.alloc(32, 7)))))],
    ['ok/50 requests', () => ocspRequest(requestList(50))],
  ] as Array<[string, () => Buffer]>)('%s', (_n, make) => {
    const r = parseOcspRequest(make());
    expect(r.requests.length).toBeGreaterThan(0);
    expect(r.requests[0].serialHex).toBe('1');
  });

  it.each(fixed)('%s', (_n, make) => {
    const input = make();
    expect(() => parseOcspRequest(input)).toThrow(OcspMalformedRequestError);
    expect(tryParseOcspRequest(input)).toMatchObject({ ok: false, status: 'malformedRequest' });
  });

  it('error/random bytes, truncations and mutations never escape as another error', () => {
    const inputs = [...mutations(valid, 400), ...Array.from({ length: 300 }, (_, i) => junk(i + 1, (i * 31) % 400))];
    let accepted = 0;
    for (const input of inputs) {
      try {
        parseOcspRequest(input);
        accepted++;
      } catch (e) {
        if (!(e instanceof OcspMalformedRequestError) || e.code !== 'bad_request') throw new Error(`unexpected ${String(e)} for ${input.toString('hex')}`);
      }
      expect(() => tryParseOcspRequest(input)).not.toThrow();
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('error/ocspRequestFromGetPath on junk', () => {
    for (const s of ['%E0%A4%A', '!!!', '']) expect(() => ocspRequestFromGetPath(s)).toThrow(OcspMalformedRequestError);
  });
});
