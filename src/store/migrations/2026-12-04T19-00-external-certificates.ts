/**
 * Frozen: certificates issued elsewhere join the inventory. `source` says where a row came
 * from ('issued' by Certa, 'external' when imported); an external row has no authority
 * (so CRLs, OCSP and revocation lookups, all keyed by authority, never see it), keeps the
 * issuer's name, the chain it came with and its verification outcome at import. The
 * SHA-256 fingerprint becomes unique: a certificate is in the inventory at most once.
 *
 * SQLite cannot drop NOT NULL from a column, so the table is rebuilt the documented way
 * (https://sqlite.org/lang_altertable.html#otheralter): foreign keys off, copy into a new
 * table, drop the old one, rename, re-create the indexes as they were.
 */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (pg) {
    await sql`alter table certificates alter column authority_id drop not null`.execute(db);
    await db.schema.alterTable('certificates').addColumn('source', 'text', (c) => c.notNull().defaultTo('issued')).execute();
    await db.schema.alterTable('certificates').addColumn('issuer_dn', 'text').execute();
    await db.schema.alterTable('certificates').addColumn('chain_pem', 'text').execute();
    await db.schema.alterTable('certificates').addColumn('verification', 'text').execute();
  } else {
    await rebuildSqlite(db);
  }
  await db.schema.createIndex('certificates_fingerprint_uq').unique().on('certificates').column('fingerprint_sha256').execute();
}

const OLD_COLUMNS = [
  'id', 'authority_id', 'profile_id', 'serial', 'common_name', 'subject', 'sans', 'search_text', 'not_before', 'not_after',
  'fingerprint_sha256', 'key_algorithm', 'usage', 'der', 'server_key', 'owner', 'notes', 'issued_by', 'predecessor_id',
  'successor_id', 'revoked_at', 'revocation_reason', 'invalidity_date', 'archived_at', 'created_at', 'updated_at', 'hold_released_at',
];

async function rebuildSqlite(db: Kysely<any>): Promise<void> {
  const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = 'certificates' and sql is not null`.execute(db);
  // Off outside a transaction (it is a no-op inside one); SQLite migrations run without one.
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await sql`begin`.execute(db);
    try {
      await db.schema
        .createTable('certificates_new')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('authority_id', 'text', (c) => c.references('authorities.id'))
        .addColumn('profile_id', 'text')
        .addColumn('serial', 'text', (c) => c.notNull())
        .addColumn('common_name', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('sans', 'text', (c) => c.notNull())
        .addColumn('search_text', 'text', (c) => c.notNull())
        .addColumn('not_before', 'text', (c) => c.notNull())
        .addColumn('not_after', 'text', (c) => c.notNull())
        .addColumn('fingerprint_sha256', 'text', (c) => c.notNull())
        .addColumn('key_algorithm', 'text', (c) => c.notNull())
        .addColumn('usage', 'text')
        .addColumn('der', 'blob', (c) => c.notNull())
        .addColumn('server_key', 'integer', (c) => c.notNull())
        .addColumn('owner', 'text')
        .addColumn('notes', 'text')
        .addColumn('issued_by', 'text')
        .addColumn('predecessor_id', 'text')
        .addColumn('successor_id', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('revocation_reason', 'text')
        .addColumn('invalidity_date', 'text')
        .addColumn('archived_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('hold_released_at', 'text')
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('issued'))
        .addColumn('issuer_dn', 'text')
        .addColumn('chain_pem', 'text')
        .addColumn('verification', 'text')
        .addUniqueConstraint('certificates_issuer_serial_uq', ['authority_id', 'serial'])
        .execute();
      const cols = sql.join(OLD_COLUMNS.map((c) => sql.ref(c)));
      await sql`insert into certificates_new (${cols}) select ${cols} from certificates`.execute(db);
      await sql`drop table certificates`.execute(db);
      await sql`alter table certificates_new rename to certificates`.execute(db);
      for (const i of indexes.rows) await sql.raw(i.sql).execute(db);
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

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('certificates_fingerprint_uq').execute();
  // External rows cannot be expressed in the older schema.
  await db.deleteFrom('certificates').where('source', '=', 'external').execute();
  for (const c of ['verification', 'chain_pem', 'issuer_dn', 'source']) await db.schema.alterTable('certificates').dropColumn(c).execute();
}
