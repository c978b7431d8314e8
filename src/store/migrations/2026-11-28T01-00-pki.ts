/** Frozen: authorities, profiles, certificates and their labels. */
import { Kysely, PostgresAdapter, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const ts = pg ? sql`timestamptz` : sql`text`;
  const bool = pg ? sql`boolean` : sql`integer`;
  const blob = pg ? sql`bytea` : sql`blob`;

  await db.schema
    .createTable('authorities')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'text', (c) => c.references('authorities.id'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('subject_dn', 'text', (c) => c.notNull())
    .addColumn('key_algorithm', 'text')
    .addColumn('key_secret_id', 'text')
    .addColumn('certificate_der', blob)
    .addColumn('chain_pem', 'text')
    .addColumn('csr_pem', 'text')
    .addColumn('serial', 'text')
    .addColumn('not_before', ts)
    .addColumn('not_after', ts)
    .addColumn('ski', 'text')
    .addColumn('fingerprint_sha256', 'text')
    .addColumn('path_length', 'integer')
    .addColumn('name_constraints', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('authorities_ski_idx').on('authorities').column('ski').execute();
  await db.schema.createIndex('authorities_parent_idx').on('authorities').column('parent_id').execute();

  await db.schema
    .createTable('profiles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('authority_id', 'text', (c) => c.notNull().references('authorities.id'))
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('profiles_authority_idx').on('profiles').columns(['authority_id', 'id']).execute();

  await db.schema
    .createTable('certificates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('authority_id', 'text', (c) => c.notNull().references('authorities.id'))
    .addColumn('profile_id', 'text')
    .addColumn('serial', 'text', (c) => c.notNull())
    .addColumn('common_name', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('sans', 'text', (c) => c.notNull())
    .addColumn('search_text', 'text', (c) => c.notNull())
    .addColumn('not_before', ts, (c) => c.notNull())
    .addColumn('not_after', ts, (c) => c.notNull())
    .addColumn('fingerprint_sha256', 'text', (c) => c.notNull())
    .addColumn('key_algorithm', 'text', (c) => c.notNull())
    .addColumn('usage', 'text')
    .addColumn('der', blob, (c) => c.notNull())
    .addColumn('server_key', bool, (c) => c.notNull())
    .addColumn('owner', 'text')
    .addColumn('notes', 'text')
    .addColumn('issued_by', 'text')
    .addColumn('predecessor_id', 'text')
    .addColumn('successor_id', 'text')
    .addColumn('revoked_at', ts)
    .addColumn('revocation_reason', 'text')
    .addColumn('invalidity_date', ts)
    .addColumn('archived_at', ts)
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addUniqueConstraint('certificates_issuer_serial_uq', ['authority_id', 'serial'])
    .execute();
  // Keyset pagination and the default list: (not_after, id) and (created_at, id).
  await db.schema.createIndex('certificates_not_after_idx').on('certificates').columns(['not_after', 'id']).execute();
  await db.schema.createIndex('certificates_created_idx').on('certificates').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('certificates_authority_idx').on('certificates').columns(['authority_id', 'not_after', 'id']).execute();
  await db.schema.createIndex('certificates_profile_idx').on('certificates').columns(['profile_id', 'not_after', 'id']).execute();
  await db.schema.createIndex('certificates_serial_idx').on('certificates').column('serial').execute();
  await db.schema.createIndex('certificates_owner_idx').on('certificates').columns(['owner', 'not_after']).execute();
  await db.schema.createIndex('certificates_revoked_idx').on('certificates').columns(['authority_id', 'revoked_at']).execute();

  await db.schema
    .createTable('certificate_labels')
    .addColumn('certificate_id', 'text', (c) => c.notNull().references('certificates.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('certificate_labels_pk', ['certificate_id', 'key'])
    .execute();
  await db.schema.createIndex('certificate_labels_kv_idx').on('certificate_labels').columns(['key', 'value', 'certificate_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['certificate_labels', 'certificates', 'profiles', 'authorities']) await db.schema.dropTable(t).execute();
}
