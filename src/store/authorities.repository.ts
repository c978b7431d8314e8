import type { Db } from './types.js';
import type { AuthoritiesTable } from './schema.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

export type AuthorityRow = AuthoritiesTable;

export async function insertAuthority(db: Db, a: AuthorityRow): Promise<void> {
  await db.insertInto('authorities').values(a).execute();
}

export async function findAuthority(db: Db, idOrName: string): Promise<AuthorityRow | undefined> {
  return db.selectFrom('authorities').selectAll().where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])).executeTakeFirst();
}

export async function listAuthorities(db: Db, q: { limit: number; cursor?: string; status?: string; kind?: string }): Promise<Page<AuthorityRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('authorities').selectAll().orderBy('id').limit(q.limit + 1);
  if (c) query = query.where('id', '>', c.id);
  if (q.status) query = query.where('status', '=', q.status as AuthorityRow['status']);
  if (q.kind) query = query.where('kind', '=', q.kind as AuthorityRow['kind']);
  return toPage(await query.execute(), q.limit, (r) => r, (r) => [null, r.id]);
}

/** Every authority (trust anchors for verification, CRL jobs); the set is small. */
export async function allAuthorities(db: Db): Promise<AuthorityRow[]> {
  return db.selectFrom('authorities').selectAll().orderBy('id').execute();
}

export async function updateAuthority(db: Db, id: string, patch: Partial<Omit<AuthorityRow, 'id' | 'created_at'>>): Promise<void> {
  await db.updateTable('authorities').set(patch).where('id', '=', id).execute();
}
