/**
 * CRL generation streams an authority's revoked certificates in serial order, page by
 * page (keyset on the serial). A partial index holding only revoked rows, in that order,
 * makes each page an index range read: no filtering of the (many more) unrevoked rows.
 * Same statement on both dialects.
 */
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index certificates_revoked_serial_idx on certificates (authority_id, serial) where revoked_at is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('certificates_revoked_serial_idx').execute();
}
