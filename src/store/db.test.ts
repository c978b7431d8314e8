/**
 * Dialect-specific plumbing of the store. SQLite: the WAL checkpointer (committed pages
 * reach the database file from the worker thread, without any commit crossing SQLite's
 * own auto-checkpoint threshold; closing the store stops it). PostgreSQL: named prepared
 * statements survive another process changing a table under them.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { openStore, type Store } from './db.js';
import { newId } from '../lib/ids.js';

describe('SQLite store: checkpoints off the request path', () => {
  let dir: string;
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ok/committed pages reach the database file though no commit reaches the auto-checkpoint threshold', async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-wal-'));
    store = openStore({ dataDir: dir, databaseUrl: null });
    await store.migrate();
    const file = join(dir, 'certa.db');
    const before = statSync(file).size;
    // About 300 pages of WAL: far below the 10,000-page safety net.
    for (let i = 0; i < 300; i++) {
      await store.db
        .insertInto('audit_events')
        .values({ id: newId(), at: new Date().toISOString(), actor_user_id: null, actor_email: null, actor_token_id: null, action: 'test', target: `t-${i}`.padEnd(400, 'x'), outcome: 'success', status: 200, request_id: `r-${i}`, ip: null, detail: 'y'.repeat(2000) })
        .execute();
    }
    let grown = statSync(file).size;
    for (const deadline = Date.now() + 10_000; grown <= before + 300 * 2000 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
      grown = statSync(file).size;
    }
    expect(grown).toBeGreaterThan(before + 300 * 2000);
    const rows = await store.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).where('action', '=', 'test').executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(300);
  });

  it('ok/close stops the checkpointer and the data is all there when reopened', async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-wal-'));
    const first = openStore({ dataDir: dir, databaseUrl: null });
    await first.migrate();
    await first.db.insertInto('audit_events').values({ id: newId(), at: new Date().toISOString(), actor_user_id: null, actor_email: null, actor_token_id: null, action: 'reopen', target: null, outcome: 'success', status: 200, request_id: 'r', ip: null, detail: null }).execute();
    await first.close();
    store = openStore({ dataDir: dir, databaseUrl: null });
    const row = await store.db.selectFrom('audit_events').selectAll().where('action', '=', 'reopen').executeTakeFirst();
    expect(row?.request_id).toBe('r');
  });
});

describe('PostgreSQL store: prepared statements', () => {
  it('ok/a query keeps working after another process changes the table under its prepared plan', async () => {
    const pgUrl = inject('pgUrl');
    const pgSchema = `t_${randomBytes(6).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'certa-pgprep-'));
    const store = openStore({ dataDir: dir, databaseUrl: pgUrl, pgSchema, poolSize: 1 });
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    try {
      await store.migrate();
      await admin.query(`INSERT INTO ${pgSchema}.roles (id, name, description, permissions, builtin, created_at, updated_at) VALUES ('r1', 'probe-role', 'd', '[]', false, now(), now())`);
      const read = () => store.db.selectFrom('roles').selectAll().where('name', '=', 'probe-role').execute();
      const before = await read();
      expect(before).toHaveLength(1);
      // Another replica migrates: the row type of `select *` changes under the prepared plan.
      await admin.query(`ALTER TABLE ${pgSchema}.roles ADD COLUMN probe text DEFAULT 'x'`);
      const after = await read();
      expect(after).toHaveLength(1);
      expect((after[0] as Record<string, unknown>).probe).toBe('x');
      expect(await read()).toHaveLength(1);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
