import { sql, type Insertable, type Selectable } from 'kysely';
import type { Db } from './types.js';
import type { CertificatesTable } from './schema.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';
import { compiledQuery } from './compiled.js';

export type CertificateRow = Selectable<CertificatesTable>;
export type NewCertificateRow = Insertable<CertificatesTable>;
export type CertificateRowWithLabels = CertificateRow & { labels: Record<string, string> };

export async function insertCertificate(db: Db, c: NewCertificateRow, labels: Record<string, string> = {}): Promise<void> {
  await db.insertInto('certificates').values(c).execute();
  const entries = Object.entries(labels);
  if (entries.length) await db.insertInto('certificate_labels').values(entries.map(([key, value]) => ({ certificate_id: c.id, key, value }))).execute();
}

async function labelsOf(db: Db, ids: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  if (!ids.length) return out;
  const rows = await db.selectFrom('certificate_labels').selectAll().where('certificate_id', 'in', ids).execute();
  for (const r of rows) {
    const m = out.get(r.certificate_id) ?? {};
    m[r.key] = r.value;
    out.set(r.certificate_id, m);
  }
  return out;
}

export async function findCertificate(db: Db, id: string): Promise<CertificateRowWithLabels | undefined> {
  const r = await db.selectFrom('certificates').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  return { ...r, labels: (await labelsOf(db, [id])).get(id) ?? {} };
}

/** The row holding this exact certificate (by SHA-256 of its DER), if any. */
export async function findByFingerprint(db: Db, fingerprintSha256: string): Promise<Pick<CertificateRow, 'id' | 'source'> | undefined> {
  return db.selectFrom('certificates').select(['id', 'source']).where('fingerprint_sha256', '=', fingerprintSha256).executeTakeFirst();
}

export async function findBySerial(db: Db, authorityId: string, serial: string): Promise<CertificateRow | undefined> {
  return db.selectFrom('certificates').selectAll().where('authority_id', '=', authorityId).where('serial', '=', serial).executeTakeFirst();
}

/** Only what a revocation check needs (no DER, no metadata): the verifier calls it per certificate. */
// On every verification of a Certa-issued certificate: compiled once (see compiled.ts).
const revocationStatusQuery = compiledQuery((db, authorityId: string, serial: string) =>
  db.selectFrom('certificates').select(['revoked_at', 'revocation_reason']).where('authority_id', '=', authorityId).where('serial', '=', serial),
);

export async function revocationStatusBySerial(
  db: Db,
  authorityId: string,
  serial: string,
): Promise<Pick<CertificateRow, 'revoked_at' | 'revocation_reason'> | undefined> {
  return (await revocationStatusQuery(db, authorityId, serial))[0];
}

export interface CertificateQuery {
  limit: number;
  cursor?: string;
  now: string;
  status?: 'active' | 'expired' | 'revoked' | 'archived';
  authorityId?: string;
  profileId?: string;
  expiresBefore?: string;
  expiresAfter?: string;
  q?: string;
  serial?: string;
  labels?: Array<[string, string]>;
  owner?: string;
  source?: 'issued' | 'external';
  includeArchived?: boolean;
  sort?: 'notAfter' | '-notAfter' | 'createdAt' | '-createdAt';
}

/** Keyset pagination on (sort column, id); every filter is an indexed predicate or a cheap residual. */
export async function listCertificates(db: Db, q: CertificateQuery): Promise<Page<CertificateRowWithLabels>> {
  const sort = q.sort ?? 'notAfter';
  const desc = sort.startsWith('-');
  const col = sort.replace('-', '') === 'createdAt' ? 'created_at' : 'not_after';
  const dir = desc ? 'desc' : 'asc';
  const cmp = desc ? '<' : '>';
  let query = db
    .selectFrom('certificates')
    .select([
      'id', 'authority_id', 'profile_id', 'serial', 'common_name', 'subject', 'sans', 'search_text', 'not_before', 'not_after', 'fingerprint_sha256',
      'key_algorithm', 'usage', 'server_key', 'owner', 'notes', 'issued_by', 'predecessor_id', 'successor_id', 'revoked_at', 'revocation_reason',
      'invalidity_date', 'archived_at', 'created_at', 'updated_at', 'source', 'issuer_dn', 'verification',
    ])
    .orderBy(col, dir)
    .orderBy('id', dir)
    .limit(q.limit + 1);
  const c = decodeCursor(q.cursor, 'timestamp');
  if (c) {
    const v = String(c.sortValue);
    // A row-value comparison, not `col > v OR (col = v AND id > c)`: both engines seek the
    // (col, id) index with it, where the OR form made them scan up to the cursor position.
    query = query.where((eb) => eb(eb.refTuple(col, 'id'), cmp, eb.tuple(v, c.id)));
  }
  switch (q.status) {
    case 'active':
      query = query.where('revoked_at', 'is', null).where('archived_at', 'is', null).where('not_after', '>', q.now);
      break;
    case 'expired':
      query = query.where('revoked_at', 'is', null).where('archived_at', 'is', null).where('not_after', '<=', q.now);
      break;
    case 'revoked':
      query = query.where('revoked_at', 'is not', null).where('archived_at', 'is', null);
      break;
    case 'archived':
      query = query.where('archived_at', 'is not', null);
      break;
    default:
      if (!q.includeArchived) query = query.where('archived_at', 'is', null);
  }
  if (q.authorityId) query = query.where('authority_id', '=', q.authorityId);
  if (q.profileId) query = query.where('profile_id', '=', q.profileId);
  if (q.expiresBefore) query = query.where('not_after', '<', q.expiresBefore);
  if (q.expiresAfter) query = query.where('not_after', '>=', q.expiresAfter);
  if (q.serial) query = query.where('serial', '=', q.serial);
  if (q.owner) query = query.where('owner', '=', q.owner);
  if (q.source) query = query.where('source', '=', q.source);
  if (q.q) {
    const like = `%${q.q.toLowerCase().replace(/[\\%_]/g, (m) => '\\' + m)}%`;
    query = query.where(sql<boolean>`search_text like ${like} escape '\\'`);
  }
  for (const [key, value] of q.labels ?? []) {
    query = query.where((eb) =>
      eb.exists(eb.selectFrom('certificate_labels as l').select('l.certificate_id').whereRef('l.certificate_id', '=', 'certificates.id').where('l.key', '=', key).where('l.value', '=', value)),
    );
  }
  const rows = (await query.execute()) as CertificateRow[];
  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  const labels = await labelsOf(db, page.map((r) => r.id));
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({ ...r, labels: labels.get(r.id) ?? {} })),
    nextCursor: more && last ? encodeCursor(col === 'created_at' ? last.created_at : last.not_after, last.id) : null,
  };
}

export async function updateCertificateMeta(db: Db, id: string, patch: { owner?: string | null; notes?: string | null; labels?: Record<string, string>; updatedAt: string }): Promise<void> {
  await db
    .updateTable('certificates')
    .set({ ...(patch.owner !== undefined && { owner: patch.owner }), ...(patch.notes !== undefined && { notes: patch.notes }), updated_at: patch.updatedAt })
    .where('id', '=', id)
    .execute();
  if (patch.labels) {
    await db.deleteFrom('certificate_labels').where('certificate_id', '=', id).execute();
    const entries = Object.entries(patch.labels);
    if (entries.length) await db.insertInto('certificate_labels').values(entries.map(([key, value]) => ({ certificate_id: id, key, value }))).execute();
  }
}

export async function setArchived(db: Db, id: string, at: string): Promise<void> {
  await db.updateTable('certificates').set({ archived_at: at, updated_at: at }).where('id', '=', id).where('archived_at', 'is', null).execute();
}

/** Link a successor; false when the certificate already has one (a concurrent renewal won). */
export async function setSuccessor(db: Db, id: string, successorId: string, at: string): Promise<boolean> {
  const r = await db.updateTable('certificates').set({ successor_id: successorId, updated_at: at }).where('id', '=', id).where('successor_id', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
