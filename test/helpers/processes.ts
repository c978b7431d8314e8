/**
 * Fault-injection kit: the service as a real child process (started the way production
 * starts it, killed with real signals) and a private PostgreSQL cluster that a test may
 * stop and start (initdb into a temp dir, a free loopback port). The shared server on
 * 5432 is never stopped or reconfigured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process exits. */
  readonly exited: Promise<number | string>;
  /** True while the process runs. */
  alive(): boolean;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface ServiceOptions {
  /** Environment on top of a minimal one (CERTA_PORT/HOST are set unless given). */
  env: Record<string, string>;
  /** A command the service runs under, e.g. `['prlimit', '--nofile=1024:1024']`. */
  wrap?: string[];
  /** Wait for /healthz (default true). */
  waitReady?: boolean;
  timeoutMs?: number;
}

/** Start `src/main.ts` in its own process and wait until it answers /healthz. */
export async function startService(opts: ServiceOptions): Promise<ServiceProcess> {
  const port = opts.env.CERTA_PORT ? Number(opts.env.CERTA_PORT) : await freePort();
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    CERTA_HOST: '127.0.0.1',
    CERTA_LOG_LEVEL: 'warn',
    ...opts.env,
    CERTA_PORT: String(port),
  };
  const argv = [...(opts.wrap ?? []), process.execPath, '--import', 'tsx', join(ROOT, 'src/main.ts')];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  let running = true;
  const exited = new Promise<number | string>((r) =>
    child.once('exit', (code, signal) => {
      running = false;
      r(code ?? signal ?? -1);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const svc: ServiceProcess = {
    child,
    url,
    port,
    output: () => out,
    exited,
    alive: () => running,
    async kill(signal = 'SIGKILL') {
      if (running) child.kill(signal);
      return exited;
    },
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      if (!running) throw new Error(`service exited before it was ready:\n${out}`);
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.ok) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`service not ready within ${opts.timeoutMs ?? 60_000} ms:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return svc;
}

function pgBin(name: string): string {
  const r = spawnSync('sh', ['-c', `ls -d /usr/lib/postgresql/*/bin/${name} 2>/dev/null | sort -V | tail -n1`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  if (found) return found;
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!which) throw new Error(`${name} not found (PostgreSQL server binaries are needed for the private cluster)`);
  return which;
}

/** PostgreSQL refuses to run as root: run its binaries as the postgres user when we are root. */
function asPgUser(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', bin, ...args]];
  return [bin, args];
}

export interface PrivateCluster {
  readonly port: number;
  readonly dir: string;
  /** postgres://postgres@127.0.0.1:PORT/DB */
  url(db?: string): string;
  start(): Promise<void>;
  /** Fast shutdown (what a failover looks like to clients: connections cut, server gone). */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/** initdb a throwaway cluster into a temp dir, on a free loopback port, trust auth. */
export async function createPrivateCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'certa-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  const run = (bin: string, args: string[]) => {
    const [cmd, a] = asPgUser(pgBin(bin), args);
    const r = spawnSync(cmd, a, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  writeFileSync(
    join(data, 'postgresql.auto.conf'),
    [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${dir}'`, 'fsync = off', 'max_connections = 50', ''].join('\n'),
  );
  const cluster: PrivateCluster = {
    port,
    dir,
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async start() {
      run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    },
    async stop() {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
    async destroy() {
      try {
        const [cmd, a] = asPgUser(pgBin('pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
        spawnSync(cmd, a);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  await cluster.start();
  return cluster;
}
