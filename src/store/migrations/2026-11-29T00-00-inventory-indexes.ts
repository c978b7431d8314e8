/**
 * Inventory search at scale (`GET /api/v1/certificates?q=`): a substring match on
 * `search_text` cannot use a B-tree.
 *  - PostgreSQL: a trigram GIN index (pg_trgm, installed in `public` when available and
 *    allowed; without it the search stays a scan, just slower).
 *  - SQLite: an index in list order carrying `archived_at` and `search_text`, so the search
 *    walks the index (small) and reads only matching rows (which hold the DER). It replaces
 *    certificates_not_after_idx (same leading columns): with both, the planner picks the
 *    narrow one and the search reads every row (100k rows: ~10x slower).
 */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (pg) {
    const r = await sql<{ ok: boolean }>`
      select (exists (select 1 from pg_extension where extname = 'pg_trgm')
              or (exists (select 1 from pg_available_extensions where name = 'pg_trgm')
                  and has_database_privilege(current_user, current_database(), 'CREATE'))) as ok`.execute(db);
    if (!r.rows[0]?.ok) return;
    // Extensions are per database: serialise concurrent migrators (several schemas, one database).
    await sql`select pg_advisory_xact_lock(hashtext('certa:pg_trgm'))`.execute(db);
    await sql`create extension if not exists pg_trgm schema public`.execute(db);
    const ns = await sql<{ nspname: string }>`select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`.execute(db);
    const schema = ns.rows[0]?.nspname ?? 'public';
    const opclass = sql.raw(`"${schema.replace(/"/g, '""')}".gin_trgm_ops`);
    await sql`create index if not exists certificates_search_trgm_idx on certificates using gin (search_text ${opclass})`.execute(db);
  } else {
    await db.schema.createIndex('certificates_list_search_idx').on('certificates').columns(['not_after', 'id', 'archived_at', 'search_text']).execute();
    await db.schema.dropIndex('certificates_not_after_idx').ifExists().execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await db.schema.dropIndex('certificates_search_trgm_idx').ifExists().execute();
  } else {
    await db.schema.createIndex('certificates_not_after_idx').ifNotExists().on('certificates').columns(['not_after', 'id']).execute();
    await db.schema.dropIndex('certificates_list_search_idx').ifExists().execute();
  }
}
