/**
 * Verification benchmark: chain verifications per second over HTTP (`verifyChain`) for a
 * 3-certificate ECDSA P-256 chain issued by Certa, with the root supplied (no database
 * read) and with internal trust (authorities from the database), plus the engine alone
 * (in process, sequential) for comparison. The load generator runs in a forked process.
 *
 * The same chain again and again is the cache-friendly case (parsed certificates and
 * signature outcomes are shared across requests). The realistic case is also measured:
 * every request carries a different leaf (more leaves than the caches hold), built here
 * with the issuance code under a bench root and intermediate, so the leaf is parsed and
 * its signature verified on every request; only the CA certificates are warm.
 *
 * With `--processes N` (N > 1) the internal-trust case is run once more against N service
 * processes on the same store (this one plus N-1 forked by bench/replica.worker.ts), the
 * load spread evenly over them.
 *
 *   node --import tsx bench/verify.bench.ts [sqlite|postgres] [--seconds 10] [--concurrency 32] [--processes 1]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadInChild, report, startBenchApp } from './lib.js';
import type { LoadJob } from './http-load.worker.js';
import { verifyChain, parseCertificateBundle } from '../src/pki/verify/index.js';
import { buildCertificate, generateKeyPair, pemEncode } from '../src/pki/x509.js';

/** root -> intermediate -> `n` distinct leaves, all P-256, built in process (not stored anywhere). */
async function externalChains(n: number): Promise<{ rootPem: string; chains: string[] }> {
  const day = 86_400_000;
  const notBefore = new Date(Date.now() - day);
  const rootKey = await generateKeyPair('ecdsa-p256');
  const root = await buildCertificate({ subject: { commonName: 'Bench External Root' }, publicKey: rootKey.publicKey, issuer: { self: true, privateKey: rootKey.privateKey }, notBefore, notAfter: new Date(Date.now() + 3650 * day), ca: { pathLength: null, nameConstraints: null } });
  const intKey = await generateKeyPair('ecdsa-p256');
  const int = await buildCertificate({ subject: { commonName: 'Bench External Issuing' }, publicKey: intKey.publicKey, issuer: { certificateDer: root.der, privateKey: rootKey.privateKey }, notBefore, notAfter: new Date(Date.now() + 1825 * day), ca: { pathLength: 0, nameConstraints: null } });
  const leafKey = await generateKeyPair('ecdsa-p256');
  const intPem = pemEncode(int.der, 'CERTIFICATE');
  const chains: string[] = [];
  for (let i = 0; i < n; i++) {
    const leaf = await buildCertificate({ subject: { commonName: `host${i}.bench.test` }, publicKey: leafKey.publicKey, issuer: { certificateDer: int.der, privateKey: intKey.privateKey }, notBefore, notAfter: new Date(Date.now() + 90 * day), sans: { dns: [`host${i}.bench.test`], ip: [], email: [], uri: [] }, usage: 'server' });
    chains.push(pemEncode(leaf.der, 'CERTIFICATE') + intPem);
  }
  return { rootPem: pemEncode(root.der, 'CERTIFICATE'), chains };
}

const args = process.argv.slice(2);
const dialect = (args.find((a) => a === 'sqlite' || a === 'postgres') ?? 'sqlite') as 'sqlite' | 'postgres';
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const seconds = Number(opt('seconds', '10'));
const concurrency = Number(opt('concurrency', '32'));
const processes = Number(opt('processes', '1'));


const b = await startBenchApp(dialect);
try {
  const auth = { authorization: `Bearer ${b.token}` };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(b.url + path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as any;
  };
  const root = await post('/api/v1/authorities', { name: 'vb-root', kind: 'root', subject: { commonName: 'Bench Root' } });
  const int = await post('/api/v1/authorities', { name: 'vb-int', kind: 'intermediate', parentId: root.id, subject: { commonName: 'Bench Issuing' } });
  await post('/api/v1/profiles', { name: 'vb', authorityId: int.id, allowedDomains: ['bench.test'], allowSubdomains: true, usage: 'server' });
  const leaf = await post('/api/v1/certificates', { profile: 'vb', subject: { commonName: 'www.bench.test' }, sans: { dns: ['www.bench.test'] } });
  const chain = leaf.certificatePem + int.certificatePem;

  console.log(`Certa verification benchmark on ${dialect} (node ${process.version}), concurrency ${concurrency}`);
  const url = `${b.url}/api/v1/verify/chain`;
  const job = (name: string, body: unknown): LoadJob => ({
    name,
    concurrency,
    durationMs: seconds * 1000,
    requests: [{ method: 'POST', url, body: Buffer.from(JSON.stringify(body)).toString('base64'), contentType: 'application/json', headers: auth }],
  });
  const check = await post('/api/v1/verify/chain', { certificates: chain, trust: ['supplied'], trustAnchors: root.certificatePem, hostname: 'www.bench.test' });
  if (!check.valid) throw new Error(`the bench chain does not verify: ${JSON.stringify(check.errors)}`);
  report(await loadInChild('http-load', job(`verifyChain, 3 certs P-256, root supplied, ${dialect}`, { certificates: chain, trust: ['supplied'], trustAnchors: root.certificatePem, hostname: 'www.bench.test' })));
  report(await loadInChild('http-load', job(`verifyChain, 3 certs P-256, internal trust, ${dialect}`, { certificates: chain, trust: ['internal'], hostname: 'www.bench.test' })));

  if (processes > 1) {
    const children = Array.from({ length: processes - 1 }, () =>
      fork(fileURLToPath(new URL('./replica.worker.ts', import.meta.url)), [b.app.config.dataDir, b.app.config.databaseUrl ?? ''], { execArgv: ['--import', 'tsx'] }),
    );
    try {
      const urls = [b.url, ...(await Promise.all(children.map((c) => new Promise<string>((resolve) => c.once('message', (m) => resolve(m as string))))))];
      const body = Buffer.from(JSON.stringify({ certificates: chain, trust: ['internal'], hostname: 'www.bench.test' })).toString('base64');
      report(
        await loadInChild('http-load', {
          ...job(`verifyChain, internal trust, ${processes} processes, ${dialect}`, {}),
          concurrency: concurrency * 2,
          requests: urls.map((u) => ({ method: 'POST', url: `${u}/api/v1/verify/chain`, body, contentType: 'application/json', headers: auth })),
        }),
      );
    } finally {
      for (const c of children) c.send('stop');
      await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    }
  }

  // A different leaf on every request: more leaves than the parsed-certificate cache holds.
  const external = await externalChains(6000);
  const bodies = external.chains.map((c, i) => ({ certificates: c, trust: ['supplied'], trustAnchors: external.rootPem, hostname: `host${i}.bench.test` }));
  const first = await post('/api/v1/verify/chain', bodies[0]);
  if (!first.valid) throw new Error(`the external bench chain does not verify: ${JSON.stringify(first.errors)}`);
  report(
    await loadInChild('http-load', {
      ...job(`verifyChain, 3 certs P-256, new leaf each time, ${dialect}`, bodies[0]),
      requests: bodies.map((body) => ({ method: 'POST', url, body: Buffer.from(JSON.stringify(body)).toString('base64'), contentType: 'application/json', headers: auth })),
    }),
  );

  // The engine alone: the ceiling behind HTTP, JSON and auth.
  const certificates = parseCertificateBundle(chain);
  const anchors = parseCertificateBundle(root.certificatePem);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < (seconds * 1000) / 2) {
    const r = await verifyChain({ leaf: certificates[0], intermediates: certificates.slice(1), trustAnchors: anchors, at: new Date(), mode: 'webpki', peerName: { kind: 'dns', value: 'www.bench.test' } });
    if (!r.valid) throw new Error('engine: invalid');
    n++;
  }
  console.log(`${'engine alone (in process, sequential)'.padEnd(48)} ${String(n).padStart(7)} req  ${(n / ((performance.now() - t0) / 1000)).toFixed(0).padStart(9)}/s`);
} finally {
  await b.close();
}
