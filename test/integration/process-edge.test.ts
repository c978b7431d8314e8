/**
 * The service as a real process at its edges: a port that cannot be bound, `npm start`
 * under a supervisor's SIGTERM, and a slowloris crowd against a low open-files limit.
 */
import { describe, expect, it } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startService } from '../helpers/processes.js';

const ROOT = resolve(import.meta.dirname, '../..');

function holdPort(): Promise<{ server: Server; port: number }> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res({ server, port: (server.address() as { port: number }).port }));
  });
}

/** True when nothing accepts connections on the port. */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(false);
    });
    s.once('error', () => res(true));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `pid` (npm -> sh? -> node). */
async function descendants(pid: number): Promise<number[]> {
  const { stdout } = await promisify(execFile)('ps', ['-o', 'pid=', '--ppid', String(pid)]).catch(() => ({ stdout: '' }));
  const direct = stdout.split('\n').map((l) => Number(l.trim())).filter(Boolean);
  return [...direct, ...(await Promise.all(direct.map(descendants))).flat()];
}

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a port that cannot be bound', () => {
  it('error/first start with the port taken: one line naming CERTA_PORT, exit 1, no admin created; the next start creates it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-port-'));
    const held = await holdPort();
    try {
      const first = await startService({ env: { CERTA_PORT: String(held.port), CERTA_DATA_DIR: dataDir }, waitReady: false });
      expect(await first.exited).toBe(1);
      const out = first.output();
      expect(out).toContain(`certa: cannot listen on 127.0.0.1:${held.port}: the port is already in use by another process (choose another with CERTA_PORT, or stop that process)`);
      expect(out).not.toMatch(/^\s+at /m);
      expect(out).not.toContain('initialPassword');
      await new Promise<void>((r) => held.server.close(() => r()));

      const second = await startService({ env: { CERTA_PORT: String(held.port), CERTA_DATA_DIR: dataDir } });
      try {
        // The admin is created (and its one-time password shown) by the start that succeeds.
        expect(second.output()).toMatch(/"initialPassword":"[^"]{12,}"/);
      } finally {
        await second.kill('SIGTERM');
      }
    } finally {
      held.server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('error/CERTA_HOST not an address of this machine: one line naming CERTA_HOST', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-host-'));
    try {
      const svc = await startService({ env: { CERTA_HOST: '192.0.2.1', CERTA_DATA_DIR: dataDir }, waitReady: false });
      expect(await svc.exited).toBe(1);
      expect(svc.output()).toContain(`certa: cannot listen on 192.0.2.1:${svc.port}: 192.0.2.1 is not an address of this machine (set CERTA_HOST, e.g. 0.0.0.0 for every interface)`);
      expect(svc.output()).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('npm start under a supervisor', () => {
  it('ok/SIGTERM to the npm process stops the service: the port is freed and no process is left', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-npm-'));
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', CERTA_PORT: String(port), CERTA_HOST: '127.0.0.1', CERTA_DATA_DIR: dataDir, CERTA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | string>((r) => npm.once('exit', (code, signal) => r(code ?? signal ?? -1)));
    let children: number[] = [];
    try {
      await waitFor(
        `npm start answering on ${port}`,
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false)) || npm.exitCode !== null,
        60_000,
      );
      expect(npm.exitCode, out).toBeNull();
      children = await descendants(npm.pid!);
      expect(children.length).toBeGreaterThan(0);

      npm.kill('SIGTERM');
      await exited;
      await waitFor('the port freed', () => portFree(port), 5000);
      await waitFor('npm start children gone', () => children.every((pid) => !alive(pid)), 5000);
    } finally {
      for (const pid of children) if (alive(pid)) process.kill(pid, 'SIGKILL');
      if (npm.exitCode === null) npm.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('slowloris against a 1024 open-files limit', () => {
  it('ok/4,000 connections sending headers slowly: /healthz and /readyz answer promptly, the slow ones are closed after the headers timeout', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-slowloris-'));
    const headersTimeoutMs = 2000;
    const svc = await startService({ env: { CERTA_DATA_DIR: dataDir, CERTA_HEADERS_TIMEOUT_MS: String(headersTimeoutMs) }, wrap: ['prlimit', '--nofile=1024:1024'] });
    const sockets: Socket[] = [];
    let closed = 0;
    try {
      const open = () =>
        new Promise<void>((res) => {
          const s = connect(svc.port, '127.0.0.1');
          sockets.push(s);
          s.once('close', () => closed++);
          s.on('error', () => {});
          s.once('connect', () => {
            // A request line and one header, never the blank line that ends them.
            s.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
            const drip = setInterval(() => (s.destroyed ? clearInterval(drip) : s.write('X-a: b\r\n')), 500);
            s.once('close', () => clearInterval(drip));
            res();
          });
          s.once('error', () => res());
        });
      for (let i = 0; i < 4000; i += 200) await Promise.all(Array.from({ length: 200 }, open));
      const opened = Date.now();

      for (const path of ['/healthz', '/readyz']) {
        const started = Date.now();
        const r = await fetch(`${svc.url}${path}`, { signal: AbortSignal.timeout(3000) });
        expect(r.status, path).toBe(200);
        expect(Date.now() - started, `${path} latency`).toBeLessThan(2000);
      }
      // Evicted to make room, or refused with 408 when their headers timed out (+ the 1 s check, + the 2 s linger).
      await waitFor(`all 4000 slow connections closed (${closed} so far)`, () => closed === sockets.length, headersTimeoutMs + 1000 + 2000 + 4000);
      expect(Date.now() - opened).toBeLessThan(headersTimeoutMs + 7000);
      expect(svc.alive()).toBe(true);
      expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      await svc.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
