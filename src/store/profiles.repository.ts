import type { Db } from './types.js';
import type { ProfilesTable } from './schema.js';
import { decodeCursor, idFirst, toPage, type Page } from './pagination.js';

export type ProfileRow = ProfilesTable;

export async function insertProfile(db: Db, p: ProfileRow): Promise<void> {
  await db.insertInto('profiles').values(p).execute();
}

export async function findProfile(db: Db, idOrName: string): Promise<ProfileRow | undefined> {
  return db.selectFrom('profiles').selectAll().where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])).orderBy(idFirst(idOrName)).executeTakeFirst();
}

export async function listProfiles(db: Db, q: { limit: number; cursor?: string; authorityId?: string }): Promise<Page<ProfileRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('profiles').selectAll().orderBy('id').limit(q.limit + 1);
  if (c) query = query.where('id', '>', c.id);
  if (q.authorityId) query = query.where('authority_id', '=', q.authorityId);
  return toPage(await query.execute(), q.limit, (r) => r, (r) => [null, r.id]);
}

export async function updateProfile(db: Db, id: string, policy: string, updatedAt: string): Promise<void> {
  await db.updateTable('profiles').set({ policy, updated_at: updatedAt }).where('id', '=', id).execute();
}

export async function deleteProfile(db: Db, id: string): Promise<void> {
  await db.deleteFrom('profiles').where('id', '=', id).execute();
}
