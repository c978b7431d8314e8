/**
 * verifyChain and verifyEndpoint end to end, on both databases, through the typed client
 * (every response checked against the spec): Certa-issued chains for several key types
 * against each trust source, the failure codes of the report, refusal of unusable input,
 * and live TLS endpoints served from this process (allowed, denied, unreachable).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { forEachDialect, makeEnv, startTestApp, ADMIN_EMAIL, ADMIN_PASSWORD, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { TargetGuard } from '../../src/notify/target-guard.js';
import { VERIFY_ERROR_CODES, VERIFY_WARNING_CODES } from '../../src/pki/verify/index.js';

const ALGS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as const;
type Alg = (typeof ALGS)[number];

interface Pki {
  rootPem: string;
  intPem: string;
  intId: string;
  leafId: string;
  leafPem: string;
  chainPem: string;
  keyPem: string;
  notAfter: string;
}

/** root -> intermediate -> server leaf for api.example.test / svc.example.test / 127.0.0.1, all through the API. */
async function issueChain(env: TestEnv, suffix: string, alg: Alg = 'ecdsa-p256'): Promise<Pki> {
  const api = env.client();
  const root = await api.POST('/api/v1/authorities', { body: { name: `vroot-${suffix}`, kind: 'root', subject: { commonName: `Verify Root ${suffix}`, organization: 'Certa Tests' }, keyAlgorithm: alg, pathLength: 1 } });
  expect(root.response.status, JSON.stringify(root.error)).toBe(201);
  const int = await api.POST('/api/v1/authorities', { body: { name: `vint-${suffix}`, kind: 'intermediate', parentId: root.data!.id, subject: { commonName: `Verify Issuing ${suffix}`, organization: 'Certa Tests' }, keyAlgorithm: alg } });
  expect(int.response.status, JSON.stringify(int.error)).toBe(201);
  const prof = await api.POST('/api/v1/profiles', { body: { name: `vweb-${suffix}`, authorityId: int.data!.id, allowedDomains: ['example.test'], allowSubdomains: true, allowedIpRanges: ['127.0.0.0/8'], usage: 'server' } });
  expect(prof.response.status, JSON.stringify(prof.error)).toBe(201);
  const leaf = await api.POST('/api/v1/certificates', {
    body: { profile: `vweb-${suffix}`, subject: { commonName: 'api.example.test' }, sans: { dns: ['api.example.test', 'svc.example.test'], ip: ['127.0.0.1'] }, keyAlgorithm: alg, validityDays: 30 },
  });
  expect(leaf.response.status, JSON.stringify(leaf.error)).toBe(201);
  const c = leaf.data!;
  return { rootPem: root.data!.certificatePem!, intPem: int.data!.certificatePem!, intId: int.data!.id, leafId: c.id, leafPem: c.certificatePem, chainPem: c.chainPem, keyPem: c.privateKeyPem!, notAfter: c.notAfter };
}

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
const codes = (r: { errors: Array<{ code: string }> }) => r.errors.map((e) => e.code);

/** A CA made by `openssl req -x509` (P-256) and a leaf it signs with the given extension lines. */
function opensslCaAndLeaf(s: Scratch, name: string, caSubject: string, leafCn: string, leafExt: string): { caPem: string; leafPem: string; leafKey: string } {
  s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '30', '-subj', caSubject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-leaf.key`, '-out', `${name}-leaf.csr`, '-subj', `/CN=${leafCn}`);
  s.write(`${name}-leaf.ext`, leafExt);
  s.ok('x509', '-req', '-in', `${name}-leaf.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-days', '7', '-extfile', `${name}-leaf.ext`, '-out', `${name}-leaf.pem`);
  return { caPem: s.read(`${name}-ca.pem`).toString(), leafPem: s.read(`${name}-leaf.pem`).toString(), leafKey: s.read(`${name}-leaf.key`).toString() };
}

async function tlsServer(key: string, cert: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = tls.createServer({ key, cert }, (sock) => sock.end('hello\n'));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

forEachDialect('verification', (env) => {
  const s = new Scratch();
  afterAll(() => s.cleanup());
  let main: Pki;
  beforeAll(async () => {
    main = await issueChain(env(), 'main');
  });

  describe('verifyChain: Certa-issued chains', () => {
    for (const alg of ALGS) {
      it(`ok/${alg}: valid with trust internal, and with the root supplied; system roots alone do not know it`, async () => {
        const p = await issueChain(env(), alg, alg);
        const api = env().client();
        const internal = await api.POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, hostname: 'api.example.test', trust: ['internal'] } });
        expect(internal.response.status, JSON.stringify(internal.error)).toBe(200);
        expect(internal.data!.valid, JSON.stringify(internal.data!.errors)).toBe(true);
        expect(internal.data!.mode).toBe('webpki');
        expect(internal.data!.path.map((e) => e.subject)).toEqual([expect.stringContaining('api.example.test'), expect.stringContaining(`Verify Issuing ${alg}`), expect.stringContaining(`Verify Root ${alg}`)]);
        expect(internal.data!.checks.find((c) => c.name === 'revocation')!.passed).toBe(true);

        // The leaf alone: Certa's own intermediates complete the path.
        const leafOnly = await api.POST('/api/v1/verify/chain', { body: { certificates: p.leafPem, hostname: 'api.example.test', trust: ['internal'] } });
        expect(leafOnly.data!.valid, JSON.stringify(leafOnly.data!.errors)).toBe(true);

        // Supplied anchors, the bundle as an array mixing PEM and base64 DER.
        const supplied = await api.POST('/api/v1/verify/chain', {
          body: { certificates: [derOf(p.leafPem).toString('base64'), p.intPem], trustAnchors: p.rootPem, trust: ['supplied'], hostname: 'svc.example.test', purpose: 'serverAuth' },
        });
        expect(supplied.data!.valid, JSON.stringify(supplied.data!.errors)).toBe(true);
        expect(supplied.data!.path).toHaveLength(3);

        const system = await api.POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, hostname: 'api.example.test', trust: ['system'] } });
        expect(system.response.status).toBe(200);
        expect(system.data!.valid).toBe(false);
        expect(codes(system.data!)).toContain('untrustedRoot');
      });
    }

    it('ok/the IP address SAN matches; the default trust (internal + supplied) applies', async () => {
      const r = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, ip: '127.0.0.1' } });
      expect(r.data!.valid, JSON.stringify(r.data!.errors)).toBe(true);
    });
  });

  describe('verifyChain: invalid chains answer 200 with the reason', () => {
    it('error/tampered leaf signature -> badSignature', async () => {
      const der = derOf(main.leafPem);
      der[der.length - 1] ^= 0x01;
      const r = await env().client().POST('/api/v1/verify/chain', { body: { certificates: [der.toString('base64'), main.intPem], trust: ['internal'], hostname: 'api.example.test' } });
      expect(r.response.status).toBe(200);
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toContain('badSignature');
      expect(r.data!.checks.find((c) => c.name === 'signatures')!.passed).toBe(false);
    });

    it('error/wrong hostname -> nameMismatch', async () => {
      const r = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, trust: ['internal'], hostname: 'other.example.test' } });
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toEqual(['nameMismatch']);
    });

    it('error/a server certificate for clientAuth -> extKeyUsage', async () => {
      const r = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, trust: ['internal'], purpose: 'clientAuth' } });
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toContain('extKeyUsage');
    });

    it('ok/a leaf without extKeyUsage is any-purpose (RFC 5280); requireExtKeyUsage refuses it -> extKeyUsage', async () => {
      const ext = opensslCaAndLeaf(s, 'noeku', '/CN=No EKU Test CA', 'noeku.example.test', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:noeku.example.test\n');
      const body = { certificates: ext.leafPem, trust: ['supplied' as const], trustAnchors: ext.caPem, hostname: 'noeku.example.test' };
      const lax = await env().client().POST('/api/v1/verify/chain', { body });
      expect(lax.data!.valid, JSON.stringify(lax.data!.errors)).toBe(true);
      expect(lax.data!.rules).not.toContain('ext-key-usage-required');
      const strict = await env().client().POST('/api/v1/verify/chain', { body: { ...body, requireExtKeyUsage: true } });
      expect(strict.response.status).toBe(200);
      expect(strict.data!.valid).toBe(false);
      expect(strict.data!.errors).toEqual([expect.objectContaining({ code: 'extKeyUsage', certificateIndex: 0 })]);
      expect(strict.data!.rules).toContain('ext-key-usage-required');
      // Certa's own leaves carry serverAuth: still valid when it is required.
      const own = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, trust: ['internal'], hostname: 'api.example.test', requireExtKeyUsage: true } });
      expect(own.data!.valid, JSON.stringify(own.data!.errors)).toBe(true);
    });

    it('error/validated after notAfter -> expired', async () => {
      const at = new Date(new Date(main.notAfter).getTime() + 86_400_000).toISOString();
      const r = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, trust: ['internal'], hostname: 'api.example.test', at } });
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toContain('expired');
      expect(r.data!.errors.find((e) => e.code === 'expired')!.certificateIndex).toBe(0);
    });

    it('error/a revoked certificate -> revoked (Certa\'s own records); checkRevocation false skips them', async () => {
      const p = await issueChain(env(), 'revoked');
      const api = env().client();
      const rev = await api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: p.leafId } }, body: { reason: 'keyCompromise' } });
      expect(rev.response.status, JSON.stringify(rev.error)).toBe(200);
      const r = await api.POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, trust: ['internal'], hostname: 'api.example.test' } });
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toEqual(['revoked']);
      expect(r.data!.errors[0].message).toMatch(/keyCompromise/);
      // Anchored by a supplied root: Certa's records still apply.
      const supplied = await api.POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, trust: ['supplied'], trustAnchors: p.rootPem, hostname: 'api.example.test' } });
      expect(codes(supplied.data!)).toEqual(['revoked']);
      const skipped = await api.POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, trust: ['internal'], hostname: 'api.example.test', checkRevocation: false } });
      expect(skipped.data!.valid).toBe(true);
    });

    it('error/a revoked intermediate authority -> revoked at index 1', async () => {
      const p = await issueChain(env(), 'revoked-int');
      const api = env().client();
      const rev = await api.POST('/api/v1/authorities/{authorityId}/revoke', { params: { path: { authorityId: p.intId } }, body: { reason: 'cACompromise' } });
      expect(rev.response.status, JSON.stringify(rev.error)).toBe(200);
      const r = await api.POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, trust: ['internal'], hostname: 'api.example.test' } });
      expect(r.data!.valid).toBe(false);
      expect(r.data!.errors.find((e) => e.code === 'revoked')?.certificateIndex).toBe(1);
    });

    it('another replica sees an authority revoked elsewhere (its snapshot of the authorities expires)', async () => {
      const p = await issueChain(env(), 'replica');
      const replica = await env().replica();
      try {
        const verify = async () => {
          const r = await replica.client().POST('/api/v1/verify/chain', { body: { certificates: p.chainPem, trust: ['internal'], hostname: 'api.example.test' } });
          expect(r.response.status, JSON.stringify(r.error)).toBe(200);
          return r.data!;
        };
        expect((await verify()).valid).toBe(true);
        const rev = await env().client().POST('/api/v1/authorities/{authorityId}/revoke', { params: { path: { authorityId: p.intId } }, body: { reason: 'cACompromise' } });
        expect(rev.response.status, JSON.stringify(rev.error)).toBe(200);
        let report = await verify();
        for (const deadline = Date.now() + 15_000; report.valid && Date.now() < deadline; ) {
          await new Promise((r) => setTimeout(r, 250));
          report = await verify();
        }
        expect(report.valid).toBe(false);
        expect(report.errors.find((e) => e.code === 'revoked')?.certificateIndex).toBe(1);
      } finally {
        await replica.stop();
      }
    }, 60_000);

    it('every verification is audited, also when many arrive at once (they share commits)', async () => {
      const api = env().client();
      const ids = Array.from({ length: 60 }, (_, i) => `verify-audit-${env().dialect}-${i}`);
      const results = await Promise.all(
        ids.map((id) =>
          env().fetch('/api/v1/verify/chain', {
            method: 'POST',
            headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json', 'x-request-id': id },
            body: JSON.stringify({ certificates: main.chainPem, trust: ['internal'], hostname: id.endsWith('7') ? 'wrong.example.test' : 'api.example.test' }),
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(ids.map(() => 200));
      const seen = new Map<string, string>();
      for (let cursor: string | undefined, pages = 0; pages < 50; pages++) {
        const page = await api.GET('/api/v1/audit-events', { params: { query: { action: 'verifyChain', limit: 200, cursor } } });
        expect(page.response.status, JSON.stringify(page.error)).toBe(200);
        for (const e of page.data!.items) if (e.requestId) seen.set(e.requestId, e.outcome);
        cursor = page.data!.nextCursor ?? undefined;
        if (!cursor) break;
      }
      for (const id of ids) expect(seen.get(id), id).toBe('success');
    });
  });

  describe('verifyChain: maxDepth and the typed issue codes', () => {
    it('ok/maxDepth 0 accepts a leaf issued by the anchor itself; the Certa chain (one intermediate) needs maxDepth 1 -> chainTooLong at 0', async () => {
      const made = opensslCaAndLeaf(s, 'depth0', '/CN=Depth Zero CA', 'direct.example.test', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:direct.example.test\n');
      const direct = await env().client().POST('/api/v1/verify/chain', { body: { certificates: made.leafPem, trust: ['supplied'], trustAnchors: made.caPem, hostname: 'direct.example.test', maxDepth: 0 } });
      expect(direct.response.status, JSON.stringify(direct.error)).toBe(200);
      expect(direct.data!.valid, JSON.stringify(direct.data!.errors)).toBe(true);
      expect(direct.data!.path).toHaveLength(2);
      const tooLong = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, trust: ['internal'], hostname: 'api.example.test', maxDepth: 0 } });
      expect(tooLong.response.status).toBe(200);
      expect(codes(tooLong.data!)).toEqual(['chainTooLong']);
      const one = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, trust: ['internal'], hostname: 'api.example.test', maxDepth: 1 } });
      expect(one.data!.valid, JSON.stringify(one.data!.errors)).toBe(true);
      const negative = await env().client().POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, maxDepth: -1 } });
      expect(negative.response.status).toBe(400);
      expect(negative.error!.code).toBe('validation_failed');
    });

    it('error/a leaf whose commonName is none of its SANs -> commonNameNotInSan (webpki), a warning in rfc5280 mode', async () => {
      const made = opensslCaAndLeaf(s, 'cn', '/CN=CN Test CA', 'other.example.test', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:named.example.test\n');
      const body = { certificates: made.leafPem, trust: ['supplied' as const], trustAnchors: made.caPem, hostname: 'named.example.test' };
      const webpki = await env().client().POST('/api/v1/verify/chain', { body });
      expect(webpki.data!.valid).toBe(false);
      expect(codes(webpki.data!)).toEqual(['commonNameNotInSan']);
      const loose = await env().client().POST('/api/v1/verify/chain', { body: { ...body, mode: 'rfc5280' } });
      expect(loose.data!.valid, JSON.stringify(loose.data!.errors)).toBe(true);
      expect(loose.data!.warnings.map((w) => w.code)).toContain('commonNameNotInSan');
    });

    it('error/a wildcard directly under a public suffix (*.co.uk) -> wildcardPublicSuffix', async () => {
      const made = opensslCaAndLeaf(s, 'psl', '/CN=PSL Test CA', '*.co.uk', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:*.co.uk\n');
      const r = await env().client().POST('/api/v1/verify/chain', { body: { certificates: made.leafPem, trust: ['supplied'], trustAnchors: made.caPem, hostname: 'example.co.uk' } });
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toEqual(['wildcardPublicSuffix']);
    });

    it('ok/the served spec types report codes as the VerifyErrorCode / VerifyWarningCode enums, listing every code the engine has', async () => {
      const spec = (await (await env().fetch('/api/v1/openapi.json')).json()) as any;
      const schemas = spec.components.schemas;
      expect([...schemas.VerifyErrorCode.enum].sort()).toEqual([...VERIFY_ERROR_CODES].sort());
      expect([...schemas.VerifyWarningCode.enum].sort()).toEqual([...VERIFY_WARNING_CODES].sort());
      const deref = (o: { $ref?: string }) => (o.$ref ? schemas[o.$ref.split('/').pop()!] : o);
      const report = deref(spec.paths['/api/v1/verify/chain'].post.responses['200'].content['application/json'].schema);
      expect(deref(deref(report.properties.errors.items).properties.code)).toEqual(schemas.VerifyErrorCode);
      expect(deref(deref(report.properties.warnings.items).properties.code)).toEqual(schemas.VerifyWarningCode);
    });
  });

  describe('verifyChain: unusable input is a 4xx problem, never a 500', () => {
    const truncated = () => derOf(main.leafPem).subarray(0, 200).toString('base64');
    const cases: Array<[string, () => Record<string, unknown>, string]> = [
      ['junk string', () => ({ certificates: 'this is not a certificate' }), 'bad_certificate'],
      ['junk array item', () => ({ certificates: [main.leafPem, 'junk!'] }), 'bad_certificate'],
      ['truncated DER (base64)', () => ({ certificates: [truncated()] }), 'bad_certificate'],
      ['truncated PEM', () => ({ certificates: `-----BEGIN CERTIFICATE-----\n${truncated()}\n-----END CERTIFICATE-----\n` }), 'bad_certificate'],
      ['a key instead of a certificate', () => ({ certificates: main.keyPem }), 'bad_certificate'],
      ['junk trust anchors', () => ({ certificates: main.chainPem, trustAnchors: 'nope', trust: ['supplied'] }), 'bad_certificate'],
      ['anchors without trust "supplied"', () => ({ certificates: main.chainPem, trustAnchors: main.rootPem, trust: ['internal'] }), 'bad_request'],
      ['junk CRL', () => ({ certificates: main.chainPem, crls: ['not a CRL'] }), 'bad_certificate'],
      ['not an IP', () => ({ certificates: main.chainPem, ip: 'ten.0.0.1' }), 'bad_request'],
      ['unknown trust source', () => ({ certificates: main.chainPem, trust: ['everything'] }), 'validation_failed'],
    ];
    for (const [name, body, code] of cases) {
      it(`error/${name} -> 400 ${code}`, async () => {
        const r = await env().client().POST('/api/v1/verify/chain', { body: body() as any });
        expect(r.response.status, JSON.stringify(r.data ?? r.error)).toBe(400);
        expect(r.error!.code).toBe(code);
        expect(r.error!.detail).toBeTruthy();
      });
    }

    it('error/10 MB of junk -> 413 before any parsing', async () => {
      const body = JSON.stringify({ certificates: 'A'.repeat(10 * 1024 * 1024) });
      const r = await env().fetch('/api/v1/verify/chain', { method: 'POST', headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json' }, body });
      expect(r.status).toBe(413);
      expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await r.json()) as any).code).toBe('payload_too_large');
    });

    it('error/without verifications:run -> 403; anonymous -> 401', async () => {
      const viewer = await env().userWithRoles(['viewer']);
      const r = await env().client(viewer.token).POST('/api/v1/verify/chain', { body: { certificates: main.chainPem } });
      expect(r.response.status).toBe(403);
      const e = await env().client(viewer.token).POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: 1 } });
      expect(e.response.status).toBe(403);
      const anon = await env().client(null).POST('/api/v1/verify/chain', { body: { certificates: main.chainPem } });
      expect(anon.response.status).toBe(401);
    });

    it('ok/verifications are audited with the target and the verdict, refusals too', async () => {
      const api = env().client();
      await api.POST('/api/v1/verify/chain', { body: { certificates: main.chainPem, hostname: 'other.example.test' } });
      await api.POST('/api/v1/verify/endpoint', { body: { host: '169.254.169.254', port: 80 } });
      const chain = await api.GET('/api/v1/audit-events', { params: { query: { action: 'verifyChain' } } });
      expect(chain.response.status, JSON.stringify(chain.error)).toBe(200);
      expect(chain.data!.items.some((i) => i.target?.startsWith('sha256:') && /invalid: nameMismatch/.test(i.detail ?? ''))).toBe(true);
      const endpoint = await api.GET('/api/v1/audit-events', { params: { query: { action: 'verifyEndpoint' } } });
      expect(endpoint.data!.items.some((i) => i.target === '169.254.169.254:80' && i.outcome === 'failure' && /not an allowed verification target/.test(i.detail ?? ''))).toBe(true);
    });
  });

  describe('verifyEndpoint', () => {
    let server: { port: number; close: () => Promise<void> };
    beforeAll(async () => {
      server = await tlsServer(main.keyPem, main.chainPem);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('ok/a Certa-issued chain served on 127.0.0.1 with SNI verifies; the report names what was presented', async () => {
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: server.port, servername: 'svc.example.test', trust: ['internal'] } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(200);
      expect(r.data!.valid, JSON.stringify(r.data!.errors)).toBe(true);
      const ep = r.data!.endpoint!;
      expect(ep).toMatchObject({ host: '127.0.0.1', port: server.port, address: '127.0.0.1' });
      expect(ep.protocol).toMatch(/^TLSv1\.[23]$/);
      expect(ep.cipher).toBeTruthy();
      expect(ep.presentedChain![0]).toBe(main.leafPem);
      expect(ep.presentedChain!.length).toBeGreaterThanOrEqual(2);
      expect(r.data!.path).toHaveLength(3);
    });

    it('ok/an IP host without SNI is verified as that IP; default trust (internal + system)', async () => {
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: server.port } });
      expect(r.data!.valid, JSON.stringify(r.data!.errors)).toBe(true);
    });

    it('ok/a host name: localhost is resolved, checked and connected to by address', async () => {
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: 'localhost', port: server.port, hostname: 'svc.example.test' } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(200);
      expect(r.data!.endpoint!.address).toBe('127.0.0.1');
      expect(r.data!.valid, JSON.stringify(r.data!.errors)).toBe(true);
    });

    it('error/the served certificate is for another name -> nameMismatch', async () => {
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: server.port, servername: 'wrong.example.test' } });
      expect(r.response.status).toBe(200);
      expect(r.data!.valid).toBe(false);
      expect(codes(r.data!)).toEqual(['nameMismatch']);
    });

    it('error/only the system roots -> untrustedRoot', async () => {
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: server.port, servername: 'svc.example.test', trust: ['system'] } });
      expect(codes(r.data!)).toContain('untrustedRoot');
    });

    it('ok/an external chain made by openssl req -x509 verifies with that CA supplied, untrustedRoot without it', async () => {
      const made = opensslCaAndLeaf(s, 'ext', '/CN=External Test CA/O=Elsewhere', 'external.example.test', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:external.example.test\n');
      const ext = await tlsServer(made.leafKey, made.leafPem);
      try {
        const body = { host: '127.0.0.1', port: ext.port, servername: 'external.example.test' };
        const ok = await env().client().POST('/api/v1/verify/endpoint', { body: { ...body, trust: ['supplied'], trustAnchors: made.caPem } });
        expect(ok.response.status, JSON.stringify(ok.error)).toBe(200);
        expect(ok.data!.valid, JSON.stringify(ok.data!.errors)).toBe(true);
        expect(ok.data!.path.map((p) => p.subject)).toEqual([expect.stringContaining('external.example.test'), expect.stringContaining('External Test CA')]);
        const no = await env().client().POST('/api/v1/verify/endpoint', { body: { ...body, trust: ['internal', 'system'] } });
        expect(no.data!.valid).toBe(false);
        expect(codes(no.data!)).toContain('untrustedRoot');
      } finally {
        await ext.close();
      }
    });

    it('error/cloud metadata address -> 403 target_not_allowed, without connecting', async () => {
      for (const host of ['169.254.169.254', '[fd00:ec2::254]', '::ffff:169.254.169.254']) {
        const t = Date.now();
        const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host, port: 80, timeoutMs: 30000 } });
        expect(r.response.status, host).toBe(403);
        expect(r.error!.code).toBe('target_not_allowed');
        expect(Date.now() - t).toBeLessThan(2000);
      }
    });

    it('error/closed port -> 502 upstream_error, fast', async () => {
      const probe = net.createServer().listen(0, '127.0.0.1');
      await once(probe, 'listening');
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));
      const t = Date.now();
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port } });
      expect(r.response.status).toBe(502);
      expect(r.error!.code).toBe('upstream_error');
      expect(r.error!.detail).toBe(`could not complete a TLS handshake with 127.0.0.1:${port}`);
      expect(Date.now() - t).toBeLessThan(2000);
    });

    it('error/a server that never answers the handshake -> 502 after timeoutMs; a non-TLS server -> 502', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((sock) => sockets.add(sock)).listen(0, '127.0.0.1');
      const plain = net.createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n')).listen(0, '127.0.0.1');
      await Promise.all([once(silent, 'listening'), once(plain, 'listening')]);
      try {
        const t = Date.now();
        const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, timeoutMs: 300 } });
        expect(r.response.status).toBe(502);
        expect(r.error!.detail).toBe(`could not complete a TLS handshake with 127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
        expect(Date.now() - t).toBeLessThan(3000);
        const p = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: (plain.address() as net.AddressInfo).port } });
        expect(p.response.status).toBe(502);
        expect(p.error!.code).toBe('upstream_error');
      } finally {
        for (const sock of sockets) sock.destroy();
        silent.close();
        plain.close();
      }
    });

    it('error/a name that does not resolve -> 502; bad parameters -> 400', async () => {
      const r = await env().client().POST('/api/v1/verify/endpoint', { body: { host: 'no-such-host.invalid', port: 443, timeoutMs: 3000 } });
      expect(r.response.status).toBe(502);
      const bad = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', servername: '10.0.0.1' } });
      expect(bad.response.status).toBe(400);
      const withPort = await env().client().POST('/api/v1/verify/endpoint', { body: { host: 'svc.example.test:443' } });
      expect(withPort.response.status).toBe(400);
      expect(withPort.error!.errors![0].field).toBe('/body/host');
      const range = await env().client().POST('/api/v1/verify/endpoint', { body: { host: '127.0.0.1', port: 70000 } });
      expect(range.response.status).toBe(400);
    });
  });
});

describe('verifyEndpoint with an allow list (CERTA_VERIFY_ALLOW)', () => {
  let env: TestEnv;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await startTestApp('sqlite', { env: { CERTA_VERIFY_ALLOW: '10.0.0.0/8,allowed.example.test', CERTA_VERIFY_DENY: '169.254.0.0/16,10.9.0.0/16' } });
    cleanup = started.cleanup;
    const res = await fetch(`${started.app.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }) });
    env = makeEnv('sqlite', started.app, started.dataDir, ((await res.json()) as { token: string }).token);
  });
  afterAll(async () => {
    await cleanup?.();
  });

  it('error/loopback is outside the allow list -> 403, by address and by name', async () => {
    for (const host of ['127.0.0.1', 'localhost', '10.9.1.1']) {
      const r = await env.client().POST('/api/v1/verify/endpoint', { body: { host, port: 443 } });
      expect(r.response.status, host).toBe(403);
      expect(r.error!.code).toBe('target_not_allowed');
    }
  });
});

describe('target lists', () => {
  it('error/config refuses malformed entries, naming the variable', () => {
    expect(() => loadConfig({ CERTA_VERIFY_DENY: '10.0.0.0/99' })).toThrow(ConfigError);
    expect(() => loadConfig({ CERTA_VERIFY_DENY: '10.0.0.0/99' })).toThrow(/CERTA_VERIFY_DENY/);
    expect(() => loadConfig({ CERTA_VERIFY_ALLOW: 'not a host' })).toThrow(/CERTA_VERIFY_ALLOW/);
    expect(loadConfig({ CERTA_VERIFY_ALLOW: 'api.example.test, 10.0.0.0/8,fd00::/8' }).verifyAllow).toEqual(['api.example.test', '10.0.0.0/8', 'fd00::/8']);
  });

  it('ok/TargetGuard.resolve: deny wins, allow by name or by every address, lookups propagate', async () => {
    const lookup = async (h: string) => {
      const map: Record<string, string[]> = { 'mixed.test': ['10.1.1.1', '192.0.2.1'], 'inside.test': ['10.1.1.1'], 'sneaky.test': ['10.1.1.1', '169.254.169.254'], 'named.test': ['192.0.2.7'] };
      if (!map[h]) throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
      return map[h];
    };
    const g = new TargetGuard(['169.254.0.0/16'], lookup, { allow: ['10.0.0.0/8', 'named.test', 'sneaky.test'], noun: 'verification target' });
    expect(await g.resolve('inside.test')).toEqual({ addresses: ['10.1.1.1'], denied: null });
    expect((await g.resolve('mixed.test')).denied).toMatch(/192\.0\.2\.1.*not in the allowed verification targets/);
    expect((await g.resolve('named.test')).denied).toBeNull();
    expect((await g.resolve('sneaky.test')).denied).toMatch(/169\.254\.169\.254/);
    expect((await g.resolve('[::ffff:169.254.1.1]')).denied).toMatch(/not an allowed verification target/);
    await expect(g.resolve('unknown.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const open = new TargetGuard(['169.254.0.0/16'], lookup);
    expect((await open.resolve('mixed.test')).denied).toBeNull();
  });
});
