/**
 * Profiles (CRUD + policy) and the certificate inventory (issue, list/search/paginate,
 * download, metadata, archive, renew, audit), on both dialects. Artefacts are checked with
 * the real openssl.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createPublicKey } from 'node:crypto';
import { forEachDialect, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import { TestClock } from '../helpers/clock.js';

const clock = new TestClock();
const HOUR = 3_600_000;

async function makeCa(env: TestEnv, suffix: string) {
  const api = env.client();
  const root = await api.POST('/api/v1/authorities', { body: { name: `inv-root-${suffix}`, kind: 'root', subject: { commonName: `Inventory Root ${suffix}` } } });
  expect(root.response.status, JSON.stringify(root.error)).toBe(201);
  return root.data!;
}

async function makeProfile(env: TestEnv, body: Record<string, unknown> & { name: string; authorityId: string }) {
  const r = await env.client().POST('/api/v1/profiles', { body: { usage: 'server', ...body } as any });
  expect(r.response.status, JSON.stringify(r.error)).toBe(201);
  return r.data!;
}

async function issue(env: TestEnv, body: Record<string, unknown>) {
  const r = await env.client().POST('/api/v1/certificates', { body: body as any });
  expect(r.response.status, JSON.stringify(r.error)).toBe(201);
  return r.data!;
}

async function auditFor(env: TestEnv, action: string, target: string) {
  const r = await env.client().GET('/api/v1/audit-events', { params: { query: { action, target } } });
  expect(r.response.status).toBe(200);
  return r.data!.items;
}

const pubOf = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();

/** getCertificate's JSON (the operation also serves PEM/DER, so its data type is a union). */
async function getCert(env: TestEnv, id: string) {
  const r = await env.client().GET('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: id } } });
  expect(r.response.status, JSON.stringify(r.error)).toBe(200);
  return r.data as Exclude<typeof r.data, string | undefined>;
}

forEachDialect(
  'profiles and certificate inventory',
  (env) => {
    const s = new Scratch();
    afterAll(() => s.cleanup());

    describe('profiles', () => {
      it('ok/create, list, get by id and name, update, delete; audited', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'crud');
        const p = await makeProfile(env(), { name: 'crud-web', authorityId: ca.name, allowedDomains: ['Crud.Example.Test.'], allowSubdomains: true, keyAlgorithms: ['ecdsa-p256'], description: 'web servers' });
        expect(p.authorityId).toBe(ca.id);
        expect(p.allowedDomains).toEqual(['crud.example.test']);
        expect(p).toMatchObject({ allowWildcards: false, defaultValidityDays: 90, maxValidityDays: 397, allowServerKeyGeneration: true, requireCommonNameInSans: true, description: 'web servers' });
        expect((await api.GET('/api/v1/profiles/{profileId}', { params: { path: { profileId: p.id } } })).data!.name).toBe('crud-web');
        expect((await api.GET('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'crud-web' } } })).data!.id).toBe(p.id);
        const list = await api.GET('/api/v1/profiles', { params: { query: { authorityId: ca.id } } });
        expect(list.data!.items.map((x) => x.id)).toEqual([p.id]);
        const up = await api.PATCH('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'crud-web' } }, body: { maxValidityDays: 30, defaultValidityDays: 10, allowWildcards: true } });
        expect(up.response.status, JSON.stringify(up.error)).toBe(200);
        expect(up.data).toMatchObject({ id: p.id, maxValidityDays: 30, defaultValidityDays: 10, allowWildcards: true, allowedDomains: ['crud.example.test'] });
        expect(up.data!.updatedAt >= p.updatedAt).toBe(true);
        const del = await api.DELETE('/api/v1/profiles/{profileId}', { params: { path: { profileId: p.id } } });
        expect(del.response.status).toBe(204);
        expect((await api.GET('/api/v1/profiles/{profileId}', { params: { path: { profileId: p.id } } })).response.status).toBe(404);
        expect((await api.DELETE('/api/v1/profiles/{profileId}', { params: { path: { profileId: p.id } } })).response.status).toBe(404);
        expect((await auditFor(env(), 'createProfile', p.id)).length).toBe(1);
        expect((await auditFor(env(), 'updateProfile', 'crud-web')).length).toBe(1);
        expect((await auditFor(env(), 'deleteProfile', p.id)).map((ev) => ev.outcome).sort()).toEqual(['failure', 'success']);
      });

      it('error/duplicate name -> 409; unknown authority -> 400; unknown profile -> 404', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'dup');
        await makeProfile(env(), { name: 'dup-web', authorityId: ca.id, allowedDomains: ['dup.test'] });
        const dup = await api.POST('/api/v1/profiles', { body: { name: 'dup-web', authorityId: ca.id, allowedDomains: ['other.test'] } });
        expect(dup.response.status).toBe(409);
        expect(dup.error!.code).toBe('conflict');
        const noCa = await api.POST('/api/v1/profiles', { body: { name: 'orphan', authorityId: 'no-such-ca' } });
        expect(noCa.response.status).toBe(400);
        expect(noCa.error!.errors!.map((e) => e.field)).toEqual(['/body/authorityId']);
        expect((await api.GET('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'nope' } } })).response.status).toBe(404);
        expect((await api.PATCH('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'nope' } }, body: { maxValidityDays: 3 } })).response.status).toBe(404);
      });

      it('error/policy validation lists every bad field, on create and on update', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'pv');
        const bad = await api.POST('/api/v1/profiles', { body: { name: 'pv', authorityId: ca.id, allowedDomains: ['ok.test', 'bad_domain!'], allowedIpRanges: ['10.0.0.0/8', '300.1.1.1/8', '10.0.0.0/99'], defaultValidityDays: 400, maxValidityDays: 100 } });
        expect(bad.response.status).toBe(400);
        expect(bad.error!.errors!.map((e) => e.field).sort()).toEqual(['/body/allowedDomains/1', '/body/allowedIpRanges/1', '/body/allowedIpRanges/2', '/body/defaultValidityDays'].sort());
        await makeProfile(env(), { name: 'pv', authorityId: ca.id, allowedDomains: ['ok.test'] });
        const badUp = await api.PATCH('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'pv' } }, body: { maxValidityDays: 10, allowedIpRanges: ['nope'] } });
        expect(badUp.response.status).toBe(400);
        expect(badUp.error!.errors!.map((e) => e.field).sort()).toEqual(['/body/allowedIpRanges/0', '/body/defaultValidityDays']);
        // Schema-level: unknown fields and renaming are refused (additionalProperties).
        const rename = await api.PATCH('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'pv' } }, body: { name: 'renamed' } as any });
        expect(rename.response.status).toBe(400);
        expect((await api.GET('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'pv' } } })).data!.maxValidityDays).toBe(397);
      });

      it('ok/deleting a profile in use keeps its certificates readable and listable (they keep the id); renewing them is refused', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'delp');
        const p = await makeProfile(env(), { name: 'delp-web', authorityId: ca.id, allowedDomains: ['delp.test'] });
        const c = await issue(env(), { profile: 'delp-web', subject: { commonName: 'delp.test' }, sans: { dns: ['delp.test'] } });
        expect((await api.DELETE('/api/v1/profiles/{profileId}', { params: { path: { profileId: p.id } } })).response.status).toBe(204);
        const got = await getCert(env(), c.id);
        expect(got.profileId).toBe(p.id);
        expect(got.status).toBe('active');
        const listed = await api.GET('/api/v1/certificates', { params: { query: { profileId: p.id } } });
        expect(listed.data!.items.map((x) => x.id)).toEqual([c.id]);
        const renew = await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: c.id } }, body: {} });
        expect(renew.response.status).toBe(409);
        expect(renew.error!.detail).toMatch(/profile .* no longer exists/);
        // The name is free again.
        await makeProfile(env(), { name: 'delp-web', authorityId: ca.id, allowedDomains: ['delp.test'] });
      });
    });

    describe('policy', () => {
      it('ok+error/subdomains and wildcards on/off', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'dns');
        await makeProfile(env(), { name: 'exact', authorityId: ca.id, allowedDomains: ['dns.test'] });
        await makeProfile(env(), { name: 'subs', authorityId: ca.id, allowedDomains: ['dns.test'], allowSubdomains: true });
        await makeProfile(env(), { name: 'wild', authorityId: ca.id, allowedDomains: ['dns.test'], allowSubdomains: true, allowWildcards: true });
        await makeProfile(env(), { name: 'wild-exact', authorityId: ca.id, allowedDomains: ['dns.test'], allowWildcards: true });
        const cases: Array<[string, string, number]> = [
          ['exact', 'dns.test', 201],
          ['exact', 'a.dns.test', 400],
          ['exact', 'xdns.test', 400],
          ['subs', 'a.b.dns.test', 201],
          ['subs', 'a.dns.test.evil', 400],
          ['subs', '*.dns.test', 400],
          ['wild', '*.dns.test', 201],
          ['wild', '*.a.dns.test', 201],
          ['wild', '*.other.test', 400],
          ['wild-exact', '*.dns.test', 201],
          ['wild-exact', '*.a.dns.test', 400],
          ['wild-exact', 'a.dns.test', 400],
        ];
        for (const [profile, name, status] of cases) {
          const r = await api.POST('/api/v1/certificates', { body: { profile, subject: { commonName: name }, sans: { dns: [name] } } });
          expect(r.response.status, `${profile} ${name}: ${JSON.stringify(r.error)}`).toBe(status);
          if (status === 400) expect(r.error!.code, `${profile} ${name}`).toBe('policy_violation');
        }
      });

      it('ok+error/IP ranges, emails and URIs', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'names');
        await makeProfile(env(), {
          name: 'names',
          authorityId: ca.id,
          usage: 'server-client',
          allowedDomains: ['names.test'],
          allowedIpRanges: ['10.1.0.0/16', 'fd00::/8'],
          allowedEmails: ['ops@names.test', '@mail.names.test'],
          allowedUris: ['spiffe://names.test/'],
        });
        const ok = await api.POST('/api/v1/certificates', {
          body: { profile: 'names', subject: { commonName: 'names.test' }, sans: { dns: ['names.test'], ip: ['10.1.2.3', 'fd00::1'], email: ['OPS@names.test', 'x@mail.names.test'], uri: ['spiffe://names.test/svc'] } },
        });
        expect(ok.response.status, JSON.stringify(ok.error)).toBe(201);
        expect(ok.data!.sans).toEqual({ dns: ['names.test'], ip: ['10.1.2.3', 'fd00::1'], email: ['ops@names.test', 'x@mail.names.test'], uri: ['spiffe://names.test/svc'] });
        const bad = await api.POST('/api/v1/certificates', {
          body: { profile: 'names', subject: { commonName: 'names.test' }, sans: { dns: ['names.test'], ip: ['10.2.0.1', 'fe80::1'], email: ['y@names.test', 'z@other.test'], uri: ['spiffe://other.test/svc', 'https://names.test/'] } },
        });
        expect(bad.response.status).toBe(400);
        expect(bad.error!.errors!.map((e) => e.field)).toEqual(['/body/sans/ip/0', '/body/sans/ip/1', '/body/sans/email/0', '/body/sans/email/1', '/body/sans/uri/0', '/body/sans/uri/1']);
      });

      it('error/key algorithm restriction (CSR and server-side), maxValidityDays, and a request breaking several rules lists all of them', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'keys');
        await makeProfile(env(), { name: 'p256-only', authorityId: ca.id, allowedDomains: ['keys.test'], keyAlgorithms: ['ecdsa-p256'], maxValidityDays: 30, defaultValidityDays: 10 });
        s.ok('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k-rsa.key', '-out', 'k-rsa.csr', '-subj', '/CN=keys.test', '-addext', 'subjectAltName=DNS:keys.test');
        const rsa = await api.POST('/api/v1/certificates', { body: { profile: 'p256-only', csr: s.read('k-rsa.csr').toString() } });
        expect(rsa.response.status).toBe(400);
        expect(rsa.error!.code).toBe('policy_violation');
        expect(rsa.error!.errors!.map((e) => e.field)).toEqual(['/body/csr']);
        expect(rsa.error!.errors![0].message).toMatch(/rsa-2048 is not allowed/);
        const srv = await api.POST('/api/v1/certificates', { body: { profile: 'p256-only', subject: { commonName: 'keys.test' }, sans: { dns: ['keys.test'] }, keyAlgorithm: 'ed25519' } });
        expect(srv.response.status).toBe(400);
        expect(srv.error!.errors!.map((e) => e.field)).toEqual(['/body/keyAlgorithm']);
        const long = await api.POST('/api/v1/certificates', { body: { profile: 'p256-only', subject: { commonName: 'keys.test' }, sans: { dns: ['keys.test'] }, validityDays: 31 } });
        expect(long.response.status).toBe(400);
        expect(long.error!.errors!.map((e) => e.field)).toEqual(['/body/validityDays']);
        const longByDate = await api.POST('/api/v1/certificates', { body: { profile: 'p256-only', subject: { commonName: 'keys.test' }, sans: { dns: ['keys.test'] }, notAfter: new Date(clock.now().getTime() + 40 * 24 * HOUR).toISOString() } });
        expect(longByDate.response.status).toBe(400);
        expect(longByDate.error!.errors!.map((e) => e.field)).toEqual(['/body/validityDays']);
        const okDefault = await issue(env(), { profile: 'p256-only', subject: { commonName: 'keys.test' }, sans: { dns: ['keys.test'] } });
        expect(Math.round((Date.parse(okDefault.notAfter) - clock.now().getTime()) / (24 * HOUR))).toBe(10);
        const many = await api.POST('/api/v1/certificates', {
          body: { profile: 'p256-only', subject: { commonName: 'cn.elsewhere.test', organization: 'Nope' }, sans: { dns: ['*.keys.test', 'x.other.test'], ip: ['10.0.0.1'], email: ['a@keys.test'], uri: ['urn:x'] }, keyAlgorithm: 'rsa-2048', validityDays: 365 },
        });
        expect(many.response.status).toBe(400);
        expect(many.error!.code).toBe('policy_violation');
        expect(many.error!.errors!.map((e) => e.field).sort()).toEqual(
          ['/body/keyAlgorithm', '/body/validityDays', '/body/subject/organization', '/body/sans/dns/0', '/body/sans/dns/1', '/body/sans/ip/0', '/body/sans/email/0', '/body/sans/uri/0', '/body/subject/commonName'].sort(),
        );
      });
    });

    describe('issuance', () => {
      it('ok/response fields; privateKeyPem returned once for server-side keys only; pkcs12 read by openssl', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'iss');
        const p = await makeProfile(env(), { name: 'iss-web', authorityId: ca.id, allowedDomains: ['iss.test'], allowSubdomains: true });
        const c = await issue(env(), { profile: 'iss-web', subject: { commonName: 'a.iss.test' }, sans: { dns: ['a.iss.test'] }, labels: { team: 'payments' }, owner: 'pay@iss.test', notes: 'n' });
        for (const f of ['id', 'serialNumber', 'subject', 'sans', 'notBefore', 'notAfter', 'fingerprintSha256', 'certificatePem', 'chainPem', 'authorityId', 'profileId', 'status'] as const) expect(c[f], f).toBeTruthy();
        expect(c).toMatchObject({ authorityId: ca.id, profileId: p.id, status: 'active', subject: { commonName: 'a.iss.test' }, labels: { team: 'payments' }, owner: 'pay@iss.test', notes: 'n', serverGeneratedKey: true, issuedBy: 'admin@certa.test' });
        expect(c.serialNumber).toMatch(/^[0-9a-f]+$/);
        expect(c.chainPem.startsWith(c.certificatePem)).toBe(true);
        expect(c.chainPem).toContain(ca.certificatePem!.trim());
        s.write('iss.pem', c.certificatePem);
        const fp = s.ok('x509', '-in', 'iss.pem', '-noout', '-fingerprint', '-sha256').split('=')[1].trim().replace(/:/g, '').toLowerCase();
        expect(c.fingerprintSha256).toBe(fp);
        const serial = s.ok('x509', '-in', 'iss.pem', '-noout', '-serial').split('=')[1].trim().toLowerCase().replace(/^0+/, '');
        expect(c.serialNumber).toBe(serial);
        expect(c.privateKeyPem).toMatch(/BEGIN PRIVATE KEY/);
        expect(pubOf(c.privateKeyPem!)).toBe(pubOf(c.certificatePem));
        // GET never returns the key; the list neither.
        const got = await env().fetch(`/api/v1/certificates/${c.id}`, { headers: { authorization: `Bearer ${env().adminToken}` } });
        const text = await got.text();
        expect(text).not.toMatch(/PRIVATE KEY|privateKeyPem|pkcs12/);
        // CSR-signed: no key in the answer.
        s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'iss.key', '-out', 'iss.csr', '-subj', '/CN=b.iss.test', '-addext', 'subjectAltName=DNS:b.iss.test');
        const fromCsr = await issue(env(), { profile: 'iss-web', csr: s.read('iss.csr').toString() });
        expect(fromCsr.privateKeyPem).toBeUndefined();
        expect(fromCsr.pkcs12).toBeUndefined();
        expect(fromCsr.serverGeneratedKey).toBe(false);
        // pkcs12 needs a passphrase and a server-side key.
        expect((await api.POST('/api/v1/certificates', { body: { profile: 'iss-web', subject: { commonName: 'c.iss.test' }, sans: { dns: ['c.iss.test'] }, format: 'pkcs12' } })).response.status).toBe(400);
        expect((await api.POST('/api/v1/certificates', { body: { profile: 'iss-web', csr: s.read('iss.csr').toString(), format: 'pkcs12', passphrase: 'correct horse' } })).response.status).toBe(400);
        const p12 = await issue(env(), { profile: 'iss-web', subject: { commonName: 'c.iss.test' }, sans: { dns: ['c.iss.test'] }, format: 'pkcs12', passphrase: 'correct horse' });
        expect(p12.pkcs12).toBeTruthy();
        s.write('c.p12', Buffer.from(p12.pkcs12!, 'base64'));
        const info = s.openssl('pkcs12', '-info', '-in', 'c.p12', '-passin', 'pass:correct horse', '-nokeys');
        expect(info.code, info.out).toBe(0);
        expect(info.out).toMatch(/subject=CN\s*=\s*c\.iss\.test/);
        expect(info.out).toContain('Inventory Root iss');
        expect(s.openssl('pkcs12', '-info', '-in', 'c.p12', '-passin', 'pass:wrong pass', '-nokeys').code).not.toBe(0);
        const keyOut = s.openssl('pkcs12', '-in', 'c.p12', '-passin', 'pass:correct horse', '-nocerts', '-noenc');
        expect(keyOut.code, keyOut.out).toBe(0);
        const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(keyOut.out)![0];
        expect(pubOf(keyPem)).toBe(pubOf(p12.certificatePem));
        expect(pubOf(p12.privateKeyPem!)).toBe(pubOf(p12.certificatePem));
        expect((await auditFor(env(), 'issueCertificate', c.id)).length).toBe(1);
      });
    });

    describe('inventory', () => {
      it('ok/list filters: status, authority, profile, expiry window, q, serial, labels, owner; archived hidden by default', async () => {
        const api = env().client();
        const ca1 = await makeCa(env(), 'l1');
        const ca2 = await makeCa(env(), 'l2');
        const p1 = await makeProfile(env(), { name: 'l1-web', authorityId: ca1.id, allowedDomains: ['l1.test'], allowSubdomains: true, allowedEmails: ['*'] });
        const p2 = await makeProfile(env(), { name: 'l2-web', authorityId: ca2.id, allowedDomains: ['l2.test'], allowSubdomains: true });
        const t0 = clock.now().getTime();
        const a = await issue(env(), { profile: 'l1-web', subject: { commonName: 'alpha.l1.test' }, sans: { dns: ['alpha.l1.test'], email: ['Findme@Mail.test'] }, validityDays: 10, labels: { team: 'payments', env: 'prod' }, owner: 'alice@l.test' });
        const b = await issue(env(), { profile: 'l1-web', subject: { commonName: 'beta.l1.test' }, sans: { dns: ['beta.l1.test'] }, validityDays: 20, labels: { team: 'payments', env: 'dev' } });
        const c = await issue(env(), { profile: 'l2-web', subject: { commonName: 'gamma.l2.test' }, sans: { dns: ['gamma.l2.test'] }, validityDays: 30, labels: { team: 'search' }, owner: 'bob@l.test' });
        const d = await issue(env(), { profile: 'l2-web', subject: { commonName: 'delta.l2.test' }, sans: { dns: ['delta.l2.test'] }, validityDays: 40 });
        const e = await issue(env(), { profile: 'l2-web', subject: { commonName: 'eps.l2.test' }, sans: { dns: ['eps.l2.test'] }, validityDays: 50 });
        const x = await issue(env(), { profile: 'l1-web', subject: { commonName: 'expiring.l1.test' }, sans: { dns: ['expiring.l1.test'] }, notAfter: new Date(t0 + 2 * HOUR).toISOString() });
        const rev = await api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: d.id } }, body: { reason: 'keyCompromise' } });
        expect(rev.response.status, JSON.stringify(rev.error)).toBeLessThan(300);
        expect((await api.DELETE('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: e.id } } })).data!.status).toBe('archived');
        const mine = [a, b, c, d, e, x].map((z) => z.id);
        const ids = async (query: Record<string, unknown>) => {
          const r = await api.GET('/api/v1/certificates', { params: { query: { limit: 200, ...query } as any } });
          expect(r.response.status, JSON.stringify(r.error)).toBe(200);
          return r.data!.items.map((i) => i.id).filter((id) => mine.includes(id));
        };
        expect(await ids({})).toEqual([x.id, a.id, b.id, c.id, d.id]);
        expect(await ids({ includeArchived: true })).toEqual([x.id, a.id, b.id, c.id, d.id, e.id]);
        expect(await ids({ status: 'active' })).toEqual([x.id, a.id, b.id, c.id]);
        expect(await ids({ status: 'revoked' })).toEqual([d.id]);
        expect(await ids({ status: 'archived' })).toEqual([e.id]);
        expect(await ids({ status: 'expired' })).toEqual([]);
        expect(await ids({ authorityId: ca1.id })).toEqual([x.id, a.id, b.id]);
        expect(await ids({ profileId: p2.id })).toEqual([c.id, d.id]);
        expect(await ids({ profileId: p1.id, sort: '-notAfter' })).toEqual([b.id, a.id, x.id]);
        expect(await ids({ expiresAfter: new Date(t0 + 15 * 24 * HOUR).toISOString(), expiresBefore: new Date(t0 + 35 * 24 * HOUR).toISOString() })).toEqual([b.id, c.id]);
        expect(await ids({ expiresBefore: b.notAfter })).toEqual([x.id, a.id]);
        expect(await ids({ expiresAfter: b.notAfter })).toEqual([b.id, c.id, d.id]);
        expect(await ids({ q: 'ALPHA' })).toEqual([a.id]);
        expect(await ids({ q: '.l2.' })).toEqual([c.id, d.id]);
        expect(await ids({ q: 'findme@mail' })).toEqual([a.id]);
        expect(await ids({ q: '100%_' })).toEqual([]);
        const colons = c.serialNumber.padStart(c.serialNumber.length + (c.serialNumber.length % 2), '0').toUpperCase().match(/../g)!.join(':');
        expect(await ids({ serial: colons })).toEqual([c.id]);
        expect(await ids({ serial: c.serialNumber.toUpperCase() })).toEqual([c.id]);
        expect(await ids({ serial: '00' + c.serialNumber })).toEqual([c.id]);
        expect((await api.GET('/api/v1/certificates', { params: { query: { serial: 'xyz' } } })).response.status).toBe(400);
        expect(await ids({ label: ['team:payments'] })).toEqual([a.id, b.id]);
        expect(await ids({ label: ['team:payments', 'env:prod'] })).toEqual([a.id]);
        expect(await ids({ label: ['team:payments', 'env:staging'] })).toEqual([]);
        expect((await api.GET('/api/v1/certificates', { params: { query: { label: ['nocolon'] } } })).response.status).toBe(400);
        expect(await ids({ owner: 'bob@l.test' })).toEqual([c.id]);
        expect(await ids({ owner: 'alice@l.test', status: 'active', authorityId: ca1.id, label: ['env:prod'] })).toEqual([a.id]);
        // Summary shape.
        const one = (await api.GET('/api/v1/certificates', { params: { query: { q: 'alpha.l1' } } })).data!.items[0];
        expect(one).toMatchObject({ id: a.id, commonName: 'alpha.l1.test', sans: ['alpha.l1.test', 'findme@mail.test'], status: 'active', labels: { team: 'payments', env: 'prod' }, owner: 'alice@l.test', authorityId: ca1.id, profileId: p1.id });

        // Expiry follows the clock: three hours later `x` is expired (in list and get), the others still active.
        clock.advance(3 * HOUR);
        try {
          expect(await ids({ status: 'expired' })).toEqual([x.id]);
          expect(await ids({ status: 'active' })).toEqual([a.id, b.id, c.id]);
          expect((await getCert(env(), x.id)).status).toBe('expired');
        } finally {
          clock.advance(-3 * HOUR);
        }
      });

      it('ok/sort by notAfter and createdAt; cursor pagination without duplicates or gaps', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'pg');
        await makeProfile(env(), { name: 'pg-web', authorityId: ca.id, allowedDomains: ['pg.test'], allowSubdomains: true });
        const made: string[] = [];
        // validity is the reverse of creation order, and two pairs share a notAfter (ties broken by id).
        const validity = [9, 8, 7, 7, 6, 5, 4, 4, 3, 2, 1];
        const base = clock.now().getTime() + 100 * 24 * HOUR;
        for (let i = 0; i < validity.length; i++) {
          made.push((await issue(env(), { profile: 'pg-web', subject: { commonName: `n${i}.pg.test` }, sans: { dns: [`n${i}.pg.test`] }, notAfter: new Date(base + validity[i] * HOUR).toISOString()})).id);
        }
        const profileId = (await api.GET('/api/v1/profiles/{profileId}', { params: { path: { profileId: 'pg-web' } } })).data!.id;
        const walk = async (sort: 'notAfter' | '-notAfter' | 'createdAt' | '-createdAt') => {
          const seen: Array<{ id: string; notAfter: string; createdAt: string }> = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const r = await api.GET('/api/v1/certificates', { params: { query: { profileId, limit: 3, sort, ...(cursor ? { cursor } : {}) } } });
            expect(r.response.status, JSON.stringify(r.error)).toBe(200);
            expect(r.data!.items.length).toBeLessThanOrEqual(3);
            seen.push(...r.data!.items);
            cursor = r.data!.nextCursor ?? undefined;
            pages++;
          } while (cursor && pages < 20);
          expect(pages).toBe(4);
          expect(new Set(seen.map((i) => i.id)).size).toBe(made.length);
          expect([...seen.map((i) => i.id)].sort()).toEqual([...made].sort());
          return seen;
        };
        const byNotAfter = await walk('notAfter');
        for (let i = 1; i < byNotAfter.length; i++) {
          const [p, q] = [byNotAfter[i - 1], byNotAfter[i]];
          expect(p.notAfter < q.notAfter || (p.notAfter === q.notAfter && p.id < q.id)).toBe(true);
        }
        expect(byNotAfter[0].id).toBe(made[made.length - 1]);
        const desc = await walk('-notAfter');
        expect(desc.map((i) => i.id)).toEqual([...byNotAfter].reverse().map((i) => i.id));
        const byCreated = await walk('createdAt');
        expect(byCreated.map((i) => i.id)).toEqual(made);
        expect((await walk('-createdAt')).map((i) => i.id)).toEqual([...made].reverse());
        expect((await api.GET('/api/v1/certificates', { params: { query: { cursor: 'not-a-cursor' } } })).response.status).toBe(400);
      });

      it('ok/get JSON; downloads by format and by Accept (PEM, DER, chain); 406 otherwise', async () => {
        const ca = await makeCa(env(), 'dl');
        await makeProfile(env(), { name: 'dl-web', authorityId: ca.id, allowedDomains: ['dl.test'] });
        const c = await issue(env(), { profile: 'dl-web', subject: { commonName: 'dl.test' }, sans: { dns: ['dl.test'] } });
        const auth = { authorization: `Bearer ${env().adminToken}` };
        const get = (q: string, accept?: string) => env().fetch(`/api/v1/certificates/${c.id}${q}`, { headers: { ...auth, ...(accept ? { accept } : {}) } });
        const json = await get('');
        expect(json.headers.get('content-type')).toMatch(/application\/json/);
        expect(((await json.json()) as any).id).toBe(c.id);
        for (const [q, accept] of [['?format=pem', undefined], ['', 'application/x-pem-file']] as const) {
          const r = await get(q, accept);
          expect(r.status).toBe(200);
          expect(r.headers.get('content-type')).toMatch(/application\/x-pem-file/);
          expect(r.headers.get('content-disposition')).toMatch(/attachment; filename=".+\.pem"/);
          expect((await r.text()).trim()).toBe(c.certificatePem.trim());
        }
        for (const [q, accept] of [['?format=der', undefined], ['', 'application/pkix-cert']] as const) {
          const r = await get(q, accept);
          expect(r.status).toBe(200);
          expect(r.headers.get('content-type')).toMatch(/application\/pkix-cert/);
          s.write('dl.der', Buffer.from(await r.arrayBuffer()));
          const text = s.ok('x509', '-inform', 'DER', '-in', 'dl.der', '-noout', '-subject', '-fingerprint', '-sha256');
          expect(text).toMatch(/CN\s*=\s*dl\.test/);
          expect(text.split('Fingerprint=')[1].trim().replace(/:/g, '').toLowerCase()).toBe(c.fingerprintSha256);
        }
        const chain = await get('?format=chain');
        expect(chain.status).toBe(200);
        const chainText = await chain.text();
        expect(chainText.match(/BEGIN CERTIFICATE/g)!.length).toBe(2);
        s.write('dl-chain.pem', chainText);
        s.write('dl-root.pem', ca.certificatePem!);
        expect(s.openssl('verify', '-CAfile', 'dl-root.pem', 'dl-chain.pem').code).toBe(0);
        // format wins over Accept.
        expect((await get('?format=pem', 'application/pkix-cert')).headers.get('content-type')).toMatch(/x-pem-file/);
        const bad = await get('', 'image/png');
        expect(bad.status).toBe(406);
        expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
        expect(((await bad.json()) as any).code).toBe('not_acceptable');
        expect((await env().fetch('/api/v1/certificates/00000000-0000-7000-8000-000000000000', { headers: auth })).status).toBe(404);
      });

      it('ok/update metadata only; anything else -> 400; archive hides from the list, keeps it readable and audited', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'meta');
        await makeProfile(env(), { name: 'meta-web', authorityId: ca.id, allowedDomains: ['meta.test'] });
        const c = await issue(env(), { profile: 'meta-web', subject: { commonName: 'meta.test' }, sans: { dns: ['meta.test'] }, labels: { team: 'a', old: 'x' }, owner: 'o@meta.test', notes: 'first' });
        const up = await api.PATCH('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: c.id } }, body: { labels: { team: 'payments' }, owner: 'new@meta.test' } });
        expect(up.response.status, JSON.stringify(up.error)).toBe(200);
        expect(up.data).toMatchObject({ labels: { team: 'payments' }, owner: 'new@meta.test', notes: 'first', certificatePem: c.certificatePem, serialNumber: c.serialNumber });
        const clear = await api.PATCH('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: c.id } }, body: { owner: null, notes: null } });
        expect(clear.data).toMatchObject({ owner: null, notes: null, labels: { team: 'payments' } });
        for (const body of [{ notAfter: '2099-01-01T00:00:00Z' }, { status: 'revoked' }, { owner: 'x@y.z', subject: { commonName: 'evil' } }, {}]) {
          const r = await api.PATCH('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: c.id } }, body: body as any });
          expect(r.response.status, JSON.stringify(body)).toBe(400);
        }
        const after = (await getCert(env(), c.id));
        expect(after).toMatchObject({ notAfter: c.notAfter, owner: null, status: 'active', subject: { commonName: 'meta.test' } });
        expect(await api.GET('/api/v1/certificates', { params: { query: { label: ['team:payments'], q: 'meta.test' } } }).then((r) => r.data!.items.map((i) => i.id))).toEqual([c.id]);

        const arch = await api.DELETE('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: c.id } } });
        expect(arch.response.status).toBe(200);
        expect(arch.data!.status).toBe('archived');
        expect(arch.data!.archivedAt).toBeTruthy();
        expect((await getCert(env(), c.id)).status).toBe('archived');
        expect((await api.GET('/api/v1/certificates', { params: { query: { q: 'meta.test' } } })).data!.items.map((i) => i.id)).toEqual([]);
        expect((await api.GET('/api/v1/certificates', { params: { query: { q: 'meta.test', status: 'archived' } } })).data!.items.map((i) => i.id)).toEqual([c.id]);
        // Archiving twice keeps the first archive time.
        const again = await api.DELETE('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: c.id } } });
        expect(again.data!.archivedAt).toBe(arch.data!.archivedAt);
        expect((await auditFor(env(), 'issueCertificate', c.id)).length).toBe(1);
        expect((await auditFor(env(), 'updateCertificate', c.id)).filter((ev) => ev.outcome === 'success').length).toBe(2);
        expect((await auditFor(env(), 'archiveCertificate', c.id)).length).toBe(2);
      });

      it('ok/renew: same names and profile, new key, linked both ways; twice -> 409; CSR-issued needs a new CSR; audited', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'ren');
        const p = await makeProfile(env(), { name: 'ren-web', authorityId: ca.id, allowedDomains: ['ren.test'], allowSubdomains: true, allowedIpRanges: ['10.0.0.0/8'] });
        const c = await issue(env(), { profile: 'ren-web', subject: { commonName: 'a.ren.test' }, sans: { dns: ['a.ren.test', 'b.ren.test'], ip: ['10.9.9.9'] }, labels: { team: 'payments' }, owner: 'o@ren.test', validityDays: 20 });
        const r = await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: c.id } }, body: {} });
        expect(r.response.status, JSON.stringify(r.error)).toBe(201);
        const n = r.data!;
        expect(n.id).not.toBe(c.id);
        expect(n.serialNumber).not.toBe(c.serialNumber);
        expect(n).toMatchObject({ subject: c.subject, sans: c.sans, profileId: p.id, authorityId: ca.id, predecessorId: c.id, labels: { team: 'payments' }, owner: 'o@ren.test', status: 'active' });
        expect(n.privateKeyPem).toMatch(/BEGIN PRIVATE KEY/);
        expect(pubOf(n.certificatePem)).not.toBe(pubOf(c.certificatePem));
        expect(pubOf(n.privateKeyPem!)).toBe(pubOf(n.certificatePem));
        const old = (await getCert(env(), c.id));
        expect(old.successorId).toBe(n.id);
        expect(old.status).toBe('active');
        const twice = await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: c.id } }, body: {} });
        expect(twice.response.status).toBe(409);
        // Renew the successor with revokePredecessor: the predecessor becomes revoked (superseded).
        const third = await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: n.id } }, body: { revokePredecessor: true, validityDays: 5 } });
        expect(third.response.status, JSON.stringify(third.error)).toBe(201);
        const nAfter = (await getCert(env(), n.id));
        expect(nAfter).toMatchObject({ status: 'revoked', revocationReason: 'superseded', successorId: third.data!.id });

        // CSR-issued: no CSR -> 400; a CSR for other names -> 400; a fresh CSR for the same names -> 201.
        s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'r1.key', '-out', 'r1.csr', '-subj', '/CN=c.ren.test', '-addext', 'subjectAltName=DNS:c.ren.test');
        const fromCsr = await issue(env(), { profile: 'ren-web', csr: s.read('r1.csr').toString() });
        const noCsr = await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: fromCsr.id } }, body: {} });
        expect(noCsr.response.status).toBe(400);
        expect(noCsr.error!.errors!.map((e) => e.field)).toEqual(['/body/csr']);
        s.ok('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'r2.key', '-out', 'r2.csr', '-subj', '/CN=c.ren.test', '-addext', 'subjectAltName=DNS:c.ren.test');
        const rc = await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: fromCsr.id } }, body: { csr: s.read('r2.csr').toString() } });
        expect(rc.response.status, JSON.stringify(rc.error)).toBe(201);
        expect(rc.data!.privateKeyPem).toBeUndefined();
        expect(rc.data!.sans.dns).toEqual(['c.ren.test']);
        s.write('rc.pem', rc.data!.certificatePem);
        expect(s.ok('x509', '-in', 'rc.pem', '-noout', '-pubkey')).toBe(s.ok('pkey', '-in', 'r2.key', '-pubout'));
        // Renewal of an archived certificate is refused.
        const arch = await issue(env(), { profile: 'ren-web', subject: { commonName: 'z.ren.test' }, sans: { dns: ['z.ren.test'] } });
        await api.DELETE('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: arch.id } } });
        expect((await api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: arch.id } }, body: {} })).response.status).toBe(409);

        const renewEvents = await auditFor(env(), 'renewCertificate', c.id);
        expect(renewEvents.filter((ev) => ev.outcome === 'success').length).toBe(1);
        expect(renewEvents.find((ev) => ev.outcome === 'success')!.detail).toContain(n.id);
        expect(renewEvents.some((ev) => ev.outcome === 'failure')).toBe(true);
      });

      it('ok/concurrent renewals of one certificate: exactly one wins', async () => {
        const api = env().client();
        const ca = await makeCa(env(), 'race');
        await makeProfile(env(), { name: 'race-web', authorityId: ca.id, allowedDomains: ['race.test'] });
        const c = await issue(env(), { profile: 'race-web', subject: { commonName: 'race.test' }, sans: { dns: ['race.test'] } });
        const rs = await Promise.all(Array.from({ length: 4 }, () => api.POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: c.id } }, body: {} })));
        expect(rs.map((r) => r.response.status).sort()).toEqual([201, 409, 409, 409]);
        const successors = (await api.GET('/api/v1/certificates', { params: { query: { q: 'race.test', limit: 50 } } })).data!.items.filter((i) => i.id !== c.id);
        expect(successors.length).toBe(1);
      });
    });
  },
  { clock },
);
