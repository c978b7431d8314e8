/** Frozen: CRLs (one row per generated CRL), CRL refresh state, OCSP responder certificates, authority revocation. */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const ts = pg ? sql`timestamptz` : sql`text`;
  const blob = pg ? sql`bytea` : sql`blob`;
  const big = pg ? sql`bigint` : sql`integer`;

  await db.schema.alterTable('authorities').addColumn('revoked_at', ts).execute();
  await db.schema.alterTable('authorities').addColumn('revocation_reason', 'text').execute();
  // When a certificateHold was lifted: delta CRLs then carry a removeFromCRL entry.
  await db.schema.alterTable('certificates').addColumn('hold_released_at', ts).execute();

  await db.schema
    .createTable('crls')
    .addColumn('authority_id', 'text', (c) => c.notNull().references('authorities.id'))
    .addColumn('crl_number', big, (c) => c.notNull())
    .addColumn('delta_base', big)
    .addColumn('this_update', ts, (c) => c.notNull())
    .addColumn('next_update', ts, (c) => c.notNull())
    .addColumn('entries', 'integer', (c) => c.notNull())
    .addColumn('der', blob, (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    // One CRL number per authority, whoever generates it: the database arbitrates between replicas.
    .addPrimaryKeyConstraint('crls_pk', ['authority_id', 'crl_number'])
    .execute();

  await db.schema
    .createTable('crl_state')
    .addColumn('authority_id', 'text', (c) => c.primaryKey().references('authorities.id'))
    .addColumn('dirty_since', ts)
    .addColumn('last_full_number', big)
    .addColumn('last_full_at', ts)
    .addColumn('next_update', ts)
    .execute();

  await db.schema
    .createTable('ocsp_responders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('authority_id', 'text', (c) => c.notNull().references('authorities.id'))
    .addColumn('certificate_der', blob, (c) => c.notNull())
    .addColumn('key_secret_id', 'text', (c) => c.notNull())
    .addColumn('not_before', ts, (c) => c.notNull())
    .addColumn('not_after', ts, (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ocsp_responders_authority_idx').on('ocsp_responders').columns(['authority_id', 'not_after']).execute();

  // Revoked entries per authority in serial order (CRL generation streams this).
  await db.schema.createIndex('certificates_crl_idx').on('certificates').columns(['authority_id', 'revoked_at', 'serial']).execute();
  await db.schema.createIndex('certificates_updated_idx').on('certificates').columns(['authority_id', 'updated_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('ocsp_responders').execute();
  await db.schema.dropTable('crl_state').execute();
  await db.schema.dropTable('crls').execute();
}
