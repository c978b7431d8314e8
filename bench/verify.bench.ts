/**
 * Verification benchmark: chain verifications per second over HTTP (`verifyChain`) for a
 * 3-certificate ECDSA P-256 chain issued by Certa, with the root supplied (no database
 * read) and with internal trust (authorities from the database), plus the engine alone
 * (in process, sequential) for comparison. The load generator runs in a forked process.
 *
 *   node --import tsx bench/verify.bench.ts [sqlite|postgres] [--seconds 10] [--concurrency 32]
 */
import { loadInChild, report, startBenchApp } from './lib.js';
import type { LoadJob } from './http-load.worker.js';
import { verifyChain, parseCertificateBundle } from '../src/pki/verify/index.js';

const args = process.argv.slice(2);
const dialect = (args.find((a) => a === 'sqlite' || a === 'postgres') ?? 'sqlite') as 'sqlite' | 'postgres';
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const seconds = Number(opt('seconds', '10'));
const concurrency = Number(opt('concurrency', '32'));


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
