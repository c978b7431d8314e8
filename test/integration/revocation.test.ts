/**
 * Revocation end to end, judged by real peers: `openssl ocsp` against the running
 * responder (POST and GET), `openssl crl` on the published CRLs, `openssl verify
 * -crl_check` on leaves, and the CRL job under a burst of 1,000 parallel revocations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDialect, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import { parseCrl } from '../../src/pki/crl.js';
import { pemEncode } from '../../src/pki/pem.js';
import { parseOcspResponse } from '../../src/pki/ocsp.js';
import { generateCrl, refreshCrl } from '../../src/revocation/crl.service.js';
import { markCrlDirty } from '../../src/store/revocation.repository.js';
import { TestClock } from '../helpers/clock.js';

interface Pki {
  rootId: string;
  intId: string;
  profile: string;
}

async function setupPki(env: TestEnv, s: Scratch, suffix: string): Promise<Pki> {
  const api = env.client();
  const root = await api.POST('/api/v1/authorities', { body: { name: `rv-root-${suffix}`, kind: 'root', subject: { commonName: `Revocation Root ${suffix}` }, pathLength: 1 } });
  expect(root.response.status, JSON.stringify(root.error)).toBe(201);
  const int = await api.POST('/api/v1/authorities', { body: { name: `rv-int-${suffix}`, kind: 'intermediate', parentId: root.data!.id, subject: { commonName: `Revocation Issuing ${suffix}` } } });
  expect(int.response.status, JSON.stringify(int.error)).toBe(201);
  const profile = `rv-web-${suffix}`;
  const p = await api.POST('/api/v1/profiles', { body: { name: profile, authorityId: int.data!.id, allowedDomains: ['example.test'], allowSubdomains: true, usage: 'server' } });
  expect(p.response.status, JSON.stringify(p.error)).toBe(201);
  s.write(`root-${suffix}.pem`, root.data!.certificatePem!);
  s.write(`int-${suffix}.pem`, int.data!.certificatePem!);
  s.write(`chain-${suffix}.pem`, int.data!.certificatePem! + root.data!.certificatePem!);
  return { rootId: root.data!.id, intId: int.data!.id, profile };
}

async function issue(env: TestEnv, profile: string, cn: string) {
  const r = await env.client().POST('/api/v1/certificates', { body: { profile, subject: { commonName: cn }, sans: { dns: [cn] } } });
  expect(r.response.status, JSON.stringify(r.error)).toBe(201);
  return r.data!;
}

/** Waits until the CRL job has published a CRL without pending revocations. */
async function settledCrl(env: TestEnv, authorityId: string, minEntries: number) {
  const deadline = Date.now() + 60_000;
  while (true) {
    const info = await env.client().GET('/api/v1/authorities/{authorityId}/crl', { params: { path: { authorityId } } });
    expect(info.response.status, JSON.stringify(info.error)).toBe(200);
    if (!info.data!.pendingRevocations && info.data!.entries >= minEntries) return info.data!;
    if (Date.now() > deadline) throw new Error(`CRL not settled: ${JSON.stringify(info.data)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fetchCrl(env: TestEnv, s: Scratch, authorityId: string, name: string, delta = false): Promise<Buffer> {
  const res = await env.fetch(`/pki/crl/${authorityId}${delta ? '-delta' : ''}.crl`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/pkix-crl');
  const der = Buffer.from(await res.arrayBuffer());
  s.write(`${name}.der`, der);
  s.ok('crl', '-inform', 'DER', '-in', `${name}.der`, '-out', `${name}.pem`);
  return der;
}

forEachDialect(
  'revocation, CRLs and OCSP',
  (env) => {
    const s = new Scratch();
    let pki: Pki;
    beforeAll(async () => {
      pki = await setupPki(env(), s, 'a');
    });
    afterAll(() => s.cleanup());

    const ocsp = (leafFile: string, extra: string[] = []) =>
      s.opensslAsync(['ocsp', '-issuer', 'int-a.pem', '-cert', leafFile, '-url', `${env().url}/pki/ocsp/${pki.intId}`, '-CAfile', 'root-a.pem', '-verify_other', 'int-a.pem', ...extra]);

    it('ok/openssl ocsp: good, then revoked with the reason after a revocation; the signature verifies', async () => {
      const leaf = await issue(env(), pki.profile, 'ocsp1.example.test');
      s.write('ocsp1.pem', leaf.certificatePem);
      const good = await ocsp('ocsp1.pem');
      expect(good.out).toContain('Response verify OK');
      expect(good.out).toMatch(/ocsp1\.pem: good/);
      expect(good.out).toMatch(/This Update:.*\n\s+Next Update:/);

      const r = await env().client().POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: leaf.id } }, body: { reason: 'keyCompromise', invalidityDate: '2026-01-02T03:04:05Z' } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(200);
      expect(r.data).toMatchObject({ status: 'revoked', alreadyRevoked: false, reason: 'keyCompromise' });
      const revoked = await ocsp('ocsp1.pem');
      expect(revoked.out).toContain('Response verify OK');
      expect(revoked.out).toMatch(/ocsp1\.pem: revoked/);
      expect(revoked.out).toMatch(/Reason: keyCompromise/);

      // Idempotent, and says so.
      const again = await env().client().POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: leaf.id } }, body: { reason: 'superseded' } });
      expect(again.data).toMatchObject({ status: 'revoked', alreadyRevoked: true, reason: 'keyCompromise' });
      // keyCompromise is final.
      const lift = await env().client().POST('/api/v1/certificates/{certificateId}/unrevoke', { params: { path: { certificateId: leaf.id } } });
      expect(lift.response.status).toBe(409);
      const cert = await env().client().GET('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: leaf.id } } });
      expect(cert.data).toMatchObject({ status: 'revoked' });
    });

    it('ok/the responder is a delegated certificate (OCSPSigning + ocsp-nocheck), not the CA key', async () => {
      const leaf = await issue(env(), pki.profile, 'deleg.example.test');
      s.write('deleg.pem', leaf.certificatePem);
      const r = await ocsp('deleg.pem', ['-resp_text']);
      expect(r.out).toContain('Response verify OK');
      expect(r.out).toMatch(/Responder Id: .*/);
      expect(r.out).toContain('OCSP Signing');
      expect(r.out).toMatch(/OCSP No Check/);
      expect(r.out).toMatch(/Revocation Issuing a OCSP Responder/);
    });

    it('ok/OCSP GET (base64 in the path, slashes unescaped) and several certificates in one request; unknown for foreign serials', async () => {
      const a = await issue(env(), pki.profile, 'get-a.example.test');
      const b = await issue(env(), pki.profile, 'get-b.example.test');
      s.write('get-a.pem', a.certificatePem);
      s.write('get-b.pem', b.certificatePem);
      await env().client().POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: b.id } }, body: { reason: 'cessationOfOperation' } });
      s.ok('ocsp', '-issuer', 'int-a.pem', '-cert', 'get-a.pem', '-cert', 'get-b.pem', '-serial', '0x0badc0ffee', '-no_nonce', '-reqout', 'multi.req');
      const req = s.read('multi.req');
      const res = await env().fetch(`/pki/ocsp/${pki.intId}/${req.toString('base64')}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/ocsp-response');
      expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
      s.write('multi.resp', Buffer.from(await res.arrayBuffer()));
      const out = await s.opensslAsync(['ocsp', '-respin', 'multi.resp', '-reqin', 'multi.req', '-issuer', 'int-a.pem', '-cert', 'get-a.pem', '-cert', 'get-b.pem', '-serial', '0x0badc0ffee', '-CAfile', 'root-a.pem', '-verify_other', 'int-a.pem']);
      expect(out.out).toContain('Response verify OK');
      expect(out.out).toMatch(/get-a\.pem: good/);
      expect(out.out).toMatch(/get-b\.pem: revoked[\s\S]*Reason: cessationOfOperation/);
      expect(out.out).toMatch(/0x0badc0ffee: unknown/i);
      // The same request again is served from the pre-signed cache: identical bytes.
      const res2 = await env().fetch(`/pki/ocsp/${pki.intId}/${encodeURIComponent(req.toString('base64'))}`);
      expect(Buffer.from(await res2.arrayBuffer()).equals(s.read('multi.resp'))).toBe(true);
    });

    it('error/malformed OCSP requests get the OCSP malformedRequest status, never an HTTP error', async () => {
      for (const body of [Buffer.from('not an ocsp request'), Buffer.alloc(0), Buffer.from('3003020101', 'hex')]) {
        const res = await env().fetch(`/pki/ocsp/${pki.intId}`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body });
        expect(res.status).toBeLessThan(500);
        if (res.status === 200) expect(parseOcspResponse(Buffer.from(await res.arrayBuffer())).status).toBe('malformedRequest');
      }
      const get = await env().fetch(`/pki/ocsp/${pki.intId}/%%%garbage`);
      expect(get.status).toBeLessThan(500);
      // A responder that does not know the authority says unauthorized.
      s.ok('ocsp', '-issuer', 'int-a.pem', '-serial', '0x01', '-no_nonce', '-reqout', 'u.req');
      const unknown = await env().fetch(`/pki/ocsp/00000000-0000-7000-8000-000000000000`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: s.read('u.req') });
      expect(unknown.status).toBe(200);
      expect(parseOcspResponse(Buffer.from(await unknown.arrayBuffer())).status).toBe('unauthorized');
    });

    it('ok/CRL: openssl crl verifies it; openssl verify -crl_check rejects the revoked leaf and accepts a good one', async () => {
      const bad = await issue(env(), pki.profile, 'crl-bad.example.test');
      const good = await issue(env(), pki.profile, 'crl-good.example.test');
      s.write('crl-bad.pem', bad.certificatePem);
      s.write('crl-good.pem', good.certificatePem);
      await env().client().POST('/api/v1/revocations', { body: { authorityId: pki.intId, serialNumber: bad.serialNumber.toUpperCase(), reason: 'affiliationChanged' } });
      const info = await settledCrl(env(), pki.intId, 1);
      await fetchCrl(env(), s, pki.intId, 'int-crl');
      const c = await s.opensslAsync(['crl', '-in', 'int-crl.pem', '-CAfile', 'chain-a.pem', '-noout', '-text']);
      expect(c.out).toContain('verify OK');
      expect(c.out).toMatch(/X509v3 CRL Number:\s+\n?\s*\d+/);
      expect(c.out).toMatch(/X509v3 Authority Key Identifier/);
      expect(c.out).toMatch(/Freshest CRL|X509v3 Freshest CRL/i);
      // openssl pads odd-length serials with a leading 0.
      expect(c.out).toMatch(new RegExp(`Serial Number: 0*${bad.serialNumber.toUpperCase().replace(/^0+/, '')}\\b`));
      expect(c.out).toMatch(/Affiliation Changed/);
      const summary = parseCrl(s.read('int-crl.der'));
      expect(String(summary.crlNumber)).toBe(info.crlNumber);

      const rejected = await s.opensslAsync(['verify', '-crl_check', '-CRLfile', 'int-crl.pem', '-CAfile', 'root-a.pem', '-untrusted', 'int-a.pem', 'crl-bad.pem']);
      expect(rejected.out).toMatch(/certificate revoked/);
      expect(rejected.code).not.toBe(0);
      const accepted = await s.opensslAsync(['verify', '-crl_check', '-CRLfile', 'int-crl.pem', '-CAfile', 'root-a.pem', '-untrusted', 'int-a.pem', 'crl-good.pem']);
      expect(accepted.out).toContain('crl-good.pem: OK');

      // PEM flavour, caching headers and a conditional GET.
      const pem = await env().fetch(`/pki/crl/${pki.intId}.pem`);
      expect(await pem.text()).toMatch(/^-----BEGIN X509 CRL-----/);
      const der = await env().fetch(`/pki/crl/${pki.intId}.crl`);
      const etag = der.headers.get('etag')!;
      expect(etag).toBeTruthy();
      expect(der.headers.get('last-modified')).toBeTruthy();
      expect(der.headers.get('cache-control')).toMatch(/max-age=\d+/);
      const again = await env().fetch(`/pki/crl/${pki.intId}.crl`, { headers: { 'if-none-match': etag } });
      expect(again.status).toBe(304);
    });

    it('ok/delta CRL: Delta CRL Indicator naming the base, verified by openssl', async () => {
      await settledCrl(env(), pki.intId, 0);
      await fetchCrl(env(), s, pki.intId, 'delta', true);
      const d = await s.opensslAsync(['crl', '-in', 'delta.pem', '-CAfile', 'chain-a.pem', '-noout', '-text']);
      expect(d.out).toContain('verify OK');
      expect(d.out).toMatch(/Delta CRL Indicator: critical/);
      const full = parseCrl(s.read('int-crl.der'));
      const delta = parseCrl(s.read('delta.der'));
      expect(delta.deltaBase).toBeDefined();
      expect(BigInt(delta.crlNumber!)).toBeGreaterThan(BigInt(delta.deltaBase!));
      expect(BigInt(delta.deltaBase!)).toBeGreaterThanOrEqual(BigInt(full.crlNumber!));
    });

    it('ok/certificateHold can be lifted (removeFromCRL); OCSP and the CRL follow', async () => {
      const leaf = await issue(env(), pki.profile, 'hold.example.test');
      s.write('hold.pem', leaf.certificatePem);
      const held = await env().client().POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: leaf.id } }, body: { reason: 'certificateHold' } });
      expect(held.data).toMatchObject({ status: 'revoked', reason: 'certificateHold' });
      expect((await ocsp('hold.pem')).out).toMatch(/hold\.pem: revoked[\s\S]*Reason: certificateHold/);
      const lifted = await env().client().POST('/api/v1/certificates/{certificateId}/unrevoke', { params: { path: { certificateId: leaf.id } } });
      expect(lifted.response.status, JSON.stringify(lifted.error)).toBe(200);
      expect(lifted.data).toMatchObject({ status: 'active', revokedAt: null });
      expect((await ocsp('hold.pem')).out).toMatch(/hold\.pem: good/);
      await settledCrl(env(), pki.intId, 0);
      const full = parseCrl(await fetchCrl(env(), s, pki.intId, 'after-hold'), { withEntries: true });
      expect(full.entries!.map((e) => e.serialHex)).not.toContain(leaf.serialNumber);
    });

    it('ok/revoking an intermediate puts it on its parent CRL, stops issuance below it, and OCSP answers for it', async () => {
      const api = env().client();
      const sub = await api.POST('/api/v1/authorities', { body: { name: 'rv-sub', kind: 'intermediate', parentId: pki.rootId, subject: { commonName: 'Doomed Issuing CA' } } });
      expect(sub.response.status).toBe(201);
      await api.POST('/api/v1/profiles', { body: { name: 'rv-sub-web', authorityId: sub.data!.id, allowedDomains: ['example.test'], allowSubdomains: true, usage: 'server' } });
      const leaf = await issue(env(), 'rv-sub-web', 'doomed.example.test');
      const r = await api.POST('/api/v1/authorities/{authorityId}/revoke', { params: { path: { authorityId: sub.data!.id } }, body: { reason: 'cACompromise' } });
      expect(r.response.status, JSON.stringify(r.error)).toBe(200);
      expect(r.data!.status).toBe('revoked');
      expect(r.data!.canIssue).toBe(false);
      const refused = await api.POST('/api/v1/certificates', { body: { profile: 'rv-sub-web', subject: { commonName: 'more.example.test' }, sans: { dns: ['more.example.test'] } } });
      expect(refused.response.status).toBeGreaterThanOrEqual(400);
      expect(refused.response.status).toBeLessThan(500);
      // A root cannot be revoked (nothing here signs a CRL for it).
      const root = await api.POST('/api/v1/authorities/{authorityId}/revoke', { params: { path: { authorityId: pki.rootId } }, body: {} });
      expect(root.response.status).toBe(409);

      s.write('sub.pem', sub.data!.certificatePem!);
      s.write('doomed.pem', leaf.certificatePem);
      await settledCrl(env(), pki.rootId, 1);
      await fetchCrl(env(), s, pki.rootId, 'root-crl');
      const rootCrl = await s.opensslAsync(['crl', '-in', 'root-crl.pem', '-CAfile', 'root-a.pem', '-noout', '-text']);
      expect(rootCrl.out).toContain('verify OK');
      expect(rootCrl.out).toMatch(/CA Compromise/);
      await settledCrl(env(), sub.data!.id, 0);
      await fetchCrl(env(), s, sub.data!.id, 'sub-crl');
      s.write('all-crls.pem', Buffer.concat([s.read('root-crl.pem'), s.read('sub-crl.pem')]));
      const v = await s.opensslAsync(['verify', '-crl_check_all', '-CRLfile', 'all-crls.pem', '-CAfile', 'root-a.pem', '-untrusted', 'sub.pem', 'doomed.pem']);
      expect(v.out).toMatch(/certificate revoked/);
      const o = await s.opensslAsync(['ocsp', '-issuer', 'root-a.pem', '-cert', 'sub.pem', '-url', `${env().url}/pki/ocsp/${pki.rootId}`, '-CAfile', 'root-a.pem']);
      expect(o.out).toContain('Response verify OK');
      expect(o.out).toMatch(/sub\.pem: revoked[\s\S]*Reason: cACompromise/);
    });

    it('ok/renewal can revoke its predecessor as superseded', async () => {
      const leaf = await issue(env(), pki.profile, 'renew.example.test');
      const n = await env().client().POST('/api/v1/certificates/{certificateId}/renew', { params: { path: { certificateId: leaf.id } }, body: { revokePredecessor: true } });
      expect(n.response.status, JSON.stringify(n.error)).toBe(201);
      const old = await env().client().GET('/api/v1/certificates/{certificateId}', { params: { path: { certificateId: leaf.id } } });
      expect(old.data).toMatchObject({ status: 'revoked', revocationReason: 'superseded', successorId: n.data!.id });
    });

    it('error/bad input: unknown certificate 404, bad serial 400, future invalidity date 400, unknown CRL 404', async () => {
      const api = env().client();
      const nf = await api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: 'nope' } }, body: {} });
      expect(nf.response.status).toBe(404);
      const badSerial = await api.POST('/api/v1/revocations', { body: { authorityId: pki.intId, serialNumber: 'zz-not-hex' } });
      expect(badSerial.response.status).toBe(400);
      const leaf = await issue(env(), pki.profile, 'future.example.test');
      const future = await api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: leaf.id } }, body: { invalidityDate: '2999-01-01T00:00:00Z' } });
      expect(future.response.status).toBe(400);
      const badReason = await env().fetch(`/api/v1/certificates/${leaf.id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${env().adminToken}`, 'content-type': 'application/json' }, body: '{"reason":"removeFromCRL"}' });
      expect(badReason.status).toBe(400);
      const noCrl = await env().fetch('/pki/crl/00000000-0000-7000-8000-000000000000.crl');
      expect(noCrl.status).toBe(404);
      const noCa = await env().fetch('/pki/ca/00000000-0000-7000-8000-000000000000.crt');
      expect(noCa.status).toBe(404);
      const ca = await env().fetch(`/pki/ca/${pki.intId}.crt`);
      expect(ca.headers.get('content-type')).toBe('application/pkix-cert');
      s.write('aia.der', Buffer.from(await ca.arrayBuffer()));
      expect(s.ok('x509', '-inform', 'DER', '-in', 'aia.der', '-noout', '-subject')).toContain('Revocation Issuing a');
    });

    describe('CRL numbers across replicas', () => {
      it('ok/two replicas generating full and delta CRLs at once, 50 rounds: unique numbers, every delta based on a stored full CRL below it, openssl verifies them all', async () => {
        const pk = await setupPki(env(), s, 'race');
        const leaf = await issue(env(), pk.profile, 'race.example.test');
        await env().client().POST('/api/v1/revocations', { body: { authorityId: pk.intId, serialNumber: leaf.serialNumber, reason: 'keyCompromise' } });
        // Let the job publish (and prune) first: direct generation below never prunes.
        await settledCrl(env(), pk.intId, 1);
        const other = await env().replica();
        try {
          const a = env().app.services;
          const b = other.app.services;
          const made: Array<{ crlNumber: bigint; kind: string }> = [];
          for (let round = 0; round < 50; round++) {
            made.push(...(await Promise.all([generateCrl(a, pk.intId, 'full'), generateCrl(b, pk.intId, 'delta'), generateCrl(a, pk.intId, 'delta'), generateCrl(b, pk.intId, 'full')])));
          }
          expect(new Set(made.map((g) => g.crlNumber.toString())).size).toBe(200);
          const rows = await a.db.selectFrom('crls').select(['crl_number', 'delta_base', 'this_update', 'der']).where('authority_id', '=', pk.intId).orderBy('crl_number').execute();
          const fulls = new Set(rows.filter((r) => r.delta_base === null).map((r) => String(r.crl_number)));
          const deltas = rows.filter((r) => r.delta_base !== null);
          expect(deltas.length).toBeGreaterThanOrEqual(100);
          for (const r of deltas) {
            expect(BigInt(r.delta_base!), `delta ${r.crl_number}`).toBeLessThan(BigInt(r.crl_number));
            expect(fulls.has(String(r.delta_base)), `base ${r.delta_base} of delta ${r.crl_number} is a stored full CRL`).toBe(true);
          }
          // The bytes say the same, and openssl accepts every one.
          const pems: string[] = [];
          for (const r of rows) {
            const crl = parseCrl(r.der);
            expect(String(crl.crlNumber)).toBe(String(r.crl_number));
            expect(crl.deltaBase === undefined ? null : String(crl.deltaBase)).toBe(r.delta_base === null ? null : String(r.delta_base));
            pems.push(pemEncode(Buffer.from(r.der), 'X509 CRL'));
          }
          for (let k = 0; k < pems.length; k++) {
            s.write(`race-${k}.pem`, pems[k]);
            const v = await s.opensslAsync(['crl', '-in', `race-${k}.pem`, '-CAfile', 'chain-race.pem', '-noout']);
            expect(v.out, `CRL ${rows[k].crl_number}`).toContain('verify OK');
          }
        } finally {
          await other.stop();
        }
      }, 240_000);
    });

    describe('1,000 revocations in parallel', () => {
      it('ok/every one is in the next CRL; CRL numbers strictly increase; concurrent generators never share a number', async () => {
        const burst = await setupPki(env(), s, 'burst');
        const api = env().client();
        const ids: { id: string; serial: string }[] = [];
        for (let i = 0; i < 1000; i += 50) {
          const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => issue(env(), burst.profile, `b${i + j}.example.test`)));
          ids.push(...batch.map((c) => ({ id: c.id, serial: c.serialNumber })));
        }
        // The CRL before the burst: the one after it must carry a higher number.
        const before = BigInt((await settledCrl(env(), burst.intId, 0)).crlNumber);
        const seen: bigint[] = [before];
        const watcher = (async () => {
          for (let k = 0; k < 20; k++) {
            const info = await api.GET('/api/v1/authorities/{authorityId}/crl', { params: { path: { authorityId: burst.intId } } });
            seen.push(BigInt(info.data!.crlNumber));
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        const results = await Promise.all(ids.map((c) => api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: c.id } }, body: { reason: 'superseded' } })));
        expect(results.every((r) => r.response.status === 200 && r.data!.alreadyRevoked === false)).toBe(true);
        // Several generators at once (as several replicas would): the database arbitrates the numbers.
        const svc = env().app.services;
        await markCrlDirty(svc.db, burst.intId, svc.clock.now().toISOString());
        await Promise.all([refreshCrl(svc, burst.intId), refreshCrl(svc, burst.intId), refreshCrl(svc, burst.intId)]);
        // Generators that do not share a process (replicas) race for numbers: each gets its own.
        const raced = await Promise.all([generateCrl(svc, burst.intId, 'full'), generateCrl(svc, burst.intId, 'full'), generateCrl(svc, burst.intId, 'full')]);
        expect(new Set(raced.map((g) => g.crlNumber.toString())).size).toBe(3);
        await watcher;
        const info = await settledCrl(env(), burst.intId, 1000);
        const crl = parseCrl(await fetchCrl(env(), s, burst.intId, 'burst'), { withEntries: true });
        const listed = new Set(crl.entries!.map((e) => e.serialHex));
        expect(ids.filter((c) => !listed.has(c.serial))).toEqual([]);
        expect(info.entries).toBe(1000);
        for (let k = 1; k < seen.length; k++) expect(seen[k]).toBeGreaterThanOrEqual(seen[k - 1]);
        expect(BigInt(info.crlNumber)).toBeGreaterThan(before);
        const rows = await svc.db.selectFrom('crls').select(['crl_number', 'this_update']).where('authority_id', '=', burst.intId).orderBy('crl_number').execute();
        const numbers = rows.map((r) => BigInt(r.crl_number));
        expect(new Set(numbers.map(String)).size).toBe(numbers.length);
        for (let k = 1; k < rows.length; k++) expect(rows[k].this_update >= rows[k - 1].this_update).toBe(true);
        const v = await s.opensslAsync(['crl', '-in', 'burst.pem', '-CAfile', 'chain-burst.pem', '-noout']);
        expect(v.out).toContain('verify OK');
      }, 240_000);
    });
  },
  { env: { CERTA_JOBS: 'true', CERTA_CRL_COALESCE_MS: '200', CERTA_NOTIFY_INTERVAL: '3600' } },
);

const rotationClock = new TestClock();
rotationClock.offsetMs = -25 * 86_400_000;

forEachDialect(
  'OCSP responder rotation',
  (env) => {
    const s = new Scratch();
    afterAll(() => s.cleanup());

    it('ok/the delegated responder certificate is re-issued when a third of its life remains; both verify with openssl', async () => {
      // 25 days ago: a CA, a leaf and a first OCSP answer (responder valid 30 days).
      const pki = await setupPki(env(), s, 'rot');
      const leaf = await issue(env(), pki.profile, 'rot.example.test');
      s.write('rot.pem', leaf.certificatePem);
      s.ok('ocsp', '-issuer', 'int-rot.pem', '-cert', 'rot.pem', '-no_nonce', '-reqout', 'rot.req');
      const first = await env().fetch(`/pki/ocsp/${pki.intId}`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: s.read('rot.req') });
      const oldResponder = parseOcspResponse(Buffer.from(await first.arrayBuffer())).certificates[0];
      expect(oldResponder).toBeDefined();
      // Today: 5 days left on that responder, under a third of 30: a new one answers.
      rotationClock.offsetMs = 0;
      const r = await s.opensslAsync(['ocsp', '-issuer', 'int-rot.pem', '-cert', 'rot.pem', '-url', `${env().url}/pki/ocsp/${pki.intId}`, '-CAfile', 'root-rot.pem', '-verify_other', 'int-rot.pem', '-resp_text']);
      expect(r.out).toContain('Response verify OK');
      expect(r.out).toMatch(/rot\.pem: good/);
      s.ok('ocsp', '-issuer', 'int-rot.pem', '-cert', 'rot.pem', '-no_nonce', '-reqout', 'rot2.req');
      const second = await env().fetch(`/pki/ocsp/${pki.intId}`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: s.read('rot2.req') });
      const newResponder = parseOcspResponse(Buffer.from(await second.arrayBuffer())).certificates[0];
      expect(newResponder.equals(oldResponder)).toBe(false);
      const rows = await env().app.services.db.selectFrom('ocsp_responders').select(['not_after']).where('authority_id', '=', pki.intId).orderBy('not_after').execute();
      expect(rows).toHaveLength(2);
      rotationClock.offsetMs = -25 * 86_400_000;
    });
  },
  { clock: rotationClock },
);
