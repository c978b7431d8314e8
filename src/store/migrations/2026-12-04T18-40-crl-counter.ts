/**
 * Frozen: one CRL number counter per authority. Full and delta CRLs draw their numbers
 * from it in one UPDATE that also locks the row, so a replica allocating a number and
 * choosing a delta's base cannot interleave with another replica doing the same. Null
 * until the first allocation, which starts from the highest number already stored.
 */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema.alterTable('crl_state').addColumn('last_crl_number', pg ? sql`bigint` : sql`integer`).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('crl_state').dropColumn('last_crl_number').execute();
}
