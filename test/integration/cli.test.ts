/**
 * The `certa` CLI (clients/typescript/src/cli.ts) run as a real process against the
 * service: login, listing operations, JSON bodies from options, binary downloads, errors.
 */
import { afterAll, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachDialect, ADMIN_EMAIL, ADMIN_PASSWORD } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';

const CLI = join(import.meta.dirname, '../../clients/typescript/src/cli.ts');

function certa(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

forEachDialect('certa CLI', (env) => {
  const home = mkdtempSync(join(tmpdir(), 'certa-cli-'));
  const s = new Scratch();
  afterAll(() => {
    rmSync(home, { recursive: true, force: true });
    s.cleanup();
  });
  const base = () => ({ CERTA_URL: env().url, XDG_CONFIG_HOME: home, CERTA_TOKEN: '' });

  it('ok/login saves a session (0600) that later commands use; operations lists every operationId', async () => {
    const login = await certa(['login', '--email', ADMIN_EMAIL], { ...base(), CERTA_PASSWORD: ADMIN_PASSWORD });
    expect(login.code, login.err).toBe(0);
    const f = join(home, 'certa', 'session.json');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const me = await certa(['getCurrentUser'], base());
    expect(me.code, me.err).toBe(0);
    expect(JSON.stringify(JSON.parse(me.out))).toContain(ADMIN_EMAIL);
    const ops = await certa(['operations'], base());
    expect(ops.code).toBe(0);
    for (const id of ['issueCertificate', 'revokeCertificate', 'verifyChain', 'createNotificationChannel', 'ocspPost']) expect(ops.out).toContain(id);
    expect(JSON.parse(readFileSync(f, 'utf8')).token).toBeTruthy();
  });

  it('ok/a whole issuance from the command line; binary download with --out is a real certificate', async () => {
    const e = { ...base(), CERTA_TOKEN: env().adminToken };
    const root = await certa(['createAuthority', '--name', 'cli-root', '--kind', 'root', '--subject', '{"commonName":"CLI Root"}'], e);
    expect(root.code, root.err).toBe(0);
    const rootId = JSON.parse(root.out).id;
    const prof = await certa(['createProfile', '--name', 'cli-web', '--authorityId', rootId, '--allowedDomains', '["cli.example.test"]', '--usage', 'server'], e);
    expect(prof.code, prof.err).toBe(0);
    const cert = await certa(['issueCertificate', '--profile', 'cli-web', '--subject', '{"commonName":"cli.example.test"}', '--sans', '{"dns":["cli.example.test"]}'], e);
    expect(cert.code, cert.err).toBe(0);
    const id = JSON.parse(cert.out).id;
    const der = await certa(['getCertificate', '--certificateId', id, '--format', 'der', '--out', s.path('cli.der')], e);
    expect(der.code, der.err).toBe(0);
    expect(s.ok('x509', '-inform', 'DER', '-in', 'cli.der', '-noout', '-subject')).toContain('cli.example.test');
    const list = await certa(['listCertificates', '--q', 'cli.example', '--limit', '5'], e);
    expect(list.code, list.err).toBe(0);
    expect(JSON.parse(list.out).items).toHaveLength(1);
  });

  it('error/usage errors exit 2 with a message; HTTP errors exit 1 with the problem on stderr', async () => {
    const e = { ...base(), CERTA_TOKEN: env().adminToken };
    const unknown = await certa(['noSuchOperation'], e);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown operation/);
    const missing = await certa(['getCertificate'], e);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--certificateId is required/);
    const nf = await certa(['getCertificate', '--certificateId', 'nope'], e);
    expect(nf.code).toBe(1);
    expect(nf.err).toMatch(/404/);
    expect(nf.err).toMatch(/not_found/);
    const anon = await certa(['listCertificates'], { ...base(), XDG_CONFIG_HOME: join(home, 'empty') });
    expect(anon.code).toBe(1);
    expect(anon.err).toMatch(/401/);
  });
});
