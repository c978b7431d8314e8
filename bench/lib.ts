/**
 * Shared benchmark helpers: a closed-loop load generator (N workers, each awaiting its
 * previous request) that reports throughput and latency percentiles, and app start-up on
 * either dialect in a throwaway data dir / database.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { App } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** CPU time of this process (the service under test: all its threads) per request, in µs. */
  serverCpuUs?: number;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Run `fn` from `concurrency` workers until `total` calls or `durationMs` elapse. */
export async function load(name: string, opts: { concurrency: number; total?: number; durationMs?: number }, fn: (i: number) => Promise<boolean | void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = opts.durationMs ? started + opts.durationMs : Infinity;
  const total = opts.total ?? Infinity;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < total && performance.now() < deadline) {
        const i = next++;
        const t0 = performance.now();
        try {
          if ((await fn(i)) === false) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name,
    requests: latencies.length,
    errors,
    seconds: round(seconds),
    throughput: round(latencies.length / seconds),
    p50: round(percentile(latencies, 50)),
    p90: round(percentile(latencies, 90)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies[latencies.length - 1] ?? 0),
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

export function report(r: LoadResult): void {
  const cpu = r.serverCpuUs === undefined ? '' : `  service CPU ${r.serverCpuUs} µs/req`;
  console.log(`${r.name.padEnd(48)} ${String(r.requests).padStart(7)} req  ${String(r.throughput).padStart(9)}/s  p50 ${r.p50} ms  p90 ${r.p90} ms  p99 ${r.p99} ms  max ${r.max} ms  errors ${r.errors}${cpu}`);
}

export interface BenchApp {
  app: App;
  url: string;
  token: string;
  close(): Promise<void>;
}

/** The configuration of a bench service process: quiet, no jobs, no login throttling. */
export function benchConfig(dataDir: string, databaseUrl: string | undefined, env: Record<string, string> = {}) {
  return loadConfig({
    CERTA_PORT: '0',
    CERTA_HOST: '127.0.0.1',
    CERTA_DATA_DIR: dataDir,
    CERTA_ADMIN_PASSWORD: 'bench-admin-password',
    CERTA_LOG_LEVEL: 'silent',
    CERTA_JOBS: 'false',
    CERTA_LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
    ...(databaseUrl ? { CERTA_DATABASE_URL: databaseUrl, CERTA_DB_POOL_SIZE: '20' } : {}),
    ...env,
  });
}

/** Start an App on SQLite (temp dir) or PostgreSQL (a throwaway database). */
export async function startBenchApp(dialect: 'sqlite' | 'postgres', env: Record<string, string> = {}): Promise<BenchApp> {
  const dataDir = mkdtempSync(join(tmpdir(), `certa-bench-${dialect}-`));
  let dbName: string | null = null;
  const adminUrl = process.env.CERTA_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  let databaseUrl: string | undefined;
  if (dialect === 'postgres') {
    dbName = `certa_bench_${randomBytes(4).toString('hex')}`;
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`CREATE DATABASE ${dbName}`);
    await c.end();
    const u = new URL(adminUrl);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const config = benchConfig(dataDir, databaseUrl, env);
  const app = new App({ config, logger: createLogger('silent') });
  await app.start();
  const res = await fetch(`${app.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@certa.local', password: 'bench-admin-password' }),
  });
  const { token } = (await res.json()) as { token: string };
  return {
    app,
    url: app.url,
    token,
    async close() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (dbName) {
        const c = new pg.Client({ connectionString: adminUrl });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await c.end();
      }
    },
  };
}

/**
 * Run a load generator in a forked child process (its own core on a 2-core machine):
 * `http-load.worker.ts` (node:http, per-request bodies and headers) or
 * `autocannon.worker.ts` (cheaper client, optional pipelining). The job goes over IPC.
 */
export function loadInChild(worker: 'http-load' | 'autocannon', job: object): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL(`./${worker}.worker.ts`, import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
    // Per-core capacity: `BENCH_LOADGEN_CPU=1 taskset -c 0 npm run bench:...` keeps the
    // service (all its threads) on core 0 and moves the load generator to core 1.
    if (process.env.BENCH_LOADGEN_CPU) execFileSync('taskset', ['-a', '-p', '-c', process.env.BENCH_LOADGEN_CPU, String(child.pid)], { stdio: 'ignore' });
    // The service runs in this process: its CPU per request is steadier than throughput on
    // a shared machine (the load generator's own cost is not in it).
    const cpu0 = process.cpuUsage();
    child.once('message', (m) => {
      const r = m as LoadResult;
      const cpu = process.cpuUsage(cpu0);
      resolve({ ...r, serverCpuUs: r.requests ? Math.round((cpu.user + cpu.system) / r.requests) : undefined });
    });
    child.once('error', reject);
    child.send(job);
  });
}

