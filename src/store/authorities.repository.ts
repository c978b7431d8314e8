import { sql } from 'kysely';
import type { Db } from './types.js';
import type { AuthoritiesTable } from './schema.js';
import { decodeCursor, idFirst, toPage, type Page } from './pagination.js';

export type AuthorityRow = AuthoritiesTable;

export async function insertAuthority(db: Db, a: AuthorityRow): Promise<void> {
  await db.insertInto('authorities').values(a).execute();
}

export async function findAuthority(db: Db, idOrName: string): Promise<AuthorityRow | undefined> {
  return db.selectFrom('authorities').selectAll().where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])).orderBy(idFirst(idOrName)).executeTakeFirst();
}

/** How far up a hierarchy the store looks (deeper chains are not created here). */
export const MAX_LINEAGE = 16;

/**
 * An authority and its ancestors, nearest first, in one round trip (a recursive query,
 * the same SQL on SQLite and PostgreSQL). Empty when there is no such id.
 */
export async function findLineage(db: Db, id: string): Promise<AuthorityRow[]> {
  const { rows } = await sql<AuthorityRow & { lineage_depth: number }>`
    with recursive lineage (id, parent_id, lineage_depth) as (
      select id, parent_id, 0 from authorities where id = ${id}
      union all
      select a.id, a.parent_id, l.lineage_depth + 1 from authorities a join lineage l on a.id = l.parent_id where l.lineage_depth < ${MAX_LINEAGE}
    )
    select authorities.*, lineage.lineage_depth from lineage join authorities on authorities.id = lineage.id order by lineage.lineage_depth`.execute(db);
  return rows.map(({ lineage_depth: _depth, ...row }) => row as AuthorityRow);
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
