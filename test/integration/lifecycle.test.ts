import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';

const base = (dataDir: string) => ({ CERTA_PORT: '0', CERTA_HOST: '127.0.0.1', CERTA_DATA_DIR: dataDir, CERTA_LOG_LEVEL: 'silent', CERTA_JOBS: 'false' });

async function login(url: string, email: string, password: string) {
  return fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
}

describe('lifecycle (SQLite, zero configuration)', () => {
  it('ok/first start creates admin@certa.local with a generated password logged once; a second start reuses the data', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-life-'));
    const lines: any[] = [];
    const sink = { write: (s: string) => lines.push(JSON.parse(s)) };
    try {
      const a = new App({ config: loadConfig(base(dataDir)), logger: createLogger('info', sink as any) });
      await a.start();
      const first = lines.find((l) => l.bootstrapAdmin);
      expect(first.msg).toMatch(/FIRST START/);
      const password = first.bootstrapAdmin.initialPassword;
      expect((await login(a.url, 'admin@certa.local', password)).status).toBe(200);
      await a.stop();

      lines.length = 0;
      const b = new App({ config: loadConfig(base(dataDir)), logger: createLogger('info', sink as any) });
      await b.start();
      expect(lines.find((l) => l.bootstrapAdmin)).toBeUndefined();
      expect((await login(b.url, 'admin@certa.local', password)).status).toBe(200);
      await b.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ok/graceful stop lets an in-flight request finish, then refuses new connections', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-life-'));
    try {
      const app = new App({ config: loadConfig({ ...base(dataDir), CERTA_ADMIN_PASSWORD: 'admin-password-for-tests' }), logger: createLogger('silent') });
      await app.start();
      const url = app.url;
      // A login costs an argon2id verification: in flight while stop() begins.
      const inflight = login(url, 'admin@certa.local', 'admin-password-for-tests');
      while (app.inflightRequests === 0) await new Promise((r) => setImmediate(r));
      const stopping = app.stop();
      const res = await inflight;
      expect(res.status).toBe(200);
      await stopping;
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ok/the real entry point starts with npm-start semantics and stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-main-'));
    try {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const child = execFile(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, CERTA_PORT: String(port), CERTA_HOST: '127.0.0.1', CERTA_DATA_DIR: dataDir, CERTA_LOG_LEVEL: 'info' },
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      const deadline = Date.now() + 30_000;
      while (!out.includes('certa listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(out).toContain('certa stopped');
      // Logs are JSON lines with no secret but the one-time bootstrap password.
      for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('error/a bad variable stops the process with a message naming it', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = execFile(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, CERTA_PORT: 'abc' } }, () => {});
      let err = '';
      c.stderr!.on('data', (d) => (err += d));
      c.on('exit', (code) => resolve({ code, err }));
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain('CERTA_PORT');
  });
});
