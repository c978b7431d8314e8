/**
 * Authorities end to end (issue 3), openssl as the external party on both dialects:
 * name constraints and path lengths, importing CAs made by openssl (every key format),
 * trust anchors, the offline-root flow (CSR out, signed certificate in), disable/enable,
 * chains, no CA private key at rest, and RSA key generation off the event loop.
 */
import { createPrivateKey, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { forEachDialect, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import * as pki from '../../src/pki/x509.js';

/** Key generation, observed: markers around every generateKeyPair call the service makes. */
const timeline = vi.hoisted(() => [] as string[]);
vi.mock('../../src/pki/x509.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/pki/x509.js')>();
  return {
    ...orig,
    async generateKeyPair(alg: Parameters<typeof orig.generateKeyPair>[0]) {
      timeline.push(`keygen-start:${alg}`);
      try {
        return await orig.generateKeyPair(alg);
      } finally {
        timeline.push(`keygen-end:${alg}`);
      }
    },
  };
});

const CA_EXT = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];

/** The PEM certificates of a bundle, in order. */
const pems = (bundle: string): string[] => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
const fingerprint = (pem: string) => createHash('sha256').update(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex');

forEachDialect('authorities end to end', (env) => {
  const s = new Scratch();
  afterAll(() => s.cleanup());
  /** DER encodings (PKCS#8 and traditional) of every CA key the test handed to the service. */
  const importedKeyDers: Array<{ name: string; der: Buffer }> = [];

  async function profileAndLeaf(e: TestEnv, authorityId: string, name: string, dns = `${name}.example.test`) {
    const api = e.client();
    const prof = await api.POST('/api/v1/profiles', { body: { name, authorityId, allowedDomains: [dns], usage: 'server' } });
    expect(prof.response.status, JSON.stringify(prof.error)).toBe(201);
    return api.POST('/api/v1/certificates', { body: { profile: name, subject: { commonName: dns }, sans: { dns: [dns] }, validityDays: 10 } });
  }

  it('ok/name constraints and path length: a child that does not fit is refused with every problem; one that fits carries them', async () => {
    const api = env().client();
    const root = await api.POST('/api/v1/authorities', {
      body: {
        name: 'nc-root',
        kind: 'root',
        subject: { commonName: 'Constrained Root', organization: 'Certa Tests' },
        pathLength: 1,
        nameConstraints: { permittedDns: ['example.test'], excludedDns: ['secret.example.test'], permittedIp: ['10.0.0.0/8'], permittedEmail: ['.example.test'] },
      },
    });
    expect(root.response.status, JSON.stringify(root.error)).toBe(201);
    expect(root.data!.pathLength).toBe(1);
    s.write('nc-root.pem', root.data!.certificatePem!);
    const rootText = s.ok('x509', '-in', 'nc-root.pem', '-noout', '-text');
    expect(rootText).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(rootText).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:example.test\s+IP:10.0.0.0\/255.0.0.0\s+email:.example.test\s+Excluded:\s+DNS:secret.example.test/);

    // Too deep and too wide: every problem listed.
    const bad = await api.POST('/api/v1/authorities', {
      body: { name: 'nc-bad', kind: 'intermediate', parentId: 'nc-root', subject: { commonName: 'Too Wide' }, pathLength: 1, nameConstraints: { permittedDns: ['other.test', 'api.secret.example.test'], permittedIp: ['192.168.0.0/16'] } },
    });
    expect(bad.response.status).toBe(400);
    const fields = bad.error!.errors!.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['/body/pathLength', '/body/nameConstraints/permittedDns/0', '/body/nameConstraints/permittedDns/1', '/body/nameConstraints/permittedIp/0', '/body/nameConstraints/permittedEmail']));
    expect(bad.error!.errors!.find((e) => e.field === '/body/pathLength')!.message).toMatch(/at most 0/);
    expect(bad.error!.errors!.find((e) => e.field === '/body/nameConstraints/permittedDns/1')!.message).toMatch(/excluded by the parent/);
    expect(bad.error!.detail).toMatch(/does not fit inside the parent "nc-root"/);

    // A leading period is the URI/mailbox form, malformed on a dNSName (verifiers refuse the chain).
    const dotted = await api.POST('/api/v1/authorities', {
      body: { name: 'nc-dotted', kind: 'intermediate', parentId: 'nc-root', subject: { commonName: 'Dotted' }, pathLength: 0, nameConstraints: { permittedDns: ['.api.example.test'] } },
    });
    expect(dotted.response.status).toBe(400);
    expect(dotted.error!.errors).toEqual([{ field: '/body/nameConstraints/permittedDns/0', message: expect.stringContaining('write "api.example.test"') }]);

    // An authority stored before the period was refused is named at startup, with the fix.
    const { legacyDnsConstraintWarnings } = await import('../../src/authority/authorities.usecases.js');
    const svc = env().app.services;
    expect(await legacyDnsConstraintWarnings(svc)).toEqual([]);
    const rootRow = await svc.db.selectFrom('authorities').select(['id', 'name_constraints']).where('name', '=', 'nc-root').executeTakeFirstOrThrow();
    await svc.db.updateTable('authorities').set({ name_constraints: JSON.stringify({ permittedDns: ['.legacy.test'] }) }).where('id', '=', rootRow.id).execute();
    try {
      expect(await legacyDnsConstraintWarnings(svc)).toEqual([expect.stringMatching(/authority "nc-root" .*\(\.legacy\.test\).*constrained to "legacy\.test"/)]);
    } finally {
      await svc.db.updateTable('authorities').set({ name_constraints: rootRow.name_constraints }).where('id', '=', rootRow.id).execute();
    }

    // One that fits.
    const good = await api.POST('/api/v1/authorities', {
      body: { name: 'nc-good', kind: 'intermediate', parentId: 'nc-root', subject: { commonName: 'Fits' }, pathLength: 0, nameConstraints: { permittedDns: ['api.example.test'], permittedIp: ['10.1.0.0/16'], permittedEmail: ['.example.test'] } },
    });
    expect(good.response.status, JSON.stringify(good.error)).toBe(201);
    s.write('nc-good.pem', good.data!.certificatePem!);
    const text = s.ok('x509', '-in', 'nc-good.pem', '-noout', '-text');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:api.example.test\s+IP:10.1.0.0\/255.255.0.0\s+email:.example.test/);
    expect(s.openssl('verify', '-CAfile', 'nc-root.pem', 'nc-good.pem').code).toBe(0);

    // Its pathLen 0 leaves no room below it.
    const deeper = await api.POST('/api/v1/authorities', { body: { name: 'nc-deeper', kind: 'intermediate', parentId: 'nc-good', subject: { commonName: 'Deeper' } } });
    expect(deeper.response.status).toBe(400);
    expect(deeper.error!.errors!.map((e) => e.field)).toEqual(['/body/parentId']);
    expect(deeper.error!.errors![0].message).toMatch(/allows no further intermediate/);

    // A leaf inside the subtree is accepted by openssl, which enforces the constraints itself.
    const leaf = await profileAndLeaf(env(), good.data!.id, 'nc-leaf', 'www.api.example.test');
    expect(leaf.response.status, JSON.stringify(leaf.error)).toBe(201);
    s.write('nc-leaf.pem', leaf.data!.certificatePem);
    const v = s.openssl('verify', '-x509_strict', '-CAfile', 'nc-root.pem', '-untrusted', 'nc-good.pem', 'nc-leaf.pem');
    expect(v.out).toContain(': OK');
  });

  for (const [format, alg] of [
    ['pkcs8', 'ec'],
    ['encrypted-pkcs8', 'ec'],
    ['sec1', 'ec'],
    ['pkcs1', 'rsa'],
  ] as const) {
    it(`ok/import a CA made by openssl with its key as ${format}; issue from it; openssl verify passes`, async () => {
      const n = `imp-${format}`;
      const newkey = alg === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
      s.ok('req', '-x509', ...newkey, '-noenc', '-keyout', `${n}.key`, '-out', `${n}.pem`, '-subj', `/O=Elsewhere/CN=Imported ${format}`, '-days', '365', ...CA_EXT);
      let keyPem = s.read(`${n}.key`).toString();
      expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      let passphrase: string | undefined;
      if (format === 'encrypted-pkcs8') {
        passphrase = 'correct horse battery staple';
        s.ok('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', `${n}.key`, '-out', `${n}.enc.key`, '-passout', `pass:${passphrase}`);
        keyPem = s.read(`${n}.enc.key`).toString();
        expect(keyPem).toMatch(/BEGIN ENCRYPTED PRIVATE KEY/);
      } else if (format === 'sec1') {
        s.ok('ec', '-in', `${n}.key`, '-out', `${n}.sec1.key`);
        keyPem = s.read(`${n}.sec1.key`).toString();
        expect(keyPem).toMatch(/BEGIN EC PRIVATE KEY/);
      } else if (format === 'pkcs1') {
        s.ok('rsa', '-in', `${n}.key`, '-traditional', '-out', `${n}.pkcs1.key`);
        keyPem = s.read(`${n}.pkcs1.key`).toString();
        expect(keyPem).toMatch(/BEGIN RSA PRIVATE KEY/);
      }
      const k = createPrivateKey(s.read(`${n}.key`));
      importedKeyDers.push({ name: `${n} pkcs8`, der: k.export({ format: 'der', type: 'pkcs8' }) as Buffer });
      importedKeyDers.push({ name: `${n} traditional`, der: k.export({ format: 'der', type: alg === 'ec' ? 'sec1' : 'pkcs1' }) as Buffer });

      const api = env().client();
      const caPem = s.read(`${n}.pem`).toString();
      const imp = await api.POST('/api/v1/authorities', { body: { name: n, kind: 'import', certificatePem: caPem, privateKeyPem: keyPem, ...(passphrase ? { passphrase } : {}) } });
      expect(imp.response.status, JSON.stringify(imp.error)).toBe(201);
      expect(imp.data!.canIssue).toBe(true);
      expect(imp.data!.status).toBe('active');
      expect(imp.data!.subject).toMatchObject({ commonName: `Imported ${format}`, organization: 'Elsewhere' });
      expect(imp.data!.keyAlgorithm).toBe(alg === 'ec' ? 'ecdsa-p256' : 'rsa-2048');
      expect(fingerprint(imp.data!.certificatePem!)).toBe(fingerprint(caPem));
      expect(JSON.stringify(imp.data)).not.toMatch(/PRIVATE KEY/);

      const leaf = await profileAndLeaf(env(), imp.data!.id, n);
      expect(leaf.response.status, JSON.stringify(leaf.error)).toBe(201);
      s.write(`${n}-leaf.pem`, leaf.data!.certificatePem);
      const v = s.openssl('verify', '-x509_strict', '-CAfile', `${n}.pem`, '-purpose', 'sslserver', `${n}-leaf.pem`);
      expect(v.out).toContain(': OK');
      expect(v.code).toBe(0);
    });
  }

  it('error/import: wrong or missing passphrase, key of another certificate, garbage -> 400 with a reason', async () => {
    const api = env().client();
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', 'bad-a.key', '-out', 'bad-a.pem', '-subj', '/CN=Bad Import A', '-days', '30', ...CA_EXT);
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', 'bad-b.key', '-out', 'bad-b.pem', '-subj', '/CN=Bad Import B', '-days', '30', ...CA_EXT);
    s.ok('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'bad-a.key', '-out', 'bad-a.enc.key', '-passout', 'pass:right-one');
    const cert = s.read('bad-a.pem').toString();
    const cases: Array<[string, Record<string, string>, RegExp, string]> = [
      ['wrong passphrase', { privateKeyPem: s.read('bad-a.enc.key').toString(), passphrase: 'wrong-one' }, /passphrase does not decrypt/, '/body/passphrase'],
      ['no passphrase', { privateKeyPem: s.read('bad-a.enc.key').toString() }, /encrypted: give its passphrase/, '/body/passphrase'],
      ['key of another CA', { privateKeyPem: s.read('bad-b.key').toString() }, /does not match the certificate/, '/body/privateKeyPem'],
      ['garbage key', { privateKeyPem: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' }, /not a readable PEM private key/, ''],
      ['not PEM at all', { privateKeyPem: 'hello' }, /not a readable PEM private key/, ''],
    ];
    for (const [what, body, detail, field] of cases) {
      const r = await api.POST('/api/v1/authorities', { body: { name: `bad-${what.replace(/ /g, '-')}`, kind: 'import', certificatePem: cert, ...body } });
      expect(r.response.status, what).toBe(400);
      expect(r.error!.detail, what).toMatch(detail);
      if (field) expect(r.error!.errors!.map((e) => e.field), what).toContain(field);
    }
    const garbageCert = await api.POST('/api/v1/authorities', { body: { name: 'bad-cert', kind: 'import', certificatePem: '-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n' } });
    expect(garbageCert.response.status).toBe(400);
    const noPem = await api.POST('/api/v1/authorities', { body: { name: 'bad-cert2', kind: 'import', certificatePem: 'not a certificate' } });
    expect(noPem.response.status).toBe(400);
    // A leaf (CA:FALSE) is not a CA.
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', 'bad-leaf.key', '-out', 'bad-leaf.pem', '-subj', '/CN=Leaf', '-days', '30', '-addext', 'basicConstraints=critical,CA:FALSE');
    const leaf = await api.POST('/api/v1/authorities', { body: { name: 'bad-leaf', kind: 'import', certificatePem: s.read('bad-leaf.pem').toString() } });
    expect(leaf.response.status).toBe(400);
    expect(leaf.error!.detail).toMatch(/not a CA certificate/);
    // Nothing was created by the failures.
    const list = await api.GET('/api/v1/authorities', { params: { query: { kind: 'import', limit: 200 } } });
    expect(list.data!.items.filter((a) => a.name.startsWith('bad-'))).toEqual([]);
  });

  it('ok/a certificate without its key is a trust anchor: canIssue false, nothing can be issued under it', async () => {
    const api = env().client();
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-noenc', '-keyout', 'anchor.key', '-out', 'anchor.pem', '-subj', '/CN=Partner Root', '-days', '30', ...CA_EXT);
    const a = await api.POST('/api/v1/authorities', { body: { name: 'anchor', kind: 'import', certificatePem: s.read('anchor.pem').toString() } });
    expect(a.response.status, JSON.stringify(a.error)).toBe(201);
    expect(a.data!.canIssue).toBe(false);
    expect(a.data!.status).toBe('active');
    expect(a.data!.keyAlgorithm).toBe('ecdsa-p384');
    const prof = await api.POST('/api/v1/profiles', { body: { name: 'anchor-web', authorityId: a.data!.id, allowedDomains: ['x.example.test'], usage: 'server' } });
    expect(prof.response.status).toBe(400);
    expect(prof.error!.detail).toMatch(/trust anchor without a key; it cannot issue/);
    const sub = await api.POST('/api/v1/authorities', { body: { name: 'anchor-sub', kind: 'intermediate', parentId: 'anchor', subject: { commonName: 'Under Anchor' } } });
    expect(sub.response.status).toBe(409);
    expect(sub.error!.detail).toMatch(/trust anchor without a private key/);
    const chain = await api.GET('/api/v1/authorities/{authorityId}/chain', { params: { path: { authorityId: 'anchor' } }, parseAs: 'text' });
    expect(fingerprint(chain.data!)).toBe(fingerprint(s.read('anchor.pem').toString()));
  });

  it('error/import: a chain that does not chain, or a CA that may not sign certificates -> 400 naming each problem; a real chain imports', async () => {
    const api = env().client();
    const v3 = (name: string, body: string) => s.write(name, body);
    v3('chk-ca.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    v3('chk-nosign.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\n');
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', 'chk-root.key', '-out', 'chk-root.pem', '-subj', '/CN=Chain Check Root', '-days', '365', ...CA_EXT);
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', 'chk-other.key', '-out', 'chk-other.pem', '-subj', '/CN=Unrelated Root', '-days', '365', ...CA_EXT);
    for (const [name, signer, ext] of [['chk-int1', 'chk-root', 'chk-ca.ext'], ['chk-int2', 'chk-int1', 'chk-ca.ext'], ['chk-nosign', 'chk-root', 'chk-nosign.ext']] as const) {
      s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      s.ok('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-days', '200', '-extfile', ext, '-out', `${name}.pem`);
    }
    const pem = (...names: string[]) => names.map((n) => s.read(`${n}.pem`).toString()).join('');
    const importing = (name: string, certificatePem: string, privateKeyPem?: string) =>
      api.POST('/api/v1/authorities', { body: { name, kind: 'import', certificatePem, ...(privateKeyPem ? { privateKeyPem } : {}) } });

    const unrelated = await importing('chk-bad-1', pem('chk-int1', 'chk-other'));
    expect(unrelated.response.status).toBe(400);
    expect(unrelated.error!.errors!.map((e) => e.message).join('\n')).toMatch(/issued by "CN=Chain Check Root", but the next certificate is "CN=Unrelated Root"/);
    const gap = await importing('chk-bad-2', pem('chk-int2', 'chk-root'));
    expect(gap.response.status).toBe(400);
    expect(gap.error!.errors!.map((e) => e.message).join('\n')).toMatch(/out of order or incomplete/);
    const reversed = await importing('chk-bad-3', pem('chk-root', 'chk-int1'));
    expect(reversed.response.status).toBe(400);
    const noSign = await importing('chk-bad-4', pem('chk-nosign', 'chk-root'), s.read('chk-nosign.key').toString());
    expect(noSign.response.status).toBe(400);
    expect(noSign.error!.errors!.map((e) => e.message)).toContain('its key usage does not include keyCertSign: it cannot sign certificates');
    const none = await api.GET('/api/v1/authorities', { params: { query: { kind: 'import', limit: 200 } } });
    expect(none.data!.items.filter((a) => a.name.startsWith('chk-bad-'))).toEqual([]);

    const good = await importing('chk-good', pem('chk-int2', 'chk-int1', 'chk-root'), s.read('chk-int2.key').toString());
    expect(good.response.status, JSON.stringify(good.error)).toBe(201);
    expect(pems(good.data!.chainPem!).map(fingerprint)).toEqual(['chk-int2', 'chk-int1', 'chk-root'].map((n) => fingerprint(pem(n))));
    s.write('chk-good-chain.pem', good.data!.chainPem!);
    const v = s.openssl('verify', '-CAfile', 'chk-root.pem', '-untrusted', 'chk-int1.pem', 'chk-int2.pem');
    expect(v.out).toContain(': OK');
  });

  it('ok/offline root: CSR out, certificate signed by an openssl root in; wrong key refused; leaf verifies through it', async () => {
    const api = env().client();
    const ext = await api.POST('/api/v1/authorities', { body: { name: 'offline-issuing', kind: 'external', subject: { commonName: 'Offline Issuing CA', organization: 'Certa Tests' }, keyAlgorithm: 'ecdsa-p384' } });
    expect(ext.response.status, JSON.stringify(ext.error)).toBe(201);
    expect(ext.data!.status).toBe('pending');
    expect(ext.data!.canIssue).toBe(false);
    expect(ext.data!.certificatePem).toBeNull();
    expect(ext.data!.csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const csr = await api.GET('/api/v1/authorities/{authorityId}/csr', { params: { path: { authorityId: 'offline-issuing' } }, parseAs: 'text' });
    expect(csr.response.status).toBe(200);
    expect(csr.response.headers.get('content-type')).toMatch(/application\/pkcs10/);
    expect(csr.data).toBe(ext.data!.csrPem);
    s.write('offline.csr', csr.data!);
    const rv = s.openssl('req', '-in', 'offline.csr', '-verify', '-noout', '-subject');
    expect(rv.code, rv.out).toBe(0);
    expect(rv.out).toMatch(/verify OK|Certificate request self-signature verify OK/);
    expect(rv.out).toMatch(/O\s*=\s*Certa Tests, CN\s*=\s*Offline Issuing CA/);

    // Pending: no issuance, no chain, no enable/disable.
    const early = await profileAndLeaf(env(), ext.data!.id, 'offline-web');
    expect(early.response.status).toBe(409);
    expect(early.error!.detail).toMatch(/waiting for its certificate/);
    expect((await api.GET('/api/v1/authorities/{authorityId}/chain', { params: { path: { authorityId: 'offline-issuing' } }, parseAs: 'text' })).response.status).toBe(409);
    expect((await api.PATCH('/api/v1/authorities/{authorityId}', { params: { path: { authorityId: 'offline-issuing' } }, body: { disabled: false } })).response.status).toBe(409);

    // The offline root (openssl) signs the CSR.
    s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-noenc', '-keyout', 'offline-root.key', '-out', 'offline-root.pem', '-subj', '/O=Certa Tests/CN=Offline Root', '-days', '3650', ...CA_EXT);
    s.write('sub-ca.ext', 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    s.ok('x509', '-req', '-in', 'offline.csr', '-CA', 'offline-root.pem', '-CAkey', 'offline-root.key', '-CAcreateserial', '-days', '365', '-extfile', 'sub-ca.ext', '-out', 'activated.pem');
    // The same subject, signed the same way, but for a key that is not the authority's.
    s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-noenc', '-keyout', 'impostor.key', '-out', 'impostor.csr', '-subj', '/O=Certa Tests/CN=Offline Issuing CA');
    s.ok('x509', '-req', '-in', 'impostor.csr', '-CA', 'offline-root.pem', '-CAkey', 'offline-root.key', '-CAcreateserial', '-days', '365', '-extfile', 'sub-ca.ext', '-out', 'impostor.pem');
    const wrong = await api.POST('/api/v1/authorities/{authorityId}/activate', { params: { path: { authorityId: 'offline-issuing' } }, body: { certificatePem: s.read('impostor.pem').toString() } });
    expect(wrong.response.status).toBe(400);
    expect(wrong.error!.errors!.map((e) => e.message)).toContain("the certificate's public key is not this authority's key");
    // A chain whose next certificate did not sign it is refused too.
    const badChain = await api.POST('/api/v1/authorities/{authorityId}/activate', { params: { path: { authorityId: 'offline-issuing' } }, body: { certificatePem: s.read('activated.pem').toString(), chainPem: s.read('anchor.pem').toString() } });
    expect(badChain.response.status).toBe(400);
    expect(badChain.error!.errors!.map((e) => e.field)).toContain('/body/chainPem');
    expect((await api.GET('/api/v1/authorities/{authorityId}', { params: { path: { authorityId: 'offline-issuing' } } })).data!.status).toBe('pending');

    // A certificate for the right key that has already expired is refused (it could never issue).
    const day = 86_400_000;
    const expired = await pki.buildCertificate({
      subject: { commonName: 'Offline Issuing CA', organization: 'Certa Tests' },
      publicKey: pki.parseCsr(csr.data!).publicKey,
      issuer: { certificateDer: pki.pemDecodeAll(s.read('offline-root.pem').toString(), 'CERTIFICATE')[0], privateKey: createPrivateKey(s.read('offline-root.key')) },
      notBefore: new Date(Date.now() - 30 * day),
      notAfter: new Date(Date.now() - day),
      ca: { pathLength: 0, nameConstraints: null },
    });
    const late = await api.POST('/api/v1/authorities/{authorityId}/activate', { params: { path: { authorityId: 'offline-issuing' } }, body: { certificatePem: pki.pemEncode(expired.der, 'CERTIFICATE'), chainPem: s.read('offline-root.pem').toString() } });
    expect(late.response.status).toBe(400);
    expect(late.error!.errors!.map((e) => e.message).join('\n')).toMatch(/the certificate expired at/);

    const ok = await api.POST('/api/v1/authorities/{authorityId}/activate', { params: { path: { authorityId: 'offline-issuing' } }, body: { certificatePem: s.read('activated.pem').toString(), chainPem: s.read('offline-root.pem').toString() } });
    expect(ok.response.status, JSON.stringify(ok.error)).toBe(200);
    expect(ok.data!.status).toBe('active');
    expect(ok.data!.canIssue).toBe(true);
    expect(ok.data!.pathLength).toBe(0);
    expect(fingerprint(ok.data!.certificatePem!)).toBe(fingerprint(s.read('activated.pem').toString()));
    const again = await api.POST('/api/v1/authorities/{authorityId}/activate', { params: { path: { authorityId: 'offline-issuing' } }, body: { certificatePem: s.read('activated.pem').toString() } });
    expect(again.response.status).toBe(409);

    const leaf = await api.POST('/api/v1/certificates', { body: { profile: 'offline-web', subject: { commonName: 'offline-web.example.test' }, sans: { dns: ['offline-web.example.test'] } } });
    expect(leaf.response.status, JSON.stringify(leaf.error)).toBe(201);
    s.write('offline-leaf.pem', leaf.data!.certificatePem);
    const v = s.openssl('verify', '-x509_strict', '-CAfile', 'offline-root.pem', '-untrusted', 'activated.pem', '-purpose', 'sslserver', 'offline-leaf.pem');
    expect(v.out).toContain(': OK');
    expect(v.code).toBe(0);

    // The chain: the authority, then the offline root.
    const chain = await api.GET('/api/v1/authorities/{authorityId}/chain', { params: { path: { authorityId: 'offline-issuing' } }, parseAs: 'text' });
    expect(chain.response.status).toBe(200);
    expect(chain.response.headers.get('content-type')).toMatch(/application\/x-pem-file/);
    expect(pems(chain.data!).map(fingerprint)).toEqual([fingerprint(s.read('activated.pem').toString()), fingerprint(s.read('offline-root.pem').toString())]);
    // The leaf's own chain ends with the same bundle.
    expect(pems(leaf.data!.chainPem).map(fingerprint)).toEqual([fingerprint(leaf.data!.certificatePem), ...pems(chain.data!).map(fingerprint)]);
  });

  it('ok/disable refuses issuance with a clear reason, enable restores it; the chain bundle is leaf-to-root and openssl accepts it', async () => {
    const api = env().client();
    const root = await api.POST('/api/v1/authorities', { body: { name: 'de-root', kind: 'root', subject: { commonName: 'DE Root' } } });
    const int = await api.POST('/api/v1/authorities', { body: { name: 'de-int', kind: 'intermediate', parentId: root.data!.id, subject: { commonName: 'DE Issuing' }, keyAlgorithm: 'ed25519' } });
    expect(int.response.status, JSON.stringify(int.error)).toBe(201);
    const sub = await api.POST('/api/v1/authorities', { body: { name: 'de-sub', kind: 'intermediate', parentId: int.data!.id, subject: { commonName: 'DE Sub' }, keyAlgorithm: 'rsa-2048' } });
    expect(sub.response.status, JSON.stringify(sub.error)).toBe(201);
    const first = await profileAndLeaf(env(), sub.data!.id, 'de-web');
    expect(first.response.status).toBe(201);

    const off = await api.PATCH('/api/v1/authorities/{authorityId}', { params: { path: { authorityId: 'de-sub' } }, body: { disabled: true } });
    expect(off.response.status).toBe(200);
    expect(off.data!.status).toBe('disabled');
    expect(off.data!.canIssue).toBe(false);
    const refused = await api.POST('/api/v1/certificates', { body: { profile: 'de-web', subject: { commonName: 'de-web.example.test' }, sans: { dns: ['de-web.example.test'] } } });
    expect(refused.response.status).toBe(409);
    expect(refused.error!.code).toBe('authority_unavailable');
    expect(refused.error!.detail).toBe('authority "de-sub" is disabled');
    // A disabled CA signs no sub-CA either.
    const child = await api.POST('/api/v1/authorities', { body: { name: 'de-child', kind: 'intermediate', parentId: 'de-sub', subject: { commonName: 'DE Child' } } });
    expect(child.response.status).toBe(409);

    const on = await api.PATCH('/api/v1/authorities/{authorityId}', { params: { path: { authorityId: 'de-sub' } }, body: { disabled: false } });
    expect(on.data!.status).toBe('active');
    expect(on.data!.canIssue).toBe(true);
    const leaf = await api.POST('/api/v1/certificates', { body: { profile: 'de-web', subject: { commonName: 'de-web.example.test' }, sans: { dns: ['de-web.example.test'] } } });
    expect(leaf.response.status, JSON.stringify(leaf.error)).toBe(201);

    const chain = await api.GET('/api/v1/authorities/{authorityId}/chain', { params: { path: { authorityId: 'de-sub' } }, parseAs: 'text' });
    expect(pems(chain.data!).map(fingerprint)).toEqual([sub.data!, int.data!, root.data!].map((a) => fingerprint(a.certificatePem!)));
    s.write('de-chain.pem', chain.data!);
    s.write('de-root.pem', root.data!.certificatePem!);
    s.write('de-leaf.pem', leaf.data!.certificatePem);
    const v = s.openssl('verify', '-x509_strict', '-CAfile', 'de-root.pem', '-untrusted', 'de-chain.pem', '-purpose', 'sslserver', 'de-leaf.pem');
    expect(v.out).toContain(': OK');
    // Without the bundle the leaf does not verify (the intermediates really come from it).
    expect(s.openssl('verify', '-CAfile', 'de-root.pem', 'de-leaf.pem').code).not.toBe(0);
  });

  it('ok/RSA-4096 key generation does not block the event loop: /healthz answers while the root is being created', async () => {
    const api = env().client();
    timeline.length = 0;
    const creating = api.POST('/api/v1/authorities', { body: { name: 'rsa4096-root', kind: 'root', subject: { commonName: 'Big RSA Root' }, keyAlgorithm: 'rsa-4096' } }).then((r) => {
      timeline.push('created');
      return r;
    });
    // Probe the server, one request after the other, until the creation has answered.
    while (!timeline.includes('created')) {
      const h = await api.GET('/healthz');
      expect(h.response.status).toBe(200);
      timeline.push('healthz');
    }
    const created = await creating;
    expect(created.response.status, JSON.stringify(created.error)).toBe(201);
    expect(created.data!.keyAlgorithm).toBe('rsa-4096');
    expect(timeline.indexOf('healthz')).toBeLessThan(timeline.indexOf('created'));
    // The decisive part: probes were answered WHILE the key was being generated (a blocking
    // generation would let none complete between its start and its end).
    const start = timeline.indexOf('keygen-start:rsa-4096');
    const end = timeline.indexOf('keygen-end:rsa-4096');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    expect(timeline.slice(start, end).filter((e) => e === 'healthz').length, timeline.join(' ')).toBeGreaterThanOrEqual(1);
    s.write('rsa4096.pem', created.data!.certificatePem!);
    expect(s.ok('x509', '-in', 'rsa4096.pem', '-noout', '-text')).toMatch(/Public-Key: \(4096 bit\)/);
  });

  it('ok/no CA private key at rest: no PEM, no PKCS#8 or traditional DER of any CA key in the database', async () => {
    const db = env().app.store.db;
    const rows = await db.selectFrom('authorities').select(['name', 'key_secret_id']).execute();
    const keys = [...importedKeyDers];
    // Every key the service holds (generated here or imported), as the keyring unwraps it.
    for (const r of rows) {
      if (!r.key_secret_id) continue;
      const k = await env().app.services.keyring.load(r.key_secret_id);
      keys.push({ name: `${r.name} pkcs8`, der: k.export({ format: 'der', type: 'pkcs8' }) as Buffer });
    }
    expect(keys.length).toBeGreaterThanOrEqual(15);
    let blob: Buffer;
    if (env().dialect === 'sqlite') {
      const files = ['certa.db', 'certa.db-wal'].map((f) => join(env().dataDir, f)).filter(existsSync);
      expect(files.length).toBeGreaterThan(0);
      blob = Buffer.concat(files.map((f) => readFileSync(f)));
    } else {
      const parts: Buffer[] = [];
      for (const t of ['secrets', 'authorities'] as const) {
        for (const row of await db.selectFrom(t).selectAll().execute()) {
          for (const v of Object.values(row)) parts.push(Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
        }
      }
      blob = Buffer.concat(parts);
    }
    expect(blob.length).toBeGreaterThan(1000);
    expect(blob.includes('PRIVATE KEY')).toBe(false);
    for (const k of keys) {
      expect(blob.includes(k.der), `${k.name} is stored in the clear`).toBe(false);
      // Not base64 either (a PEM body without its armour).
      expect(blob.includes(k.der.toString('base64').slice(0, 60)), `${k.name} is stored as base64`).toBe(false);
    }
  });
});
