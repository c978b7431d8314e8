/**
 * Issuance and inventory benchmark, end to end through the running service:
 *  - issueCertificate from pre-generated P-256 CSRs (ECDSA P-256 root -> intermediate), at
 *    concurrency 16 and 64; then with server-side P-256 key generation;
 *  - the inventory list with 100k stored certificates: first page, a filtered page
 *    (status=active&expiresBefore=...), a `q=` search and a deep cursor page.
 * Load comes from a forked child (bench/http-load.worker.ts), so it has its own core.
 *
 *   node --import tsx bench/issuance.bench.ts [sqlite|postgres|both] [--seconds 8] [--csrs 2000] [--rows 100000] [--list-concurrency 4] [--phases issue,list]
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { loadInChild, startBenchApp, type BenchApp, type LoadResult } from './lib.js';
import type { LoadJob } from './http-load.worker.js';
import { createCsr } from '../src/pki/x509.js';
import { encodeCursor } from '../src/store/pagination.js';

const args = process.argv.slice(2);
const which = args.find((a) => a === 'sqlite' || a === 'postgres' || a === 'both') ?? 'both';
const dialects = (which === 'both' ? ['sqlite', 'postgres'] : [which]) as Array<'sqlite' | 'postgres'>;
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const seconds = Number(opt('seconds', '8'));
const csrCount = Number(opt('csrs', '2000'));
const rowCount = Number(opt('rows', '100000'));
const listConcurrency = Number(opt('list-concurrency', '4'));
const phases = new Set(opt('phases', 'issue,list').split(','));
const DAY = 86_400_000;

async function api(b: BenchApp, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(b.url + path, { method, headers: { authorization: `Bearer ${b.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function setupCa(b: BenchApp) {
  const root = await api(b, 'POST', '/api/v1/authorities', { name: 'bench-root', kind: 'root', subject: { commonName: 'Bench Root' }, keyAlgorithm: 'ecdsa-p256' });
  const int = await api(b, 'POST', '/api/v1/authorities', { name: 'bench-int', kind: 'intermediate', parentId: root.id, subject: { commonName: 'Bench Issuing' }, keyAlgorithm: 'ecdsa-p256' });
  const profile = await api(b, 'POST', '/api/v1/profiles', { name: 'bench', authorityId: int.id, allowedDomains: ['bench.test'], allowSubdomains: true, keyAlgorithms: ['ecdsa-p256'], usage: 'server' });
  return { intId: int.id as string, profileId: profile.id as string };
}

/** P-256 CSRs made with node:crypto + the service's own CSR builder (names go in the body). */
async function makeCsrBodies(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const cn = `h${i}.bench.test`;
    const csr = await createCsr({ commonName: cn }, privateKey, publicKey);
    out.push(JSON.stringify({ profile: 'bench', csr, sans: { dns: [cn] }, validityDays: 30 }));
  }
  return out;
}


/** n inventory rows copied from a real issued row; not_after spread over a year. */
async function seedInventory(b: BenchApp, templateId: string, n: number): Promise<void> {
  const db = b.app.services.db;
  const t = await db.selectFrom('certificates').selectAll().where('id', '=', templateId).executeTakeFirstOrThrow();
  const now = Date.now();
  const batch = 500;
  for (let i = 0; i < n; i += batch) {
    const rows = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const serial = '5' + randomBytes(15).toString('hex');
      const cn = `host-${j}.svc${j % 97}.bench.test`;
      const createdAt = new Date(now - (n - j) * 1000).toISOString();
      const revoked = j % 20 === 0;
      const archived = j % 50 === 1;
      rows.push({
        ...t,
        id: `seed-${String(j).padStart(7, '0')}-${serial.slice(0, 8)}`,
        serial,
        common_name: cn,
        subject: JSON.stringify({ commonName: cn }),
        sans: JSON.stringify({ dns: [cn], ip: [], email: [], uri: [] }),
        search_text: cn,
        fingerprint_sha256: createHash('sha256').update(serial).digest('hex'),
        not_after: new Date(now + Math.floor(Math.random() * 365 * DAY) - 20 * DAY).toISOString(),
        owner: j % 10 === 0 ? `team${j % 7}@bench.test` : null,
        revoked_at: revoked ? createdAt : null,
        revocation_reason: revoked ? 'keyCompromise' : null,
        archived_at: archived ? createdAt : null,
        created_at: createdAt,
        updated_at: createdAt,
      });
    }
    await db.insertInto('certificates').values(rows).execute();
  }
}

function fmt(r: LoadResult): string {
  return `${r.name.padEnd(46)} ${String(r.requests).padStart(7)} ${r.throughput.toFixed(0).padStart(8)}/s ${r.p50.toFixed(1).padStart(7)} ${r.p90.toFixed(1).padStart(7)} ${r.p99.toFixed(1).padStart(7)} ${r.max.toFixed(1).padStart(8)} ${String(r.errors).padStart(6)}`;
}
const HEADER = `${'scenario'.padEnd(46)} ${'req'.padStart(7)} ${'thrpt'.padStart(10)} ${'p50 ms'.padStart(7)} ${'p90 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(8)} ${'errors'.padStart(6)}`;

async function benchDialect(dialect: 'sqlite' | 'postgres', csrBodies: string[]): Promise<LoadResult[]> {
  const results: LoadResult[] = [];
  const b = await startBenchApp(dialect);
  try {
    const { profileId } = await setupCa(b);
    const headers = { authorization: `Bearer ${b.token}` };
    const post = (body: string) => ({ method: 'POST' as const, url: `${b.url}/api/v1/certificates`, body: Buffer.from(body).toString('base64'), contentType: 'application/json', headers });
    const durationMs = seconds * 1000;
    // Warm-up: JIT, connection pool, statement caches.
    await loadInChild('http-load', { name: 'warm-up', concurrency: 8, durationMs: 1500, requests: csrBodies.slice(0, 200).map(post), okStatuses: [201] });
    for (const concurrency of phases.has('issue') ? [16, 64] : []) {
      const r = await loadInChild('http-load', { name: `issue (CSR, P-256) c=${concurrency}, ${dialect}`, concurrency, durationMs, requests: csrBodies.map(post), okStatuses: [201] });
      results.push(r);
      console.log(fmt(r));
    }
    const keygen = Array.from({ length: 500 }, (_, i) => post(JSON.stringify({ profile: 'bench', subject: { commonName: `k${i}.bench.test` }, sans: { dns: [`k${i}.bench.test`] }, keyAlgorithm: 'ecdsa-p256', validityDays: 30 })));
    for (const concurrency of phases.has('issue') ? [16, 64] : []) {
      const r = await loadInChild('http-load', { name: `issue (server key, P-256) c=${concurrency}, ${dialect}`, concurrency, durationMs, requests: keygen, okStatuses: [201] });
      results.push(r);
      console.log(fmt(r));
    }

    if (!phases.has('list')) return results;
    // Inventory: rowCount rows on top of what issuance stored.
    const template = await b.app.services.db.selectFrom('certificates').select('id').where('profile_id', '=', profileId).limit(1).executeTakeFirstOrThrow();
    const t0 = performance.now();
    await seedInventory(b, template.id, rowCount);
    const total = Number((await b.app.services.db.selectFrom('certificates').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    console.log(`(seeded ${rowCount} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${total} certificates stored)`);
    if (dialect === 'postgres') await (await import('kysely')).sql`ANALYZE certificates`.execute(b.app.services.db);
    const deep = await b.app.services.db
      .selectFrom('certificates')
      .select(['id', 'not_after'])
      .where('archived_at', 'is', null)
      .orderBy('not_after')
      .orderBy('id')
      .offset(Math.floor(total * 0.9))
      .limit(1)
      .executeTakeFirstOrThrow();
    const na = deep.not_after as unknown;
    const cursor = encodeCursor(na instanceof Date ? na.toISOString() : String(na), deep.id);
    const soon = new Date(Date.now() + 30 * DAY).toISOString();
    const get = (q: string) => ({ method: 'GET' as const, url: `${b.url}/api/v1/certificates?${q}`, headers });
    const lists: Array<[string, LoadJob['requests']]> = [
      ['list first page (limit=50)', [get('limit=50')]],
      ['list status=active&expiresBefore=+30d', [get(`limit=50&status=active&expiresBefore=${encodeURIComponent(soon)}`)]],
      ['list q= (substring, few hits)', Array.from({ length: 200 }, (_, i) => get(`limit=50&q=host-${(i * 487) % rowCount}.`))],
      ['list q= (substring, many hits)', Array.from({ length: 97 }, (_, i) => get(`limit=50&q=svc${i}.`))],
      ['list deep cursor page (90%)', [get(`limit=50&cursor=${cursor}`)]],
      ['list sort=-createdAt (limit=50)', [get('limit=50&sort=-createdAt')]],
    ];
    for (const [name, requests] of lists) {
      const r = await loadInChild('http-load', { name: `${name}, ${dialect}`, concurrency: listConcurrency, durationMs: Math.max(3000, durationMs / 2), requests });
      results.push(r);
      console.log(fmt(r));
    }
  } finally {
    await b.close();
  }
  return results;
}

const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`Certa issuance benchmark (node ${process.version}); load average before: ${la()}`);
const t0 = performance.now();
const csrBodies = await makeCsrBodies(csrCount);
console.log(`(generated ${csrCount} P-256 CSRs in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
console.log(HEADER);
const all: LoadResult[] = [];
for (const d of dialects) all.push(...(await benchDialect(d, csrBodies)));
console.log(`\nsummary (list at concurrency ${listConcurrency}; load average after: ${la()})`);
console.log(HEADER);
for (const r of all) console.log(fmt(r));
