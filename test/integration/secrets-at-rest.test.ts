/**
 * Scans the raw SQLite file (and WAL) for every secret the test handed to the service:
 * passwords and tokens must not appear in plaintext anywhere on disk.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';

forEachDialect('no plaintext secret in the database', (env) => {
  it('passwords, session tokens and API tokens are absent from the database files', async () => {
    if (env().dialect !== 'sqlite') {
      // PostgreSQL: scan every text column of every table through SQL instead of files.
      const secrets = await makeSecrets(env);
      const tables = ['users', 'roles', 'user_roles', 'tokens', 'audit_events', 'secrets'];
      for (const t of tables) {
        const rows = await env().app.store.db.selectFrom(t as any).selectAll().execute();
        const dump = JSON.stringify(rows);
        for (const s of secrets) expect(dump.includes(s), `${t} contains a secret`).toBe(false);
      }
      return;
    }
    const secrets = await makeSecrets(env);
    const files = ['certa.db', 'certa.db-wal'].map((f) => join(env().dataDir, f)).filter(existsSync);
    expect(files.length).toBeGreaterThan(0);
    const blob = Buffer.concat(files.map((f) => readFileSync(f)));
    for (const s of secrets) {
      expect(blob.includes(Buffer.from(s)), `found a secret on disk: ${s.slice(0, 10)}…`).toBe(false);
      expect(blob.includes(Buffer.from(s, 'utf16le'))).toBe(false);
    }
  });
});

async function makeSecrets(env: () => import('../helpers/harness.js').TestEnv): Promise<string[]> {
  const u = await env().userWithRoles(['operator']);
  const api = env().client(u.token);
  const t = await api.POST('/api/v1/tokens', { body: { name: 'scan', permissions: ['certificates:read'] } });
  await env().client(null).POST('/api/v1/auth/login', { body: { email: u.email, password: 'typo-' + u.password } });
  return [u.password, u.token, t.data!.token, 'admin-password-for-tests', env().adminToken];
}
