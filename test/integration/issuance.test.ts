/**
 * Authorities, profiles and issuance end to end, every artefact checked by a real peer:
 * openssl verify / x509 -text, a real TLS handshake (openssl s_client and node tls), mTLS.
 */
import { afterAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import { once } from 'node:events';
import { forEachDialect, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';

const ALGS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'ed25519'] as const;

async function createRootAndIntermediate(env: TestEnv, suffix: string, alg: (typeof ALGS)[number] = 'ecdsa-p256') {
  const api = env.client();
  const root = await api.POST('/api/v1/authorities', { body: { name: `root-${suffix}`, kind: 'root', subject: { commonName: `Test Root ${suffix}`, organization: 'Certa Tests', country: 'FR' }, keyAlgorithm: alg, pathLength: 1 } });
  expect(root.response.status, JSON.stringify(root.error)).toBe(201);
  const int = await api.POST('/api/v1/authorities', { body: { name: `int-${suffix}`, kind: 'intermediate', parentId: root.data!.id, subject: { commonName: `Test Issuing ${suffix}`, organization: 'Certa Tests' }, keyAlgorithm: alg } });
  expect(int.response.status, JSON.stringify(int.error)).toBe(201);
  return { root: root.data!, int: int.data! };
}

forEachDialect('authorities and issuance', (env) => {
  const s = new Scratch();
  afterAll(() => s.cleanup());

  describe('every key algorithm: root -> intermediate -> leaf accepted by openssl verify', () => {
    for (const alg of ALGS) {
      it(`ok/${alg}`, async () => {
        const { root, int } = await createRootAndIntermediate(env(), alg, alg);
        expect(root.canIssue).toBe(true);
        expect(int.parentId).toBe(root.id);
        const api = env().client();
        const prof = await api.POST('/api/v1/profiles', { body: { name: `web-${alg}`, authorityId: int.id, allowedDomains: ['example.test'], allowSubdomains: true, allowedIpRanges: ['10.0.0.0/8'], usage: 'server' } });
        expect(prof.response.status, JSON.stringify(prof.error)).toBe(201);
        const leaf = await api.POST('/api/v1/certificates', { body: { profile: `web-${alg}`, subject: { commonName: 'api.example.test' }, sans: { dns: ['api.example.test', 'www.example.test'], ip: ['10.1.2.3'] }, keyAlgorithm: alg, validityDays: 30 } });
        expect(leaf.response.status, JSON.stringify(leaf.error)).toBe(201);
        const c = leaf.data!;
        expect(c.privateKeyPem).toMatch(/BEGIN PRIVATE KEY/);
        s.write(`root-${alg}.pem`, root.certificatePem!);
        s.write(`int-${alg}.pem`, int.certificatePem!);
        s.write(`leaf-${alg}.pem`, c.certificatePem);
        const v = s.openssl('verify', '-x509_strict', '-CAfile', `root-${alg}.pem`, '-untrusted', `int-${alg}.pem`, '-purpose', 'sslserver', `leaf-${alg}.pem`);
        expect(v.out).toContain(': OK');
        expect(v.code).toBe(0);
        const text = s.ok('x509', '-in', `leaf-${alg}.pem`, '-noout', '-text');
        expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
        expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
        expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
        expect(text).toMatch(/DNS:api.example.test, DNS:www.example.test, IP Address:10.1.2.3/);
        expect(text).toMatch(/X509v3 Subject Key Identifier/);
        expect(text).toMatch(/X509v3 Authority Key Identifier/);
        expect(text).toContain(`URI:${env().app.config.publicUrl}/pki/crl/${int.id}.crl`);
        expect(text).toContain(`OCSP - URI:${env().app.config.publicUrl}/pki/ocsp/${int.id}`);
        expect(text).toContain(`CA Issuers - URI:${env().app.config.publicUrl}/pki/ca/${int.id}.crt`);
        const intText = s.ok('x509', '-in', `int-${alg}.pem`, '-noout', '-text');
        expect(intText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
        expect(intText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
        // The private key matches the certificate.
        s.write(`leaf-${alg}.key`, c.privateKeyPem!);
        const pubFromKey = s.ok('pkey', '-in', `leaf-${alg}.key`, '-pubout');
        const pubFromCert = s.ok('x509', '-in', `leaf-${alg}.pem`, '-noout', '-pubkey');
        expect(pubFromKey).toBe(pubFromCert);
      });
    }
  });

  it('ok/a real TLS handshake: openssl s_client verifies the hostname; a node tls client too', async () => {
    const { root, int } = await createRootAndIntermediate(env(), 'tls');
    const api = env().client();
    await api.POST('/api/v1/profiles', { body: { name: 'tls-server', authorityId: int.id, allowedDomains: ['localhost', 'svc.example.test'], allowedIpRanges: ['127.0.0.0/8'], usage: 'server' } });
    const issued = await api.POST('/api/v1/certificates', { body: { profile: 'tls-server', subject: { commonName: 'svc.example.test' }, sans: { dns: ['svc.example.test'], ip: ['127.0.0.1'] } } });
    expect(issued.response.status, JSON.stringify(issued.error)).toBe(201);
    const leaf = issued.data!;
    const server = tls.createServer({ key: leaf.privateKeyPem, cert: leaf.chainPem }, (sock) => sock.end('hello\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as any).port;
    try {
      s.write('tls-root.pem', root.certificatePem!);
      const r = await s.opensslAsync(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'svc.example.test', '-verify_return_error', '-verify_hostname', 'svc.example.test', '-CAfile', 'tls-root.pem', '-brief']);
      // (s_client's exit status depends on how the server closes; the verification line is the verdict.)
      expect(r.out).toMatch(/Verification: OK/);
      const bad = await s.opensslAsync(['s_client', '-connect', `127.0.0.1:${port}`, '-verify_return_error', '-verify_hostname', 'other.example.test', '-CAfile', 'tls-root.pem', '-brief']);
      expect(bad.out).not.toMatch(/Verification: OK/);
      expect(bad.out).toMatch(/hostname mismatch/i);
      const got = await new Promise<string>((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'svc.example.test', ca: root.certificatePem! }, () => {});
        let data = '';
        sock.on('data', (d) => (data += d));
        sock.on('end', () => resolve(data));
        sock.on('error', reject);
      });
      expect(got).toBe('hello\n');
    } finally {
      server.close();
    }
  });

  it('ok/mTLS: a client certificate from a client profile is accepted by a server requiring one', async () => {
    const { root, int } = await createRootAndIntermediate(env(), 'mtls');
    const api = env().client();
    await api.POST('/api/v1/profiles', { body: { name: 'mtls-server', authorityId: int.id, allowedDomains: ['localhost'], usage: 'server' } });
    await api.POST('/api/v1/profiles', { body: { name: 'mtls-client', authorityId: int.id, allowedDomains: ['clients.example.test'], allowSubdomains: true, allowedUris: ['spiffe://example.test/'], usage: 'client' } });
    const srv = (await api.POST('/api/v1/certificates', { body: { profile: 'mtls-server', subject: { commonName: 'localhost' }, sans: { dns: ['localhost'] } } })).data!;
    const cli = (await api.POST('/api/v1/certificates', { body: { profile: 'mtls-client', subject: { commonName: 'worker.clients.example.test' }, sans: { dns: ['worker.clients.example.test'], uri: ['spiffe://example.test/worker'] } } })).data!;
    expect(cli.extendedKeyUsages).toEqual(['clientAuth']);
    const server = tls.createServer({ key: srv.privateKeyPem, cert: srv.chainPem, ca: root.certificatePem!, requestCert: true, rejectUnauthorized: true }, (sock) => {
      sock.end(`hi ${(sock as tls.TLSSocket).getPeerCertificate().subject.CN}\n`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as any).port;
    const connect = (opts: tls.ConnectionOptions) =>
      new Promise<string>((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: root.certificatePem!, ...opts });
        let data = '';
        sock.on('data', (d) => (data += d));
        sock.on('end', () => resolve(data));
        sock.on('error', reject);
      });
    try {
      expect(await connect({ key: cli.privateKeyPem, cert: cli.chainPem })).toBe('hi worker.clients.example.test\n');
      // A server certificate (serverAuth only) is refused as a client certificate.
      // (TLS 1.3 refuses client certificates after the handshake: the client sees an alert or a bare close, never the greeting.)
      const refused = (p: Promise<string>) => p.then((d) => `data:${d}`, (e: Error) => `error:${e.message}`);
      expect(await refused(connect({ key: srv.privateKeyPem, cert: srv.chainPem }))).not.toMatch(/^data:hi/);
      // No client certificate at all: refused.
      expect(await refused(connect({}))).not.toMatch(/^data:hi/);
    } finally {
      server.close();
    }
  });

  it('ok/CSRs made by openssl req are signed; SANs come from the CSR when the body has none', async () => {
    const { root, int } = await createRootAndIntermediate(env(), 'csr');
    const api = env().client();
    await api.POST('/api/v1/profiles', { body: { name: 'csr-web', authorityId: int.id, allowedDomains: ['csr.example.test'], allowSubdomains: true, usage: 'server' } });
    for (const [name, keyArgs] of [
      ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
      ['rsa', ['-newkey', 'rsa:3072']],
      ['ed', ['-newkey', 'ed25519']],
    ] as const) {
      s.ok('req', '-new', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=app.csr.example.test', '-addext', 'subjectAltName=DNS:app.csr.example.test,DNS:api.csr.example.test');
      const r = await api.POST('/api/v1/certificates', { body: { profile: 'csr-web', csr: s.read(`${name}.csr`).toString() } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      expect(r.data!.privateKeyPem).toBeUndefined();
      expect(r.data!.sans.dns).toEqual(['app.csr.example.test', 'api.csr.example.test']);
      s.write(`${name}.pem`, r.data!.certificatePem);
      s.write('csr-root.pem', root.certificatePem!);
      s.write('csr-int.pem', int.certificatePem!);
      expect(s.openssl('verify', '-CAfile', 'csr-root.pem', '-untrusted', 'csr-int.pem', `${name}.pem`).code).toBe(0);
      expect(s.ok('x509', '-in', `${name}.pem`, '-noout', '-pubkey')).toBe(s.ok('pkey', '-in', `${name}.key`, '-pubout'));
    }
    // base64 DER works too.
    const derB64 = s.ok('req', '-in', 'ec.csr', '-outform', 'DER').length ? Buffer.from(s.openssl('base64', '-A', '-in', 'ec.csr').out).toString() : '';
    expect(derB64.length).toBeGreaterThan(0);
  });

  it('error/bad CSRs: flipped signature, outside the profile, weak RSA, garbage -> 4xx with a clear message', async () => {
    const { int } = await createRootAndIntermediate(env(), 'badcsr');
    const api = env().client();
    await api.POST('/api/v1/profiles', { body: { name: 'bad-web', authorityId: int.id, allowedDomains: ['ok.example.test'], usage: 'server' } });
    s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'b.key', '-out', 'b.csr', '-outform', 'DER', '-subj', '/CN=ok.example.test', '-addext', 'subjectAltName=DNS:ok.example.test');
    const good = s.read('b.csr');
    const flipped = Buffer.from(good);
    flipped[flipped.length - 5] ^= 0x01;
    const cases: Array<[string, string, number, RegExp]> = [
      ['flipped signature', flipped.toString('base64'), 400, /signature does not verify/],
      ['garbage', 'this is not a csr at all!', 400, /neither PEM nor base64|not a parseable/],
      ['random base64', Buffer.from('hello world, definitely not DER').toString('base64'), 400, /not a parseable/],
      ['wrong PEM label', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 400, /not a CERTIFICATE REQUEST/],
    ];
    for (const [name, csr, status, re] of cases) {
      const r = await api.POST('/api/v1/certificates', { body: { profile: 'bad-web', csr } });
      expect(r.response.status, name).toBe(status);
      expect(r.error!.detail, name).toMatch(re);
    }
    s.ok('req', '-new', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'w.key', '-out', 'w.csr', '-subj', '/CN=ok.example.test');
    const weak = await api.POST('/api/v1/certificates', { body: { profile: 'bad-web', csr: s.read('w.csr').toString(), sans: { dns: ['ok.example.test'] } } });
    expect(weak.response.status).toBe(400);
    expect(weak.error!.code).toBe('weak_key');
    expect(weak.error!.detail).toMatch(/RSA 1024-bit is too weak/);
    s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'o.key', '-out', 'o.csr', '-subj', '/CN=evil.example.org', '-addext', 'subjectAltName=DNS:evil.example.org,DNS:ok.example.test');
    const outside = await api.POST('/api/v1/certificates', { body: { profile: 'bad-web', csr: s.read('o.csr').toString() } });
    expect(outside.response.status).toBe(400);
    expect(outside.error!.code).toBe('policy_violation');
    expect(outside.error!.errors!.map((e) => e.field)).toEqual(['/body/sans/dns/0']);
    expect(outside.error!.errors![0].message).toMatch(/"evil\.example\.org" is outside/);
  });

  it('ok/name constraints: issuance outside the subtree is refused, and openssl rejects such a leaf anyway', async () => {
    const api = env().client();
    const root = (await api.POST('/api/v1/authorities', { body: { name: 'nc-root', kind: 'root', subject: { commonName: 'NC Root' } } })).data!;
    const int = await api.POST('/api/v1/authorities', { body: { name: 'nc-int', kind: 'intermediate', parentId: root.id, subject: { commonName: 'NC Issuing' }, nameConstraints: { permittedDns: ['inside.test'], permittedIp: ['10.0.0.0/8'] } } });
    expect(int.response.status, JSON.stringify(int.error)).toBe(201);
    s.write('nc-int.pem', int.data!.certificatePem!);
    expect(s.ok('x509', '-in', 'nc-int.pem', '-noout', '-text')).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:inside.test\s+IP:10.0.0.0\/255.0.0.0/);
    // A profile broader than the CA: the CA's constraints still bind.
    await api.POST('/api/v1/profiles', { body: { name: 'nc-web', authorityId: int.data!.id, allowedDomains: ['inside.test', 'outside.test'], allowSubdomains: true, usage: 'server' } });
    const ok = await api.POST('/api/v1/certificates', { body: { profile: 'nc-web', subject: { commonName: 'a.inside.test' }, sans: { dns: ['a.inside.test'] } } });
    expect(ok.response.status).toBe(201);
    const refused = await api.POST('/api/v1/certificates', { body: { profile: 'nc-web', subject: { commonName: 'a.outside.test' }, sans: { dns: ['a.outside.test'] } } });
    expect(refused.response.status).toBe(400);
    expect(refused.error!.code).toBe('name_constraint_violation');
    // A child CA cannot widen its parent's constraints.
    const wider = await api.POST('/api/v1/authorities', { body: { name: 'nc-sub', kind: 'intermediate', parentId: int.data!.id, subject: { commonName: 'NC Sub' }, nameConstraints: { permittedDns: ['outside.test'] } } });
    expect(wider.response.status).toBe(400);
    // openssl would reject an out-of-subtree leaf: build one with openssl signed by a CA carrying the same constraint.
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ncca.key', '-out', 'ncca.pem', '-subj', '/CN=NC CA', '-days', '10', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'nameConstraints=critical,permitted;DNS:inside.test');
    s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ncl.key', '-out', 'ncl.csr', '-subj', '/CN=a.outside.test');
    s.write('ncl.ext', 'subjectAltName=DNS:a.outside.test\n');
    s.ok('x509', '-req', '-in', 'ncl.csr', '-CA', 'ncca.pem', '-CAkey', 'ncca.key', '-CAcreateserial', '-out', 'ncl.pem', '-days', '5', '-extfile', 'ncl.ext');
    const v = s.openssl('verify', '-CAfile', 'ncca.pem', 'ncl.pem');
    expect(v.code).not.toBe(0);
    expect(v.out).toMatch(/name constraint|subtree violation/i);
  });
  describe('issued names pass the web-PKI verifier (CA/Browser Forum 7.1.4.3 and 3.2.2.6)', () => {
    const verify = (pem: string, rootPem: string, hostname: string) =>
      env().client().POST('/api/v1/verify/chain', { body: { certificates: pem, trust: ['supplied'], trustAnchors: rootPem, hostname, mode: 'webpki' } });

    it('ok/a CN differing from its SAN in form is issued as the SAN; a host CN outside the SANs joins them; both verify', async () => {
      const { root, int } = await createRootAndIntermediate(env(), 'cn-san');
      const chainOf = (leafPem: string) => leafPem + int.certificatePem!;
      const api = env().client();
      expect((await api.POST('/api/v1/profiles', { body: { name: 'cn-strict', authorityId: int.id, allowedDomains: ['example.test'], allowSubdomains: true, allowedIpRanges: ['2001:db8::/32'], usage: 'server' } })).response.status).toBe(201);
      expect((await api.POST('/api/v1/profiles', { body: { name: 'cn-loose', authorityId: int.id, allowedDomains: ['example.test'], allowSubdomains: true, usage: 'server', requireCommonNameInSans: false } })).response.status).toBe(201);
      const cases = [
        { name: 'case and trailing dot', profile: 'cn-strict', cn: 'API.Example.test.', sans: { dns: ['api.example.test'] }, issuedCn: 'api.example.test', dns: ['api.example.test'], host: 'api.example.test' },
        { name: 'IPv6 text', profile: 'cn-strict', cn: '2001:DB8:0:0:0:0:0:7', sans: { ip: ['2001:db8::7'] }, issuedCn: '2001:db8::7', dns: [], host: '2001:db8::7' },
        { name: 'CN outside the SANs', profile: 'cn-loose', cn: 'cn-only.example.test', sans: { dns: ['www.example.test'] }, issuedCn: 'cn-only.example.test', dns: ['www.example.test', 'cn-only.example.test'], host: 'www.example.test' },
      ];
      for (const c of cases) {
        const r = await api.POST('/api/v1/certificates', { body: { profile: c.profile, subject: { commonName: c.cn }, sans: c.sans } });
        expect(r.response.status, `${c.name}: ${JSON.stringify(r.error)}`).toBe(201);
        expect(r.data!.subject.commonName, c.name).toBe(c.issuedCn);
        expect(r.data!.sans.dns, c.name).toEqual(c.dns);
        const v = await verify(chainOf(r.data!.certificatePem), root.certificatePem!, c.host);
        expect(v.data!.valid, `${c.name}: ${JSON.stringify(v.data!.errors)}`).toBe(true);
        expect(v.data!.warnings.map((w) => w.code), c.name).not.toContain('commonNameNotInSan');
      }
    });

    it('error/a wildcard directly under a public suffix is refused: at issuance (400 policy_violation) and in a profile that could issue nothing else', async () => {
      const { int } = await createRootAndIntermediate(env(), 'psl');
      const api = env().client();
      const onlySuffix = await api.POST('/api/v1/profiles', { body: { name: 'psl-only', authorityId: int.id, allowedDomains: ['co.uk'], allowWildcards: true, usage: 'server' } });
      expect(onlySuffix.response.status).toBe(400);
      expect(onlySuffix.error!.errors!.map((e) => e.field)).toEqual(['/body/allowedDomains/0']);
      expect((await api.POST('/api/v1/profiles', { body: { name: 'psl-sub', authorityId: int.id, allowedDomains: ['co.uk'], allowSubdomains: true, allowWildcards: true, usage: 'server' } })).response.status).toBe(201);
      const refused = await api.POST('/api/v1/certificates', { body: { profile: 'psl-sub', subject: { commonName: '*.co.uk' }, sans: { dns: ['*.co.uk'] } } });
      expect(refused.response.status).toBe(400);
      expect(refused.error!.code).toBe('policy_violation');
      expect(refused.error!.errors!.map((e) => e.field)).toEqual(['/body/sans/dns/0']);
      expect(refused.error!.errors![0].message).toMatch(/public suffix "co\.uk"/);
      const ok = await api.POST('/api/v1/certificates', { body: { profile: 'psl-sub', subject: { commonName: '*.example.co.uk' }, sans: { dns: ['*.example.co.uk'] } } });
      expect(ok.response.status, JSON.stringify(ok.error)).toBe(201);
    });
  });
});
