/**
 * The external-certificates migration on a database that already holds certificates, on
 * both dialects: existing rows become `source: issued` and keep their labels, notification
 * marks and indexes (SQLite rebuilds the table), an authority-less row can then be stored,
 * and a second row with the same fingerprint cannot.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Migrator, sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { openStore, isUniqueViolation } from '../db.js';
import { migrations } from './index.js';

const BEFORE = '2026-12-04T18-40-crl-counter';

describe.each(['sqlite', 'postgres'] as const)('migration 2026-12-04T19-00-external-certificates [%s]', (dialect) => {
  it('ok/existing certificates become issued rows with their labels, indexes and any other column; external rows can follow; fingerprints are unique', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certa-mig-ext-'));
    const pgSchema = dialect === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
    const pgUrl = dialect === 'postgres' ? inject('pgUrl') : null;
    const store = openStore({ dataDir: dir, databaseUrl: pgUrl, pgSchema, poolSize: 1 });
    const db = store.db as any;
    try {
      if (pgSchema) await sql`create schema ${sql.id(pgSchema)}`.execute(db);
      // Step 1: the schema as it was before, with one issued certificate.
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      const to = await migrator.migrateTo(BEFORE);
      expect(to.error).toBeUndefined();
      // A column another branch's migration might have added before this one runs.
      await sql`alter table certificates add column probe text`.execute(db);
      const now = new Date().toISOString();
      await db.insertInto('authorities').values({ id: 'a1', name: 'Root', kind: 'root', status: 'active', subject: '{}', subject_dn: 'CN=Root', created_at: now, updated_at: now }).execute();
      const cert = (id: string, fp: string) => ({
        id, serial: id, common_name: 'x.example', subject: '{}', sans: '{"dns":[],"ip":[],"email":[],"uri":[]}', search_text: 'x.example', not_before: now, not_after: now,
        fingerprint_sha256: fp, key_algorithm: 'ecdsa-p256', der: Buffer.from('der'), server_key: false, created_at: now, updated_at: now,
      });
      await db.insertInto('certificates').values({ ...cert('c1', 'f1'), authority_id: 'a1', revoked_at: now, probe: 'kept' }).execute();
      await db.insertInto('certificate_labels').values({ certificate_id: 'c1', key: 'team', value: 'payments' }).execute();

      // Step 2: migrate.
      expect(await store.migrate()).toContain('2026-12-04T19-00-external-certificates');
      const row = await db.selectFrom('certificates').selectAll().where('id', '=', 'c1').executeTakeFirst();
      expect(row).toMatchObject({ source: 'issued', authority_id: 'a1', issuer_dn: null, verification: null, revoked_at: now, probe: 'kept' });
      expect(await db.selectFrom('certificate_labels').selectAll().execute()).toEqual([{ certificate_id: 'c1', key: 'team', value: 'payments' }]);
      if (dialect === 'sqlite') {
        const idx = await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'certificates'`.execute(db);
        expect(idx.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['certificates_revoked_serial_idx', 'certificates_list_search_idx', 'certificates_crl_idx', 'certificates_fingerprint_uq']));
        // The labels still cascade from the rebuilt table.
        const fk = await sql`pragma foreign_keys`.execute(db);
        expect(fk.rows).toEqual([{ foreign_keys: 1 }]);
      }

      // Step 3: an external row (no authority) fits; the same fingerprint twice does not.
      await db.insertInto('certificates').values({ ...cert('c2', 'f2'), authority_id: null, source: 'external', issuer_dn: 'CN=Elsewhere' }).execute();
      const dup = await db.insertInto('certificates').values({ ...cert('c3', 'f2'), authority_id: null, source: 'external' }).execute().catch((e: unknown) => e);
      expect(isUniqueViolation(dup)).toBe(true);
      await db.deleteFrom('certificates').where('id', '=', 'c1').execute();
      expect(await db.selectFrom('certificate_labels').selectAll().execute()).toEqual([]);
    } finally {
      await store.close();
      if (pgSchema) {
        const c = new pg.Client({ connectionString: pgUrl! });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
        await c.end();
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
