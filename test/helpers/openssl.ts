/** Run the real openssl binary in a scratch directory (the peer every artefact must satisfy). */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'certa-openssl-'));
  write(name: string, content: string | Buffer): string {
    const p = join(this.dir, name);
    writeFileSync(p, content);
    return p;
  }
  read(name: string): Buffer {
    return readFileSync(join(this.dir, name));
  }
  path(name: string): string {
    return join(this.dir, name);
  }
  /** openssl with args; returns {code, out} (stdout + stderr) without throwing. */
  openssl(...args: string[]): { code: number; out: string } {
    const r = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8' });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
  }
  /**
   * openssl without blocking the event loop: required whenever the peer it talks to
   * (a TLS server, the OCSP responder) lives in this test process. Killed after timeoutMs.
   */
  opensslAsync(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; out: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('openssl', args, { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out });
      });
      child.stdin.on('error', () => {}); // the child may exit without reading its input
      child.stdin.end(opts.input ?? '');
    });
  }
  /** openssl that must succeed; returns stdout. */
  ok(...args: string[]): string {
    return execFileSync('openssl', args, { cwd: this.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
