/**
 * CRL build benchmark: time and peak RSS to build (and sign, P-256) CRLs of 100k and
 * 1M entries streamed from an async generator (as rows from the database would be),
 * each size in its own child process so that peak RSS (VmHWM) is its own.
 * Also times parseCrl (count) and `openssl crl` verifying the result.
 *
 *   node --import tsx bench/crl.bench.ts [entries...]     default: 100000 1000000
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCrl, crlToPem, parseCrl, type CrlEntry, type CrlReason } from '../src/pki/crl.js';
import { createTestKit } from '../src/pki/crl-openssl.testkit.js';

const MiB = 1024 * 1024;

/** Peak resident set size of this process, in MiB. */
function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS / 1024;
}

type Profile = 'mixed' | 'max';

/**
 * Rows as a database cursor would yield them. `mixed`: random 16-octet serials and a
 * mix of reasons (1 in 8 keyCompromise with an invalidity date). `max`: the largest
 * entries possible (20-octet serials, every entry with a reason and an invalidity date).
 */
async function* rows(n: number, profile: Profile): AsyncGenerator<CrlEntry> {
  if (profile === 'max') {
    const base = Date.UTC(2026, 0, 1);
    for (let i = 0; i < n; i += 4096) {
      const batch = randomBytes(20 * 4096).toString('hex');
      for (let j = 0; j < 4096 && i + j < n; j++) {
        const revokedAt = new Date(base + (i + j) * 1000);
        yield { serialHex: 'f' + batch.slice(j * 40 + 1, j * 40 + 40), revokedAt, reason: 'keyCompromise', invalidityDate: new Date(revokedAt.getTime() - 86_400_000) };
      }
    }
    return;
  }
  const reasons: (CrlReason | undefined)[] = ['superseded', 'superseded', 'superseded', 'keyCompromise', 'cessationOfOperation', undefined, 'affiliationChanged', undefined];
  const base = Date.UTC(2026, 0, 1);
  for (let i = 0; i < n; i += 4096) {
    const batch = randomBytes(16 * 4096).toString('hex');
    for (let j = 0; j < 4096 && i + j < n; j++) {
      const reason = reasons[(i + j) & 7];
      const revokedAt = new Date(base + (i + j) * 1000);
      yield {
        serialHex: batch.slice(j * 32, j * 32 + 32),
        revokedAt,
        reason,
        invalidityDate: reason === 'keyCompromise' ? new Date(revokedAt.getTime() - 86_400_000) : undefined,
      };
    }
  }
}

async function child(n: number, profile: Profile, dir: string): Promise<void> {
  const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const { createPrivateKey } = await import('node:crypto');
  const key = createPrivateKey(readFileSync(join(dir, 'ca.key')));
  const rssBefore = process.memoryUsage().rss / MiB;
  const t0 = performance.now();
  const der = await buildCrl({
    issuerCertificate: caPem,
    signingKey: key,
    crlNumber: 1n,
    thisUpdate: new Date('2026-11-01T00:00:00Z'),
    nextUpdate: new Date('2026-11-08T00:00:00Z'),
    entries: rows(n, profile),
  });
  const buildMs = performance.now() - t0;
  const peak = peakRssMiB();
  const t1 = performance.now();
  const summary = parseCrl(der);
  const parseMs = performance.now() - t1;
  if (summary.entryCount !== n) throw new Error(`expected ${n} entries, parsed ${summary.entryCount}`);
  writeFileSync(join(dir, `crl-${profile}-${n}.pem`), crlToPem(der));
  console.log(JSON.stringify({ n, profile, buildMs, parseMs, sizeMiB: der.length / MiB, rssBeforeMiB: rssBefore, peakRssMiB: peak }));
}

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  if (process.argv[2] === '--child') return child(Number(process.argv[3]), process.argv[4] as Profile, process.argv[5]);

  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  const kit = createTestKit('crl-bench');
  try {
    kit.ca('ca', 'p256');
    console.log(`CRL build, ECDSA P-256, entries streamed from an async generator (node ${process.version})`);
    console.log('entries   profile  build      parse(count)  openssl verify  size       peak RSS (VmHWM)  RSS before build');
    const runs: Array<[number, Profile]> = sizes.length ? sizes.map((n) => [n, 'mixed']) : [[100_000, 'mixed'], [1_000_000, 'mixed'], [1_000_000, 'max']];
    for (const [n, profile] of runs) {
      const r = spawnSync(process.execPath, [...process.execArgv, self, '--child', String(n), profile, kit.dir], { encoding: 'utf8', maxBuffer: 16 * MiB });
      if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout.trim().split('\n').pop()!);
      const t = performance.now();
      const v = spawnSync('openssl', ['crl', '-in', `crl-${profile}-${n}.pem`, '-CAfile', 'ca.pem', '-noout'], { cwd: kit.dir, encoding: 'utf8' });
      const out = v.stdout + v.stderr;
      const verifyMs = performance.now() - t;
      const ok = /verify OK/.test(out) ? 'OK' : 'FAILED';
      console.log(
        `${String(n).padEnd(9)} ${profile.padEnd(6)} ${(m.buildMs / 1000).toFixed(2).padStart(6)} s   ${(m.parseMs / 1000).toFixed(2).padStart(6)} s      ${(verifyMs / 1000).toFixed(2).padStart(6)} s ${ok}   ${m.sizeMiB.toFixed(1).padStart(6)} MiB  ${m.peakRssMiB.toFixed(0).padStart(6)} MiB        ${m.rssBeforeMiB.toFixed(0)} MiB`,
      );
    }
  } finally {
    kit.cleanup();
  }
}

await main();
