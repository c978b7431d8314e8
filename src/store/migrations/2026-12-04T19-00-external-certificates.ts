/**
 * Frozen: certificates issued elsewhere join the inventory. `source` says where a row came
 * from ('issued' by Certa, 'external' when imported); an external row has no authority
 * (so CRLs, OCSP and revocation lookups, all keyed by authority, never see it), keeps the
 * issuer's name, the chain it came with and its verification outcome at import. The
 * SHA-256 fingerprint becomes unique: a certificate is in the inventory at most once.
 *
 * SQLite cannot drop NOT NULL from a column, so the table is rebuilt the documented way
 * (https://sqlite.org/lang_altertable.html#otheralter): foreign keys off, copy into a new
 * table, drop the old one, rename, re-create the indexes as they were. It reads the
 * current definition rather than restating it (the one exception to "frozen": a restated
 * column list would silently drop a column another branch's migration added).
 */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (pg) {
    await sql`alter table certificates alter column authority_id drop not null`.execute(db);
    await addColumns(db);
  } else {
    await rebuildSqlite(db);
  }
  await db.schema.createIndex('certificates_fingerprint_uq').unique().on('certificates').column('fingerprint_sha256').execute();
}

async function rebuildSqlite(db: Kysely<any>): Promise<void> {
  // The table's own definition with only authority_id's NOT NULL dropped, so columns other
  // migrations added (whatever their order at merge time) are carried over as they are.
  const table = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'certificates'`.execute(db);
  const create = table.rows[0]?.sql ?? '';
  const nullable = create.replace(/("authority_id"\s+text)\s+not null/i, '$1');
  const renamed = nullable.replace(/^create table\s+"?certificates"?/i, 'create table "certificates_new"');
  if (nullable === create || renamed === nullable) throw new Error(`certificates: unexpected table definition, cannot make authority_id nullable: ${create}`);
  const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = 'certificates' and sql is not null`.execute(db);
  // Off outside a transaction (it is a no-op inside one); SQLite migrations run without one.
  // With it on, dropping the old table would cascade-delete every certificate's labels.
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await sql`begin`.execute(db);
    try {
      await sql.raw(renamed).execute(db);
      await sql`insert into certificates_new select * from certificates`.execute(db);
      await sql`drop table certificates`.execute(db);
      await sql`alter table certificates_new rename to certificates`.execute(db);
      for (const i of indexes.rows) await sql.raw(i.sql).execute(db);
      await addColumns(db);
      const broken = await sql`pragma foreign_key_check`.execute(db);
      if (broken.rows.length) throw new Error(`foreign key check failed after rebuilding certificates: ${JSON.stringify(broken.rows.slice(0, 5))}`);
      await sql`commit`.execute(db);
    } catch (e) {
      await sql`rollback`.execute(db);
      throw e;
    }
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

async function addColumns(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('certificates').addColumn('source', 'text', (c) => c.notNull().defaultTo('issued')).execute();
  await db.schema.alterTable('certificates').addColumn('issuer_dn', 'text').execute();
  await db.schema.alterTable('certificates').addColumn('chain_pem', 'text').execute();
  await db.schema.alterTable('certificates').addColumn('verification', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('certificates_fingerprint_uq').execute();
  // External rows cannot be expressed in the older schema.
  await db.deleteFrom('certificates').where('source', '=', 'external').execute();
  for (const c of ['verification', 'chain_pem', 'issuer_dn', 'source']) await db.schema.alterTable('certificates').dropColumn(c).execute();
}
