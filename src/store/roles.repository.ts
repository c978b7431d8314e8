import type { Db } from './types.js';
import type { RolesTable } from './schema.js';
import { decodeCursor, idFirst, toPage, type Page } from './pagination.js';

export interface RoleRow {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
  createdAt: string;
  updatedAt: string;
}

export function mapRole(r: RolesTable): RoleRow {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    permissions: JSON.parse(r.permissions),
    builtin: Boolean(r.builtin),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function findRole(db: Db, idOrName: string): Promise<RoleRow | undefined> {
  const r = await db.selectFrom('roles').selectAll().where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])).orderBy(idFirst(idOrName)).executeTakeFirst();
  return r && mapRole(r);
}

export async function findRolesByNames(db: Db, names: string[]): Promise<RoleRow[]> {
  if (!names.length) return [];
  const rows = await db.selectFrom('roles').selectAll().where('name', 'in', names).execute();
  return rows.map(mapRole);
}

export async function listRoles(db: Db, q: { limit: number; cursor?: string }): Promise<Page<RoleRow>> {
  const c = decodeCursor(q.cursor, 'text');
  let query = db.selectFrom('roles').selectAll().orderBy('name').orderBy('id').limit(q.limit + 1);
  if (c) query = query.where((eb) => eb.or([eb('name', '>', String(c.sortValue)), eb.and([eb('name', '=', String(c.sortValue)), eb('id', '>', c.id)])]));
  const rows = await query.execute();
  return toPage(rows, q.limit, mapRole, (r) => [r.name, r.id]);
}

export async function insertRole(db: Db, r: RoleRow): Promise<void> {
  await db
    .insertInto('roles')
    .values({
      id: r.id,
      name: r.name,
      description: r.description,
      permissions: JSON.stringify(r.permissions),
      builtin: r.builtin,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
    })
    .execute();
}

export async function updateRole(db: Db, id: string, patch: { name?: string; description?: string; permissions?: string[]; updatedAt: string }): Promise<void> {
  await db
    .updateTable('roles')
    .set({
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.description !== undefined && { description: patch.description }),
      ...(patch.permissions !== undefined && { permissions: JSON.stringify(patch.permissions) }),
      updated_at: patch.updatedAt,
    })
    .where('id', '=', id)
    .execute();
}

export async function deleteRole(db: Db, id: string): Promise<void> {
  await db.deleteFrom('user_roles').where('role_id', '=', id).execute();
  await db.deleteFrom('roles').where('id', '=', id).execute();
}
