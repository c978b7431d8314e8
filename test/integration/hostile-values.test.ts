/**
 * Hostile VALUES in syntactically valid requests, per operation semantics (the shapes are
 * malformed-input.test.ts's business): each is a 4xx problem+json naming the field, never
 * a 500, a stalled event loop, or a certificate/row that says something else than asked.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { forEachDialect } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import * as der from '../../src/pki/der.js';
import { nameDer, pemEncode, signWith } from '../../src/pki/x509.js';

// ------------------------------------------------------------------ hostile CSRs

const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const dns = (s: string | Buffer) => der.ctxPrim(2, typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
type Signer = (tbs: Buffer) => { algId: Buffer; signature: Buffer };

/** A PKCS#10 request with exactly the subject, GeneralNames and key given (signed unless told). */
function csr(o: { subject?: Buffer; names?: Buffer[]; moreNames?: Buffer[]; spki?: Buffer; sign?: Signer; trailing?: Buffer } = {}): string {
  const names = o.names ?? [dns('a.example.test')];
  const spki = o.spki ?? (ec.publicKey.export({ type: 'spki', format: 'der' }) as Buffer);
  const exts = [names, ...(o.moreNames ? [o.moreNames] : [])].filter((n) => n.length).map((n) => der.seq(der.oid('2.5.29.17'), der.octets(der.seq(...n))));
  const attrs = exts.length ? der.ctx(0, der.seq(der.oid('1.2.840.113549.1.9.14'), der.set(der.seq(...exts)))) : der.ctx(0);
  const info = der.seq(der.integer(0), o.subject ?? nameDer({ commonName: 'a.example.test' }), spki, attrs);
  const { algId, signature } = (o.sign ?? ((t) => signWith(ec.privateKey, t)))(info);
  return pemEncode(Buffer.concat([der.seq(info, algId, der.bitString(signature)), o.trailing ?? Buffer.alloc(0)]), 'CERTIFICATE REQUEST');
}

/**
 * An RSA key with public exponent 1: the "signature" of a message is its PKCS#1 padding,
 * so anyone can make the proof of possession, and OpenSSL verifies it.
 */
function exponentOneRsa(bits: number): { spki: Buffer; sign: Signer } {
  const n = Buffer.alloc(bits / 8, 0xff);
  const key = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQ' }, format: 'jwk' });
  return {
    spki: key.export({ type: 'spki', format: 'der' }) as Buffer,
    sign: (tbs) => {
      const t = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(tbs).digest()]);
      const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(bits / 8 - t.length - 3, 0xff), Buffer.from([0]), t]);
      return { algId: der.seq(der.oid('1.2.840.113549.1.1.11'), der.nul()), signature: em };
    },
  };
}

/** An encrypted PKCS#8 (PBES2, PBKDF2-SHA256, AES-256-CBC) claiming `iterations`; the ciphertext is noise. */
function pbes2Bomb(iterations: bigint): string {
  const kdf = der.seq(der.oid('1.2.840.113549.1.5.12'), der.seq(der.octets(randomBytes(16)), der.integer(iterations), der.seq(der.oid('1.2.840.113549.2.9'), der.nul())));
  const enc = der.seq(der.oid('2.16.840.1.101.3.4.1.42'), der.octets(randomBytes(16)));
  return pemEncode(der.seq(der.seq(der.oid('1.2.840.113549.1.5.13'), der.seq(kdf, enc)), der.octets(randomBytes(160))), 'ENCRYPTED PRIVATE KEY');
}

/**
 * The longest the event loop (the app runs in this process) went without running a 1 ms
 * interval while `fn` ran: the synchronous stretch a request imposes on every other one.
 */
async function longestStall(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let max = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 5));
  } finally {
    clearInterval(tick);
  }
  return max;
}

// ------------------------------------------------------------------ the table

interface Case {
  name: string;
  method?: 'GET' | 'POST' | 'PATCH';
  path: string | ((ctx: Ctx) => string);
  body?: unknown | ((ctx: Ctx) => unknown);
  status: number;
  code: string;
  /** A field the problem's errors must name (exactly, or a prefix ending in '/'). */
  field?: string;
}
interface Ctx {
  rootId: string;
  certId: string;
  cursor: (v: unknown) => string;
}

const issue = (body: object, profile = 'hv'): Pick<Case, 'method' | 'path' | 'body'> => ({ method: 'POST', path: '/api/v1/certificates', body: { profile, ...body } });
const named = (commonName: string) => ({ subject: { commonName }, sans: { dns: ['a.example.test'] } });
const many = (n: number) => Array.from({ length: n }, (_, k) => dns(`h${k}.example.test`));

const CASES: Case[] = [
  // CSR keys.
  { name: 'csr: RSA key with public exponent 1 (forgeable proof of possession)', ...issue({ csr: csr(exponentOneRsa(2048)) }), status: 400, code: 'weak_key', field: '/body/csr' },
  { name: 'csr: RSA 16384-bit key', ...issue({ csr: csr(exponentOneRsa(16384)) }), status: 400, code: 'weak_key', field: '/body/csr' },
  // CSR subjects: no schema applies to them, the domain checks do.
  { name: 'csr: 10,000-character CN', ...issue({ csr: csr({ subject: nameDer({ commonName: 'x'.repeat(10_000) }) }) }, 'hv-loose'), status: 400, code: 'policy_violation', field: '/body/csr' },
  { name: 'csr: CN with a NUL', ...issue({ csr: csr({ subject: nameDer({ commonName: 'x\u0000y' }) }) }, 'hv-loose'), status: 400, code: 'policy_violation', field: '/body/csr' },
  { name: 'csr: CN with a right-to-left override', ...issue({ csr: csr({ subject: nameDer({ commonName: 'evil\u202Etset.elpmaxe' }) }) }, 'hv-loose'), status: 400, code: 'policy_violation', field: '/body/csr' },
  // CSR names: exactly what is asked, or a 400 (was: silently dropped or altered).
  { name: 'csr: iPAddress of 5 bytes', ...issue({ csr: csr({ names: [dns('a.example.test'), der.ctxPrim(7, Buffer.from([10, 0, 0, 1, 9]))] }) }), status: 400, code: 'bad_csr', field: '/body/csr' },
  { name: 'csr: dNSName with a NUL', ...issue({ csr: csr({ names: [dns('a.example.test\u0000.evil.test')] }) }), status: 400, code: 'bad_csr', field: '/body/csr' },
  { name: 'csr: dNSName with a high-bit byte (ascii decoding turned it into another name)', ...issue({ csr: csr({ names: [dns('a.example.test'), dns(Buffer.from('b.exampl\xe5.test', 'latin1'))] }) }), status: 400, code: 'bad_csr', field: '/body/csr' },
  { name: 'csr: rfc822Name in UTF-8', ...issue({ csr: csr({ names: [dns('a.example.test'), der.ctxPrim(1, Buffer.from('jos\u00e9@example.test', 'utf8'))] }) }), status: 400, code: 'bad_csr', field: '/body/csr' },
  { name: 'csr: otherName SAN (would be dropped)', ...issue({ csr: csr({ names: [dns('a.example.test'), der.ctx(0, der.oid('1.3.6.1.4.1.311.20.2.3'), der.ctx(0, der.utf8('u@example.test')))] }) }), status: 400, code: 'bad_csr', field: '/body/csr' },
  { name: 'csr: 101 dNSNames (the body allows 100)', ...issue({ csr: csr({ names: [dns('a.example.test'), ...many(100)] }) }), status: 400, code: 'policy_violation', field: '/body/sans/dns' },
  { name: 'csr: two subjectAltName extensions (the first was dropped)', ...issue({ csr: csr({ names: [dns('a.example.test')], moreNames: [dns('b.example.test')] }) }), status: 400, code: 'bad_csr', field: '/body/csr' },
  { name: 'csr: trailing bytes after the DER', ...issue({ csr: csr({ trailing: Buffer.from([0x05, 0x00]) }) }), status: 400, code: 'bad_csr' },
  // Body subjects and SANs.
  { name: 'body: CN with a BEL and a right-to-left override', ...issue(named('x\u0007\u202Ey'), 'hv-loose'), status: 400, code: 'validation_failed', field: '/body/subject/commonName' },
  { name: 'body: whitespace-only CN', ...issue(named('   '), 'hv-loose'), status: 400, code: 'validation_failed', field: '/body/subject/commonName' },
  { name: 'body: CN with a NUL', ...issue(named('x\u0000y'), 'hv-loose'), status: 400, code: 'validation_failed', field: '/body/subject/commonName' },
  { name: 'body: organization with a lone surrogate', ...issue({ subject: { commonName: 'a.example.test', organization: 'x\ud800' }, sans: { dns: ['a.example.test'] } }, 'hv-loose'), status: 400, code: 'validation_failed', field: '/body/subject/organization' },
  { name: 'body: email SAN with a NUL', ...issue({ ...named('a.example.test'), sans: { dns: ['a.example.test'], email: ['a\u0000b@example.test'] } }), status: 400, code: 'validation_failed', field: '/body/sans/email/0' },
  { name: 'body: email SAN with non-ASCII', ...issue({ ...named('a.example.test'), sans: { dns: ['a.example.test'], email: ['jos\u00e9@example.test'] } }), status: 400, code: 'validation_failed', field: '/body/sans/email/0' },
  { name: 'body: URI SAN with a control character', ...issue({ ...named('a.example.test'), sans: { dns: ['a.example.test'], uri: ['spiffe://x/\u0001y'] } }), status: 400, code: 'validation_failed', field: '/body/sans/uri/0' },
  { name: 'body: URI SAN with non-ASCII (an IRI)', ...issue({ ...named('a.example.test'), sans: { dns: ['a.example.test'], uri: ['https://x.example.test/caf\u00e9'] } }), status: 400, code: 'validation_failed', field: '/body/sans/uri/0' },
  { name: 'body: label value with a NUL', ...issue({ ...named('a.example.test'), labels: { team: 'x\u0000' } }), status: 400, code: 'validation_failed', field: '/body/labels/team' },
  { name: 'body: notes with a NUL', ...issue({ ...named('a.example.test'), notes: 'x\u0000' }), status: 400, code: 'validation_failed', field: '/body/notes' },
  // NUL in every other store-bound text (PostgreSQL: a 500 before).
  { name: 'createUser: displayName with a NUL', method: 'POST', path: '/api/v1/users', body: { email: 'nul@example.test', password: 'passwordpassword', displayName: 'a\u0000' }, status: 400, code: 'validation_failed', field: '/body/displayName' },
  { name: 'createRole: description with a NUL', method: 'POST', path: '/api/v1/roles', body: { name: 'hv-role', description: 'a\u0000', permissions: [] }, status: 400, code: 'validation_failed', field: '/body/description' },
  { name: 'createProfile: description with a NUL', method: 'POST', path: '/api/v1/profiles', body: (c: Ctx) => ({ name: 'hv-nul', authorityId: c.rootId, description: 'a\u0000' }), status: 400, code: 'validation_failed', field: '/body/description' },
  { name: 'createProfile: fixed organization with a control character', method: 'POST', path: '/api/v1/profiles', body: (c: Ctx) => ({ name: 'hv-ctl', authorityId: c.rootId, subject: { organization: 'a\u0008b' } }), status: 400, code: 'validation_failed', field: '/body/subject/organization' },
  { name: 'createAuthority: name with a NUL', method: 'POST', path: '/api/v1/authorities', body: { name: 'a\u0000', kind: 'root', subject: { commonName: 'R' } }, status: 400, code: 'validation_failed', field: '/body/name' },
  { name: 'createAuthority: CN with a right-to-left override', method: 'POST', path: '/api/v1/authorities', body: { name: 'hv-rtl', kind: 'root', subject: { commonName: 'Root \u202Egnp.exe' } }, status: 400, code: 'validation_failed', field: '/body/subject/commonName' },
  { name: 'listCertificates: q with a NUL', method: 'GET', path: '/api/v1/certificates?q=%00', status: 400, code: 'validation_failed', field: '/query/q' },
  { name: 'listCertificates: label selector with a NUL', method: 'GET', path: '/api/v1/certificates?label=team:%00', status: 400, code: 'validation_failed', field: '/query/label' },
  { name: 'getProfile: name with a NUL', method: 'GET', path: '/api/v1/profiles/a%00b', status: 400, code: 'validation_failed', field: '/path/' },
  // Forged cursors (PostgreSQL: type errors, 500s before).
  ...(
    [
      ['a huge number', [1e308, 'x']],
      ['a string that is no timestamp', ['abc', 'x']],
      ['NULs', ['\u0000', '\u0000']],
      ['a 31 February', ['2026-02-31T00:00:00.000Z', '01938f6c-9c2a-7a51-a3b4-5d6e7f809102']],
    ] as const
  ).map(([what, v]): Case => ({ name: `listCertificates: cursor with ${what}`, method: 'GET', path: (c) => `/api/v1/certificates?cursor=${c.cursor(v)}`, status: 400, code: 'bad_request', field: '/query/cursor' })),
  ...['/api/v1/users', '/api/v1/roles', '/api/v1/audit-events', '/api/v1/tokens', '/api/v1/authorities'].map(
    (p): Case => ({ name: `${p}: cursor with a NUL id`, method: 'GET', path: (c) => `${p}?cursor=${c.cursor([null, '\u0000'])}`, status: 400, code: 'bad_request', field: '/query/cursor' }),
  ),
  // Names shaped like ids (a lookup by id or name could resolve to the wrong row) or padded.
  { name: 'createAuthority: name shaped like an id', method: 'POST', path: '/api/v1/authorities', body: (c: Ctx) => ({ name: c.rootId, kind: 'root', subject: { commonName: 'Shadow' } }), status: 400, code: 'validation_failed', field: '/body/name' },
  { name: 'createAuthority: name with leading and trailing spaces', method: 'POST', path: '/api/v1/authorities', body: { name: ' hv-root ', kind: 'root', subject: { commonName: 'Pad' } }, status: 400, code: 'validation_failed', field: '/body/name' },
  { name: 'createProfile: name shaped like an id', method: 'POST', path: '/api/v1/profiles', body: (c: Ctx) => ({ name: '01938F6C-9C2A-7A51-A3B4-5D6E7F809102', authorityId: c.rootId }), status: 400, code: 'validation_failed', field: '/body/name' },
  { name: 'createRole: name shaped like an id', method: 'POST', path: '/api/v1/roles', body: { name: '01938f6c-9c2a-7a51-a3b4-5d6e7f809102', permissions: [] }, status: 400, code: 'validation_failed', field: '/body/name' },
  { name: 'createNotificationChannel: name shaped like an id', method: 'POST', path: '/api/v1/notification-channels', body: { name: '01938f6c-9c2a-7a51-a3b4-5d6e7f809102', type: 'webhook', config: { url: 'https://hooks.example.test/x' } }, status: 400, code: 'validation_failed', field: '/body/name' },
  { name: 'createAuthority: name in NFD duplicating an NFC one', method: 'POST', path: '/api/v1/authorities', body: { name: 'hv-cafe\u0301', kind: 'root', subject: { commonName: 'NFD' } }, status: 409, code: 'conflict' },
  // Times the date-time format lets through: year 0000 (PostgreSQL: a 500 before).
  { name: 'listCertificates: expiresAfter in year 0000', method: 'GET', path: '/api/v1/certificates?expiresAfter=0000-01-01T00:00:00Z', status: 400, code: 'bad_request', field: '/query/expiresAfter' },
  { name: 'listAuditEvents: until in year 0000', method: 'GET', path: '/api/v1/audit-events?until=0000-06-01T00:00:00Z', status: 400, code: 'bad_request', field: '/query/until' },
  { name: 'revokeCertificate: invalidityDate in year 0000', method: 'POST', path: (c) => `/api/v1/certificates/${c.certId}/revoke`, body: { reason: 'keyCompromise', invalidityDate: '0000-01-01T00:00:00Z' }, status: 400, code: 'bad_request', field: '/body/invalidityDate' },
  { name: 'revokeCertificate: invalidityDate on a leap second', method: 'POST', path: (c) => `/api/v1/certificates/${c.certId}/revoke`, body: { reason: 'keyCompromise', invalidityDate: '2016-12-31T23:59:60Z' }, status: 400, code: 'bad_request', field: '/body/invalidityDate' },
  { name: 'issueCertificate: notAfter on a leap second', ...issue({ ...named('a.example.test'), notAfter: '2030-06-30T23:59:60Z' }), status: 400, code: 'bad_request', field: '/body/notAfter' },
  // Key import.
  { name: 'createAuthority import: 300 copies of one root as its chain', method: 'POST', path: '/api/v1/authorities', body: (c: Ctx & { caPem?: string }) => ({ name: 'hv-copies', kind: 'import', certificatePem: c.caPem!.repeat(300) }), status: 400, code: 'bad_request', field: '/body/certificatePem' },
  { name: 'createAuthority import: a root followed by itself', method: 'POST', path: '/api/v1/authorities', body: (c: Ctx & { caPem?: string }) => ({ name: 'hv-twice', kind: 'import', certificatePem: c.caPem!.repeat(2) }), status: 400, code: 'bad_request', field: '/body/certificatePem' },
  { name: 'createAuthority import: encrypted PKCS#8 claiming 2^31-1 PBKDF2 iterations', method: 'POST', path: '/api/v1/authorities', body: (c: Ctx & { caPem?: string }) => ({ name: 'hv-bomb', kind: 'import', certificatePem: c.caPem, privateKeyPem: pbes2Bomb(2n ** 31n - 1n), passphrase: 'x' }), status: 400, code: 'bad_key', field: '/body/privateKeyPem' },
];

forEachDialect('hostile values are 4xx problems naming the field', (env) => {
  const s = new Scratch();
  let ctx: Ctx & { caPem: string };
  beforeAll(async () => {
    const api = env().client();
    const root = await api.POST('/api/v1/authorities', { body: { name: 'hv-root', kind: 'root', subject: { commonName: 'HV Root' } } });
    expect(root.response.status).toBe(201);
    const common = { authorityId: root.data!.id, allowedDomains: ['example.test'], allowSubdomains: true, allowedEmails: ['*'], allowedUris: ['*'] };
    expect((await api.POST('/api/v1/profiles', { body: { name: 'hv', ...common } })).response.status).toBe(201);
    expect((await api.POST('/api/v1/profiles', { body: { name: 'hv-loose', ...common, requireCommonNameInSans: false, allowedSubjectFields: ['organization'] } })).response.status).toBe(201);
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=HV Import', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    expect((await api.POST('/api/v1/authorities', { body: { name: 'hv-caf\u00e9', kind: 'root', subject: { commonName: 'NFC' } } })).response.status).toBe(201);
    const leaf = await api.POST('/api/v1/certificates', { body: { profile: 'hv', ...named('a.example.test') } });
    expect(leaf.response.status).toBe(201);
    ctx = { certId: leaf.data!.id, rootId: root.data!.id, caPem: s.read('ca.pem').toString(), cursor: (v) => Buffer.from(JSON.stringify(v)).toString('base64url') };
  });
  afterAll(() => s.cleanup());

  for (const c of CASES) {
    it(c.name, async () => {
      const body = typeof c.body === 'function' ? (c.body as (x: Ctx) => unknown)(ctx) : c.body;
      const path = typeof c.path === 'function' ? c.path(ctx) : c.path;
      const res = await env().fetch(path, {
        method: c.method ?? 'GET',
        headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const problem = (await res.json()) as { code: string; errors?: Array<{ field: string; message: string }> };
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect({ status: res.status, code: problem.code }, JSON.stringify(problem)).toEqual({ status: c.status, code: c.code });
      if (c.field) {
        const fields = (problem.errors ?? []).map((e) => e.field);
        expect(fields.some((f) => (c.field!.endsWith('/') ? f.startsWith(c.field!) : f === c.field)), JSON.stringify(problem.errors)).toBe(true);
      }
    });
  }

  it('the CRL still builds after the refused revocations', async () => {
    const res = await env().fetch(`/pki/crl/${ctx.rootId}.crl`);
    expect(res.status).toBe(200);
  });

  it('a PBKDF2 bomb does not hold the event loop (it did for hours: the KDF ran synchronously)', async () => {
    let res: Response | undefined;
    const stall = await longestStall(async () => {
      res = await env().fetch('/api/v1/authorities', {
        method: 'POST',
        headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'hv-bomb-2', kind: 'import', certificatePem: ctx.caPem, privateKeyPem: pbes2Bomb(10_000_000n), passphrase: 'x' }),
      });
    });
    expect(res!.status).toBe(400);
    expect(((await res!.json()) as { detail: string }).detail).toMatch(/10000000 key-derivation iterations; the limit is 2000000/);
    // The issue's bound: no request holds the loop for 100 ms (10^7 iterations took ~6 s).
    expect(stall).toBeLessThan(100);
  });

  it('a PKCS#12 bundle is built without holding the event loop (its 100,000-iteration MAC KDF took ~150 ms in one go)', async () => {
    let res: Response | undefined;
    const stall = await longestStall(async () => {
      res = await env().fetch('/api/v1/certificates', {
        method: 'POST',
        headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ profile: 'hv', ...named('p12.example.test'), sans: { dns: ['p12.example.test'] }, format: 'pkcs12', passphrase: '\u00e9\u{1F600}'.repeat(300) }),
      });
    });
    expect(res!.status).toBe(201);
    const p12 = Buffer.from(((await res!.json()) as { pkcs12: string }).pkcs12, 'base64');
    s.write('hv.p12', p12);
    const read = s.openssl('pkcs12', '-in', 'hv.p12', '-nokeys', '-passin', `pass:${'\u00e9\u{1F600}'.repeat(300)}`);
    expect(read.out).toMatch(/BEGIN CERTIFICATE/);
    expect(stall).toBeLessThan(100);
  });

  it('keys encrypted the usual ways still import (PBES2 with SHA-512/AES-128 at 600k iterations, 3DES, legacy PBES1)', async () => {
    const variants: Array<[string, string[]]> = [
      ['pbes2-sha512-aes128', ['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA512', '-iter', '600000']],
      ['pbes2-3des', ['-v2', 'des3']],
      ['pbes1-sha1-3des', ['-v1', 'PBE-SHA1-3DES']],
    ];
    for (const [n, args] of variants) {
      const out = s.openssl('pkcs8', '-topk8', ...args, '-in', 'ca.key', '-out', `${n}.key`, '-passout', 'pass:correct horse');
      expect(out.code, out.out).toBe(0);
      const res = await env().client().POST('/api/v1/authorities', { body: { name: `hv-${n}`, kind: 'import', certificatePem: ctx.caPem, privateKeyPem: s.read(`${n}.key`).toString(), passphrase: 'correct horse' } });
      expect(res.response.status, `${n}: ${JSON.stringify(res.error)}`).toBe(201);
      expect(res.data!.canIssue).toBe(true);
      const wrong = await env().client().POST('/api/v1/authorities', { body: { name: `hv-${n}-wrong`, kind: 'import', certificatePem: ctx.caPem, privateKeyPem: s.read(`${n}.key`).toString(), passphrase: 'wrong horse' } });
      expect(wrong.response.status).toBe(400);
      expect(wrong.error?.errors?.[0]?.field).toBe('/body/passphrase');
    }
    const scrypt = s.openssl('pkcs8', '-topk8', '-scrypt', '-in', 'ca.key', '-out', 'scrypt.key', '-passout', 'pass:correct horse');
    expect(scrypt.code, scrypt.out).toBe(0);
    const res = await env().client().POST('/api/v1/authorities', { body: { name: 'hv-scrypt', kind: 'import', certificatePem: ctx.caPem, privateKeyPem: s.read('scrypt.key').toString(), passphrase: 'correct horse' } });
    expect(res.response.status).toBe(400);
    expect(res.error?.detail).toMatch(/not supported/);
  });

  it("a row named like another's id (stored before such names were refused) never shadows it", async () => {
    const api = env().client();
    const a = await api.POST('/api/v1/authorities', { body: { name: 'hv-shadowed', kind: 'root', subject: { commonName: 'Shadowed' } } });
    const b = await api.POST('/api/v1/authorities', { body: { name: 'hv-shadow', kind: 'root', subject: { commonName: 'Shadow' } } });
    await env().app.services.db.updateTable('authorities').set({ name: a.data!.id }).where('id', '=', b.data!.id).execute();
    // An update moves A's row after B's on PostgreSQL (a new tuple at the end of the heap).
    expect((await api.PATCH('/api/v1/authorities/{authorityId}', { params: { path: { authorityId: a.data!.id } }, body: { description: 'moved' } })).response.status).toBe(200);
    const got = await api.GET('/api/v1/authorities/{authorityId}', { params: { path: { authorityId: a.data!.id } } });
    expect(got.data!.subject.commonName).toBe('Shadowed');
    const p = await api.POST('/api/v1/profiles', { body: { name: 'hv-shadow-profile', authorityId: a.data!.id } });
    expect(p.data!.authorityId).toBe(a.data!.id);
  });

  it('a time with an offset filters the same rows on both engines (SQLite compared it as text)', async () => {
    const api = env().client();
    const c = await api.POST('/api/v1/certificates', { body: { profile: 'hv', subject: { commonName: 'offset.example.test' }, sans: { dns: ['offset.example.test'] }, notAfter: '2027-01-01T00:00:00Z', labels: { probe: 'offset' } } });
    expect(c.response.status, JSON.stringify(c.error)).toBe(201);
    // 2027-01-01T13:00:00+14:00 is 2026-12-31T23:00:00Z: an hour before the notAfter.
    const before = await api.GET('/api/v1/certificates', { params: { query: { label: ['probe:offset'], expiresBefore: '2027-01-01T13:00:00+14:00' } } });
    expect(before.response.status).toBe(200);
    expect(before.data!.items).toEqual([]);
    const after = await api.GET('/api/v1/certificates', { params: { query: { label: ['probe:offset'], expiresAfter: '2027-01-01T13:00:00+14:00' } } });
    expect(after.data!.items.map((i) => i.id)).toEqual([c.data!.id]);
  });

  it('genuine values still pass: a real cursor pages on, a valid CSR with an IP and a URI is issued as asked', async () => {
    const api = env().client();
    const issued = await api.POST('/api/v1/certificates', {
      body: { profile: 'hv-loose', csr: csr({ subject: nameDer({ commonName: 'Caf\u00e9 \u65e5\u672c', organization: 'Acme' } as never), names: [dns('a.example.test'), der.ctxPrim(6, Buffer.from('https://a.example.test/x%C3%A9'))] }) },
    });
    expect(issued.response.status, JSON.stringify(issued.error)).toBe(201);
    expect(issued.data!.subject.commonName).toBe('Caf\u00e9 \u65e5\u672c');
    expect(issued.data!.sans.uri).toEqual(['https://a.example.test/x%C3%A9']);
    await api.POST('/api/v1/certificates', { body: { profile: 'hv', ...named('a.example.test') } });
    const first = await api.GET('/api/v1/certificates', { params: { query: { limit: 1 } } });
    expect(first.data!.nextCursor).toBeTruthy();
    const next = await api.GET('/api/v1/certificates', { params: { query: { limit: 1, cursor: first.data!.nextCursor! } } });
    expect(next.response.status).toBe(200);
    expect(next.data!.items[0].id).not.toBe(first.data!.items[0].id);
    const roles = await api.GET('/api/v1/roles', { params: { query: { limit: 1 } } });
    expect((await api.GET('/api/v1/roles', { params: { query: { limit: 1, cursor: roles.data!.nextCursor! } } })).response.status).toBe(200);
  });
});

