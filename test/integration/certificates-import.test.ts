/**
 * Importing certificates issued elsewhere (`importCertificates`) on both dialects, with
 * certificates made by the real openssl (`req -x509` for a CA, `x509 -req` for leaves),
 * expiry notices delivered to a real HTTP receiver, and `openssl ocsp` against the
 * responder. Time is a TestClock moved forward, never slept through.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachDialect, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import { TestClock } from '../helpers/clock.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { DeliveryWorker } from '../../src/notify/delivery.worker.js';

const DAY = 86_400_000;
const clock = new TestClock();

let receiver: Receiver;
const s = new Scratch();
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  s.cleanup();
});

/** A CA made by `openssl req -x509`. */
function makeCa(name: string): void {
  s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3650',
    '-subj', `/O=Elsewhere Inc/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

/** A leaf signed by `ca` with `openssl x509 -req`, valid for `days`; returns its PEM. */
function makeLeaf(name: string, ca: string, days: number, sans = `DNS:${name}`): string {
  s.write(`${name}.ext`, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`);
  s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  s.ok('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', String(days), '-extfile', `${name}.ext`);
  return s.read(`${name}.pem`).toString();
}

/** openssl's own reading of notAfter, as ISO 8601. */
function opensslNotAfter(file: string): string {
  const out = s.ok('x509', '-in', file, '-noout', '-enddate').trim().replace(/^notAfter=/, '');
  return new Date(out).toISOString();
}

makeCa('ext-root');
makeCa('certa-anchor');
makeCa('supplied-root');

/** getCertificate's JSON (the operation also serves PEM/DER, so its data type is a union). */
async function getCert(env: TestEnv, id: string) {
  const r = await env.client().GET('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: id } } });
  expect(r.response.status, JSON.stringify(r.error)).toBe(200);
  return r.data as Exclude<typeof r.data, string | undefined>;
}

forEachDialect(
  'external certificate import',
  (env) => {
    let n = 0;
    /** A fresh leaf name per dialect and call (the inventory refuses duplicates). */
    const fresh = (stem: string) => `${stem}-${env().dialect}-${++n}.example.org`;
    const api = () => env().client();
    const importRaw = (body: unknown) => env().fetch('/api/v1/certificates/import', { method: 'POST', headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('ok/an openssl leaf with its chain imports as external, with the validity and SANs openssl reads', async () => {
      const name = fresh('legacy');
      const pem = makeLeaf(name, 'ext-root', 90, `DNS:${name},DNS:alt.${name},IP:10.0.0.5`);
      const r = await api().POST('/api/v1/certificates/import', {
        body: { pem, chain: s.read('ext-root.pem').toString(), trustAnchors: s.read('ext-root.pem').toString(), labels: { team: 'legacy' }, owner: 'ops@example.org', notes: 'bought in 2024' },
      });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      const outcome = r.data!.results[0];
      expect(outcome).toMatchObject({ index: 0, status: 'imported', commonName: name });
      expect(r.response.headers.get('location')).toBe(`/api/v1/certificates/${outcome.certificateId}`);
      expect(outcome.verification).toMatchObject({ valid: true, errors: [], anchor: 'CN=ext-root,O=Elsewhere Inc' });

      const c = await getCert(env(), outcome.certificateId!);
      expect(c).toMatchObject({ source: 'external', authorityId: null, profileId: null, status: 'active', owner: 'ops@example.org', notes: 'bought in 2024', labels: { team: 'legacy' } });
      expect(c.notAfter).toBe(opensslNotAfter(`${name}.pem`));
      expect(c.sans).toEqual({ dns: [name, `alt.${name}`], ip: ['10.0.0.5'], email: [], uri: [] });
      expect(c.issuerDn).toContain('CN=ext-root');
      expect(c.fingerprintSha256).toBe(s.ok('x509', '-in', `${name}.pem`, '-noout', '-fingerprint', '-sha256').trim().split('=')[1].replace(/:/g, '').toLowerCase());
      expect(c.chainPem).toContain(s.read('ext-root.pem').toString().trim().split('\n')[1]);
      expect(c.verification).toMatchObject({ valid: true, trust: ['internal', 'system', 'supplied'] });
      // What openssl wrote is what is served back.
      s.write(`${name}.back.pem`, c.certificatePem);
      expect(s.ok('x509', '-in', `${name}.back.pem`, '-noout', '-subject')).toContain(name);

      // Listed with source, filterable by it.
      const ext = await api().GET('/api/v1/certificates', { params: { query: { source: 'external', q: name } } });
      expect(ext.data!.items.map((i) => [i.id, i.source, i.verified, i.issuerDn])).toEqual([[c.id, 'external', true, c.issuerDn]]);
      const issued = await api().GET('/api/v1/certificates', { params: { query: { source: 'issued', q: name } } });
      expect(issued.data!.items).toEqual([]);

      // Audited like every write: who imported what.
      const audit = await api().GET('/api/v1/audit-events', { params: { query: { action: 'importCertificates', limit: 100 } } });
      expect(audit.data!.items.find((e) => e.target === c.id)).toMatchObject({ outcome: 'success', status: 201, actor: { email: 'admin@certa.test' } });
    });

    it('error/importing the same certificate twice is 409 naming the existing row', async () => {
      const name = fresh('twice');
      const pem = makeLeaf(name, 'ext-root', 30);
      const first = await api().POST('/api/v1/certificates/import', { body: { pem } });
      expect(first.response.status).toBe(201);
      const again = await importRaw({ pem });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await again.json()) as { detail: string };
      expect(problem.detail).toContain(first.data!.results[0].certificateId!);
    });

    it('error/concurrent imports of one certificate: one row, the other answers are 409 naming it', async () => {
      const pem = makeLeaf(fresh('race'), 'ext-root', 30);
      const answers = await Promise.all([importRaw({ pem }), importRaw({ pem }), importRaw({ pem })]);
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([201, 409, 409]);
      const winner = answers.find((a) => a.status === 201)!;
      const id = ((await winner.json()) as { results: Array<{ certificateId: string }> }).results[0].certificateId;
      for (const a of answers.filter((x) => x.status === 409)) expect(((await a.json()) as { detail: string }).detail).toContain(id);
    });

    it('ok/DER input (base64) imports like PEM', async () => {
      const name = fresh('der');
      makeLeaf(name, 'ext-root', 30);
      s.ok('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
      const r = await api().POST('/api/v1/certificates/import', { body: { der: s.read(`${name}.der`).toString('base64') } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(201);
      expect(r.data!.results[0]).toMatchObject({ status: 'imported', commonName: name });
    });

    it('ok/a bundle of 3 good, 1 garbage and 1 duplicate reports each entry, importing the good ones', async () => {
      const [a, b, c, d] = [fresh('bundle-a'), fresh('bundle-b'), fresh('bundle-c'), fresh('bundle-dup')];
      const dup = makeLeaf(d, 'ext-root', 30);
      const before = await api().POST('/api/v1/certificates/import', { body: { pem: dup } });
      expect(before.response.status).toBe(201);
      const garbage = '-----BEGIN CERTIFICATE-----\nTUlJQm9uZ3VzIGNlcnRpZmljYXRl\n-----END CERTIFICATE-----\n';
      const pem = ['# exported from the old inventory\n', makeLeaf(a, 'ext-root', 30), makeLeaf(b, 'ext-root', 60), garbage, dup, makeLeaf(c, 'ext-root', 90)].join('');
      const r = await api().POST('/api/v1/certificates/import', { body: { pem, labels: { batch: `b-${env().dialect}` } } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(200);
      expect(r.data!).toMatchObject({ imported: 3, duplicates: 1, invalid: 1 });
      expect(r.data!.results.map((o) => [o.index, o.status, o.commonName ?? null])).toEqual([
        [0, 'imported', a],
        [1, 'imported', b],
        [2, 'invalid', null],
        [3, 'duplicate', d],
        [4, 'imported', c],
      ]);
      expect(r.data!.results[2].error).toBeTruthy();
      expect(r.data!.results[3].existingId).toBe(before.data!.results[0].certificateId);
      const listed = await api().GET('/api/v1/certificates', { params: { query: { label: [`batch:b-${env().dialect}`], sort: 'notAfter' } } });
      expect(listed.data!.items.map((i) => i.commonName)).toEqual([a, b, c]);
    });

    it('error/a private key anywhere in the request is refused, and nothing of it is stored or audited', async () => {
      const name = fresh('with-key');
      const pem = makeLeaf(name, 'ext-root', 30);
      const key = s.read(`${name}.key`).toString();
      s.ok('pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-outform', 'DER', '-out', `${name}.key.der`);
      s.ok('pkcs8', '-topk8', '-in', `${name}.key`, '-passout', 'pass:secret-pass', '-out', `${name}.key.enc`);
      s.ok('ec', '-in', `${name}.key`, '-out', `${name}.key.sec1`);
      const keyBody = key.split('\n')[1];
      const cases: Array<[string, unknown]> = [
        ['PKCS#8 PEM after the certificate', { pem: pem + key }],
        ['encrypted PKCS#8 PEM', { pem: pem + s.read(`${name}.key.enc`).toString() }],
        ['SEC1 EC PEM in the chain', { pem, chain: s.read(`${name}.key.sec1`).toString() }],
        ['PKCS#8 DER as der', { der: s.read(`${name}.key.der`).toString('base64') }],
        ['a key as an extra property', { pem, privateKeyPem: key }],
        ['PKCS#8 DER dressed as a CERTIFICATE block', { pem: `-----BEGIN CERTIFICATE-----\n${s.read(`${name}.key.der`).toString('base64')}\n-----END CERTIFICATE-----\n` }],
      ];
      for (const [what, body] of cases) {
        const res = await importRaw(body);
        expect(res.status, what).toBe(400);
        const p = (await res.json()) as { detail: string };
        expect(JSON.stringify(p), what).not.toContain(keyBody);
        if (!(body as Record<string, unknown>).privateKeyPem) expect(p.detail, what).toMatch(/private keys are never accepted/);
      }
      const listed = await api().GET('/api/v1/certificates', { params: { query: { q: name } } });
      expect(listed.data!.items, 'nothing was imported').toEqual([]);
      const audit = await api().GET('/api/v1/audit-events', { params: { query: { action: 'importCertificates', limit: 100 } } });
      expect(audit.response.status).toBe(200);
      expect(JSON.stringify(audit.data)).not.toContain(keyBody);
      expect(audit.data!.items.some((e) => e.outcome === 'failure' && e.status === 400)).toBe(true);
    });

    it('error/bad PEM is a 400 naming the field: no block, a non-certificate, 1 MB of unterminated BEGIN lines (in pem or chain)', async () => {
      const flood = '-----BEGIN CERTIFICATE-----\n'.repeat(35_000);
      const pem = makeLeaf(fresh('bad-pem'), 'ext-root', 30);
      const cases: Array<[string, unknown, string]> = [
        ['no block', { pem: 'hello' }, '/body/pem'],
        ['a CRL', { pem: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n' }, '/body/pem'],
        ['unterminated flood in pem', { pem: flood }, '/body/pem'],
        ['unterminated flood in chain', { pem, chain: flood }, '/body/chain'],
        ['both pem and der', { pem, der: 'AAAA' }, '/body'],
        ['trustAnchors without supplied trust', { pem, trust: ['internal'], trustAnchors: s.read('ext-root.pem').toString() }, '/body/trust'],
      ];
      for (const [what, body, field] of cases) {
        const res = await importRaw(body);
        expect(res.status, what).toBe(400);
        expect(res.headers.get('content-type'), what).toContain('application/problem+json');
        const p = (await res.json()) as { errors?: Array<{ field: string }> };
        expect(p.errors?.map((e) => e.field), what).toContain(field);
      }
      const listed = await api().GET('/api/v1/certificates', { params: { query: { q: 'bad-pem' } } });
      expect(listed.data!.items).toEqual([]);
    });

    it('ok/verification status: under a Certa authority, under supplied anchors, a public root against the system roots (valid); self-signed and unknown (invalid, untrusted)', async () => {
      const anchor = await api().POST('/api/v1/authorities', { body: { name: `anchor-${env().dialect}`, kind: 'import', certificatePem: s.read('certa-anchor.pem').toString() } });
      expect(anchor.response.status, JSON.stringify(anchor.error)).toBe(201);
      const underCerta = await api().POST('/api/v1/certificates/import', { body: { pem: makeLeaf(fresh('under-certa'), 'certa-anchor', 30) } });
      expect(underCerta.data!.results[0].verification).toMatchObject({ valid: true, trust: ['internal', 'system'], anchor: 'CN=certa-anchor,O=Elsewhere Inc' });

      const underSupplied = await api().POST('/api/v1/certificates/import', {
        body: { pem: makeLeaf(fresh('under-supplied'), 'supplied-root', 30), trust: ['supplied'], trustAnchors: s.read('supplied-root.pem').toString() },
      });
      expect(underSupplied.data!.results[0].verification).toMatchObject({ valid: true, trust: ['supplied'] });

      // A public root (Node's bundle, the `system` source) verifies against the system roots.
      const isrg = tls.rootCertificates.find((p) => new X509Certificate(p).subject.includes('CN=ISRG Root X1'))!;
      const pub = await importRaw({ pem: isrg, trust: ['system'] });
      expect(pub.status).toBe(201);
      expect(((await pub.json()) as { results: Array<{ verification: unknown }> }).results[0].verification).toMatchObject({ valid: true, trust: ['system'], anchor: expect.stringContaining('ISRG Root X1') });

      const self = fresh('self');
      s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${self}.key`, '-out', `${self}.pem`, '-days', '30', '-subj', `/CN=${self}`, '-addext', `subjectAltName=DNS:${self}`);
      const unknown = await api().POST('/api/v1/certificates/import', { body: { pem: s.read(`${self}.pem`).toString() } });
      expect(unknown.response.status).toBe(201);
      const v = unknown.data!.results[0].verification!;
      expect(v.valid).toBe(false);
      expect(v.errors.map((e) => e.code)).toContain('untrustedRoot');
      expect((await getCert(env(), unknown.data!.results[0].certificateId!)).verification).toMatchObject({ valid: false });
    });

    it('error/an external row cannot be renewed or revoked; it is on no CRL and OCSP does not vouch for it; it can be labelled and archived', async () => {
      const root = await api().POST('/api/v1/authorities', { body: { name: `imp-root-${env().dialect}`, kind: 'root', subject: { commonName: `Import Test Root ${env().dialect}` } } });
      expect(root.response.status).toBe(201);
      s.write(`certa-root-${env().dialect}.pem`, root.data!.certificatePem!);
      const name = fresh('no-revoke');
      const imported = await api().POST('/api/v1/certificates/import', { body: { pem: makeLeaf(name, 'ext-root', 30) } });
      const id = imported.data!.results[0].certificateId!;
      const path = { certificateId: id };

      const renew = await api().POST('/api/v1/certificates/{certificateId}/renew', { params: { path }, body: {} });
      expect(renew.response.status).toBe(409);
      expect((renew.error as { detail: string }).detail).toMatch(/imported.*cannot renew/);
      const revoke = await api().POST('/api/v1/certificates/{certificateId}/revoke', { params: { path }, body: { reason: 'keyCompromise' } });
      expect(revoke.response.status).toBe(409);
      expect((revoke.error as { detail: string }).detail).toMatch(/cannot revoke/);

      // The authority's CRL (parsed by openssl) has no entry; its OCSP responder does not answer "good" for the serial.
      const crl = await env().fetch(`/pki/crl/${root.data!.id}.crl`);
      expect(crl.status).toBe(200);
      s.write(`crl-${env().dialect}.der`, Buffer.from(await crl.arrayBuffer()));
      expect(s.ok('crl', '-inform', 'DER', '-in', `crl-${env().dialect}.der`, '-noout', '-text')).toContain('No Revoked Certificates');
      const serial = s.ok('x509', '-in', `${name}.pem`, '-noout', '-serial').trim().split('=')[1];
      const ocsp = await s.opensslAsync(['ocsp', '-issuer', `certa-root-${env().dialect}.pem`, '-serial', `0x${serial}`, '-url', `${env().url}/pki/ocsp/${root.data!.id}`, '-CAfile', `certa-root-${env().dialect}.pem`]);
      expect(ocsp.out).toMatch(new RegExp(`0x${serial}: unknown`, 'i'));

      // A certificate Certa issued is already in the inventory: importing it names that row.
      const profile = await api().POST('/api/v1/profiles', { body: { name: `imp-web-${env().dialect}`, authorityId: root.data!.id, allowedDomains: ['example.test'], allowSubdomains: true, usage: 'server' } });
      expect(profile.response.status, JSON.stringify(profile.error)).toBe(201);
      const mine = await api().POST('/api/v1/certificates', { body: { profile: profile.data!.name, subject: { commonName: 'own.example.test' }, sans: { dns: ['own.example.test'] }, keyAlgorithm: 'ecdsa-p256' } });
      expect(mine.response.status, JSON.stringify(mine.error)).toBe(201);
      const reimport = await importRaw({ pem: mine.data!.certificatePem });
      expect(reimport.status).toBe(409);
      expect(((await reimport.json()) as { detail: string }).detail).toContain(mine.data!.id);

      const patched = await api().PATCH('/api/v1/certificates/{certificateId}', { params: { path }, body: { labels: { env: 'prod' }, owner: 'web@example.org' } });
      expect(patched.data).toMatchObject({ labels: { env: 'prod' }, owner: 'web@example.org', source: 'external' });
      const archived = await api().DELETE('/api/v1/certificates/{certificateId}', { params: { path } });
      expect(archived.data).toMatchObject({ status: 'archived' });
    });

    it('error/importing needs certificates:import (operators have it, viewers do not)', async () => {
      const viewer = await env().userWithRoles(['viewer']);
      const denied = await env().client(viewer.token).POST('/api/v1/certificates/import', { body: { pem: makeLeaf(fresh('viewer'), 'ext-root', 30) } });
      expect(denied.response.status).toBe(403);
      const operator = await env().userWithRoles(['operator']);
      const allowed = await env().client(operator.token).POST('/api/v1/certificates/import', { body: { pem: makeLeaf(fresh('operator'), 'ext-root', 30) } });
      expect(allowed.response.status).toBe(201);
    });

    it('ok/an expiring external certificate produces an expiry notice at a real receiver', async () => {
      clock.offsetMs = 0; // openssl dates its certificates by the real clock
      const tag = `exp-${env().dialect}`;
      const name = fresh('expiring');
      const imported = await api().POST('/api/v1/certificates/import', { body: { pem: makeLeaf(name, 'ext-root', 20), labels: { watch: tag } } });
      const id = imported.data!.results[0].certificateId!;
      const ch = await api().POST('/api/v1/notification-channels', { body: { name: `import-${tag}`, type: 'webhook', config: { url: `${receiver.url}/${tag}` } } });
      expect(ch.response.status, JSON.stringify(ch.error)).toBe(201);
      const rule = await api().POST('/api/v1/notification-rules', { body: { name: `import-${tag}`, channelIds: [ch.data!.id], thresholdsDays: [7], selector: { labels: { watch: tag } } } });
      expect(rule.response.status, JSON.stringify(rule.error)).toBe(201);
      const token = (await api().POST('/api/v1/tokens', { body: { name: `import-${tag}`, permissions: ['notifications:write'] } })).data!.token;

      // Not yet: 20 days left.
      expect((await env().client(token).POST('/api/v1/notifications/sweep')).data).toMatchObject({ enqueued: 0 });
      // The expiring gauge counts external certificates too, as the API lists them.
      const in30 = new Date(clock.now().getTime() + 30 * DAY).toISOString();
      const listed = await api().GET('/api/v1/certificates', { params: { query: { source: 'external', status: 'active', expiresBefore: in30, limit: 500 } } });
      const metrics = await (await env().fetch('/metrics')).text();
      const line = metrics.split('\n').find((l) => l.startsWith('certa_certificates_expiring{') && l.includes('authority="(external)"') && l.includes('within_days="30"'));
      expect(line, 'gauge line for external certificates').toBeDefined();
      expect(Number(line!.slice(line!.lastIndexOf(' ') + 1))).toBe(listed.data!.items.length);

      clock.advance(15 * DAY);
      expect((await env().client(token).POST('/api/v1/notifications/sweep')).data).toMatchObject({ enqueued: 1, certificatesMatched: 1 });
      const worker = new DeliveryWorker(env().app.services);
      await worker.runUntilIdle();
      const got = receiver.requests.filter((r) => r.path === `${new URL(receiver.url).pathname}/${tag}`);
      expect(got).toHaveLength(1);
      expect(got[0].body).toContain(name);
      expect(got[0].body).toContain(id);
      expect(got[0].body, 'the issuer stands in for the authority').toContain('CN=ext-root');
      clock.offsetMs = 0;
    });
  },
  { clock, env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);
