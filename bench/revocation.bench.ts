/**
 * Revocation benchmark, end to end through the running service:
 *  - OCSP over HTTP: one certificate (pre-signed cache), random certificates among 100k
 *    (status lookup + signature per request), and POST with a nonce (never cached);
 *  - CRL generation from the database (streamed rows -> signed DER -> stored) for 100k and
 *    1M revoked entries, each size in its own child process so peak RSS is its own.
 *
 *   node --import tsx bench/revocation.bench.ts [sqlite|postgres] [--seconds 10] [--crl 100000,1000000] [--ocsp false]
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadInChild, report, startBenchApp, type BenchApp } from './lib.js';
import { sql } from 'kysely';
import { certIdFor } from '../src/pki/ocsp.js';
import { generateCrl } from '../src/revocation/crl.service.js';

const args = process.argv.slice(2);
const dialect = (args.find((a) => a === 'sqlite' || a === 'postgres') ?? 'sqlite') as 'sqlite' | 'postgres';
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const seconds = Number(opt('seconds', '10'));
const crlSizes = opt('crl', '100000,1000000').split(',').filter(Boolean).map(Number);

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** DER SEQUENCE around already-encoded parts (short and long lengths). */
function seq(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([0x30]), len, body]);
}

/** OCSPRequest { tbsRequest { requestList { Request { CertID } } } }, optionally with a nonce. */
function ocspRequest(issuerDer: Buffer, serialHex: string, nonce = false): Buffer {
  const certId = certIdFor(issuerDer, serialHex).der;
  const parts = [seq(seq(certId))];
  if (nonce) {
    const value = Buffer.concat([Buffer.from([0x04, 0x10]), randomBytes(16)]);
    const ext = seq(Buffer.from('06092b0601050507300102', 'hex'), Buffer.concat([Buffer.from([0x04, value.length]), value]));
    parts.push(Buffer.concat([Buffer.from([0xa2]), (() => {
      const e = seq(ext);
      return Buffer.concat([Buffer.from([e.length]), e]);
    })()]));
  }
  return seq(seq(...parts));
}

async function api(b: BenchApp, method: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(b.url + path, { method, headers: { authorization: `Bearer ${b.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function setupCa(b: BenchApp) {
  const root = await api(b, 'POST', '/api/v1/authorities', { name: 'bench-root', kind: 'root', subject: { commonName: 'Bench Root' } });
  const int = await api(b, 'POST', '/api/v1/authorities', { name: 'bench-int', kind: 'intermediate', parentId: root.id, subject: { commonName: 'Bench Issuing' } });
  await api(b, 'POST', '/api/v1/profiles', { name: 'bench', authorityId: int.id, allowedDomains: ['bench.test'], allowSubdomains: true, usage: 'server' });
  const leaf = await api(b, 'POST', '/api/v1/certificates', { profile: 'bench', subject: { commonName: 'seed.bench.test' }, sans: { dns: ['seed.bench.test'] } });
  const intRow = await b.app.services.db.selectFrom('authorities').select(['certificate_der']).where('id', '=', int.id).executeTakeFirstOrThrow();
  return { intId: int.id as string, intDer: intRow.certificate_der!, leaf };
}

/** Inventory rows for n certificates (the bench needs their statuses, not n signatures). */
async function seedCertificates(b: BenchApp, authorityId: string, templateId: string, n: number, revoked: boolean): Promise<string[]> {
  const db = b.app.services.db;
  const t = await db.selectFrom('certificates').selectAll().where('id', '=', templateId).executeTakeFirstOrThrow();
  const serials: string[] = [];
  const now = new Date().toISOString();
  const batch = 500;
  for (let i = 0; i < n; i += batch) {
    const rows = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const serial = '7' + randomBytes(15).toString('hex');
      serials.push(serial);
      rows.push({
        ...t,
        id: `bench-${j}-${serial.slice(0, 8)}`,
        authority_id: authorityId,
        serial,
        fingerprint_sha256: createHash('sha256').update(serial).digest('hex'),
        revoked_at: revoked ? now : null,
        revocation_reason: revoked ? (j % 3 ? 'keyCompromise' : 'superseded') : null,
        created_at: now,
        updated_at: now,
      });
    }
    await db.insertInto('certificates').values(rows).execute();
  }
  return serials;
}



async function ocspBench(): Promise<void> {
  const b = await startBenchApp(dialect, { CERTA_OCSP_CACHE_SECONDS: '60' });
  try {
    const { intId, intDer, leaf } = await setupCa(b);
    console.log(`seeding 100,000 certificates (${dialect})...`);
    const serials = await seedCertificates(b, intId, leaf.id, 100_000, false);
    const base = `${b.url}/pki/ocsp/${intId}`;
    const durationMs = seconds * 1000;
    const concurrency = 32;
    const b64 = (der: Buffer) => encodeURIComponent(der.toString('base64'));
    const one = ocspRequest(intDer, leaf.serialNumber);
    report(await loadInChild('http-load', { name: `OCSP GET, one certificate (cached), ${dialect}`, concurrency, durationMs, requests: [{ method: 'GET', url: `${base}/${b64(one)}` }] }));
    // The same with autocannon (cheaper client, HTTP/1.1 pipelining as OCSP caches and proxies do).
    for (const pipelining of [1, 4]) {
      report(await loadInChild('autocannon', { name: `OCSP GET cached, autocannon x${pipelining}, ${dialect}`, url: `${base}/${b64(one)}`, connections: 32, pipelining, seconds }));
    }
    // Random certificates: 20,000 distinct requests, so nearly every one is looked up and signed.
    const random = Array.from({ length: 20_000 }, () => ({ method: 'GET' as const, url: `${base}/${b64(ocspRequest(intDer, serials[Math.floor(Math.random() * serials.length)]))}` }));
    report(await loadInChild('http-load', { name: `OCSP GET, random among 100k, ${dialect}`, concurrency, durationMs, requests: random }));
    // The responder alone (no HTTP): what one core does behind any HTTP front.
    const svc = b.app.services;
    for (const [name, make] of [
      ['responder core, one certificate (cached)', () => one],
      ['responder core, random among 100k (lookup + sign)', () => ocspRequest(intDer, serials[Math.floor(Math.random() * serials.length)])],
    ] as const) {
      let n = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < durationMs / 2) {
        await svc.ocsp.respond(intId, make());
        n++;
      }
      console.log(`${`${name}, ${dialect}`.padEnd(48)} ${String(n).padStart(7)} req  ${(n / ((performance.now() - t0) / 1000)).toFixed(0).padStart(9)}/s  (sequential, in process)`);
    }
    const nonced = Array.from({ length: 20_000 }, () => ({ method: 'POST' as const, url: base, body: ocspRequest(intDer, leaf.serialNumber, true).toString('base64'), contentType: 'application/ocsp-request' }));
    report(await loadInChild('http-load', { name: `OCSP POST with nonce (signed per request), ${dialect}`, concurrency, durationMs, requests: nonced }));
  } finally {
    await b.close();
  }
}

/** Child mode: seed n revoked rows, then time one full CRL generation. */
async function crlChild(n: number): Promise<void> {
  const b = await startBenchApp(dialect);
  try {
    const { intId, leaf } = await setupCa(b);
    const t0 = performance.now();
    await seedCertificates(b, intId, leaf.id, n, true);
    const seedS = (performance.now() - t0) / 1000;
    // What autovacuum does after a bulk change: without statistics PostgreSQL sorts every page.
    if (dialect === 'postgres') await sql`analyze certificates`.execute(b.app.services.db);
    if (global.gc) global.gc();
    const before = peakRssMiB();
    const t1 = performance.now();
    const crl = await generateCrl(b.app.services, intId, 'full');
    const genS = (performance.now() - t1) / 1000;
    const row = await b.app.services.db.selectFrom('crls').select(['der']).where('authority_id', '=', intId).executeTakeFirstOrThrow();
    console.log(
      `CRL ${String(n).padStart(8)} entries (${dialect}): generated in ${genS.toFixed(2)} s, ${(row.der.length / 1024 / 1024).toFixed(1)} MiB DER, ` +
        `peak RSS ${peakRssMiB().toFixed(0)} MiB (${before.toFixed(0)} MiB before generation; seeding took ${seedS.toFixed(1)} s), entries=${crl.entries}`,
    );
  } finally {
    await b.close();
  }
}

const self = fileURLToPath(import.meta.url);
if (args.includes('--crl-child')) {
  await crlChild(Number(opt('crl-child', '100000')));
} else {
  console.log(`Certa revocation benchmark on ${dialect} (node ${process.version})`);
  if (opt('ocsp', 'true') !== 'false') await ocspBench();
  for (const n of crlSizes) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', self, dialect, '--crl-child', String(n)], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = 1;
  }
}
