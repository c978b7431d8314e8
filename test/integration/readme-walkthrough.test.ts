/**
 * The README's "First steps with curl" walkthrough runs as written: its `sh` blocks,
 * concatenated, are run by dash (a POSIX sh without bash arrays) with `set -e` against
 * the real service as a child process. Only the two lines a reader edits change: the
 * base URL and the first-start password. OpenSSL must say `leaf.pem: OK` before the
 * revocation and `leaf.pem: revoked` from the OCSP responder after it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '../helpers/processes.js';

const root = resolve(import.meta.dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const section = /## First steps with curl\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
const script = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
const PASSWORD = 'walkthrough-password-for-tests';
const hasTools = ['dash', 'curl', 'jq', 'openssl'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

describe('README walkthrough', () => {
  it('is POSIX sh: no bash arrays, jq named as a prerequisite, OCSP asked after the revocation', () => {
    expect(script.length).toBeGreaterThan(500);
    expect(script).not.toMatch(/\w+=\(|\$\{\w+\[[@*]\]\}/);
    expect(section).toMatch(/Prerequisites:[^\n]*`jq`/);
    expect(script.indexOf('openssl ocsp')).toBeGreaterThan(script.indexOf('/revoke'));
    expect(script).toMatch(/^BASE=http:\/\/localhost:8080$/m);
    expect(script).toMatch(/^PASSWORD='[^']*'$/m);
  });

  describe.skipIf(!hasTools)('against the real service', () => {
    const dir = mkdtempSync(join(tmpdir(), 'certa-readme-'));
    let service: ServiceProcess | undefined;
    afterAll(async () => {
      await service?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    it('ok/runs in dash with set -e; openssl verifies the leaf, then OCSP says revoked', { timeout: 120_000 }, async () => {
      service = await startService({ env: { CERTA_DATA_DIR: join(dir, 'data'), CERTA_ADMIN_PASSWORD: PASSWORD, CERTA_LOG_LEVEL: 'error' } });
      const runnable = script.replace(/^BASE=.*$/m, `BASE=${service.url}`).replace(/^PASSWORD=.*$/m, `PASSWORD='${PASSWORD}'`);
      const r = spawnSync('dash', ['-e', '-c', runnable], { cwd: dir, encoding: 'utf8', timeout: 90_000 });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, out).toBe(0);
      // Every API answer the reader sees up to the revocation is a success, not a problem
      // document (the last step, verifyEndpoint on example.com, needs Internet access).
      const beforeVerify = r.stdout.slice(0, r.stdout.indexOf('leaf.pem: revoked'));
      expect(beforeVerify).not.toMatch(/problem|"status":\s*[45]\d\d|"title":/);
      expect(out).toMatch(/"token": "certa_/);
      expect(out).toMatch(/"operator"/);
      expect(out).toMatch(/^leaf\.pem: OK$/m);
      expect(out).toMatch(/^Response verify OK$/m);
      expect(out).toMatch(/^leaf\.pem: revoked$/m);
      expect(out.indexOf('leaf.pem: revoked')).toBeGreaterThan(out.indexOf('leaf.pem: OK'));
    });
  });
});
