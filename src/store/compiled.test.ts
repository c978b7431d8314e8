/**
 * Queries compiled once (compiled.ts) behave as the same Kysely builder run every time, on
 * both databases, inside and outside transactions; booleans bind on SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openStore, type Store } from './db.js';
import { compiledQuery } from './compiled.js';

const usersByNameAndState = compiledQuery((db, name: string, disabled: boolean) =>
  db.selectFrom('users').select(['id', 'display_name', 'disabled']).where('display_name', '=', name).where('disabled', '=', disabled).orderBy('id'),
);

describe.each(['sqlite', 'postgres'] as const)('compiledQuery on %s', (dialect) => {
  let store: Store;
  let dir: string;
  let pgSchema: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-compiled-'));
    pgSchema = dialect === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
    store = openStore({ dataDir: dir, databaseUrl: dialect === 'postgres' ? inject('pgUrl') : null, pgSchema, poolSize: 2 });
    await store.migrate();
    const now = new Date().toISOString();
    for (const [id, name, disabled] of [
      ['u1', 'alice', false],
      ['u2', 'team', true],
      ['u3', 'team', false],
    ] as const) {
      await store.db.insertInto('users').values({ id, email: `${id}@example.test`, display_name: name, password_hash: 'x', disabled, created_at: now, updated_at: now }).execute();
    }
  });
  afterAll(async () => {
    await store.close();
    if (pgSchema) {
      const admin = new pg.Client({ connectionString: inject('pgUrl') });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('ok/each call binds its own arguments (booleans included) and matches the builder run anew', async () => {
    for (const [name, disabled, ids] of [
      ['alice', false, ['u1']],
      ['team', true, ['u2']],
      ['team', false, ['u3']],
      ['nobody', false, []],
    ] as const) {
      const built = await store.db.selectFrom('users').select(['id', 'display_name', 'disabled']).where('display_name', '=', name).where('disabled', '=', disabled).orderBy('id').execute();
      const rows = await usersByNameAndState(store.db, name, disabled);
      expect(rows).toEqual(built);
      expect(rows.map((r) => r.id)).toEqual(ids);
    }
  });

  it('ok/inside a transaction it sees the transaction\'s own writes', async () => {
    await store.db.transaction().execute(async (tx) => {
      const now = new Date().toISOString();
      await tx.insertInto('users').values({ id: 'u4', email: 'u4@example.test', display_name: 'in-tx', password_hash: 'x', disabled: false, created_at: now, updated_at: now }).execute();
      expect((await usersByNameAndState(tx, 'in-tx', false)).map((r) => r.id)).toEqual(['u4']);
    });
  });

  it('error/a builder that does not bind every argument is refused when first compiled', async () => {
    const careless = compiledQuery((db, email: string) => db.selectFrom('users').select('id').where('email', '=', email.length > 0 ? 'constant' : 'other'));
    await expect(careless(store.db, 'a@example.test')).rejects.toThrow(/every argument must be used as a bound value/);
  });
});
