import { sql } from 'kysely';
import type { Db } from './types.js';
import type { UsersTable } from './schema.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

export interface UserRow {
  id: string;
  email: string;
  displayName: string;
  passwordHash: string;
  disabled: boolean;
  roles: string[];
  createdAt: string;
  updatedAt: string;
}

function mapUser(r: UsersTable, roles: string[]): UserRow {
  return {
    id: r.id,
    email: r.email,
    displayName: r.display_name,
    passwordHash: r.password_hash,
    disabled: Boolean(r.disabled),
    roles,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

async function rolesOf(db: Db, userIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!userIds.length) return out;
  const rows = await db
    .selectFrom('user_roles')
    .innerJoin('roles', 'roles.id', 'user_roles.role_id')
    .select(['user_roles.user_id', 'roles.name'])
    .where('user_roles.user_id', 'in', userIds)
    .orderBy('roles.name')
    .execute();
  for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), r.name]);
  return out;
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  const r = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  return mapUser(r, (await rolesOf(db, [r.id])).get(r.id) ?? []);
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const r = await db.selectFrom('users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst();
  if (!r) return undefined;
  return mapUser(r, (await rolesOf(db, [r.id])).get(r.id) ?? []);
}

export async function countUsers(db: Db): Promise<number> {
  const r = await db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

export interface UserQuery {
  limit: number;
  cursor?: string;
  q?: string;
  role?: string;
  disabled?: boolean;
}

export async function listUsers(db: Db, q: UserQuery): Promise<Page<UserRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('users').selectAll().orderBy('id').limit(q.limit + 1);
  if (c) query = query.where('id', '>', c.id);
  if (q.q) {
    const like = `%${q.q.toLowerCase().replace(/[\\%_]/g, (m) => '\\' + m)}%`;
    query = query.where((eb) => eb.or([sql<boolean>`lower(email) like ${like} escape '\\'`, sql<boolean>`lower(display_name) like ${like} escape '\\'`]));
  }
  if (q.disabled !== undefined) query = query.where('disabled', '=', q.disabled);
  if (q.role) {
    const role = q.role;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('user_roles')
          .innerJoin('roles', 'roles.id', 'user_roles.role_id')
          .select('user_roles.user_id')
          .whereRef('user_roles.user_id', '=', 'users.id')
          .where('roles.name', '=', role),
      ),
    );
  }
  const rows = await query.execute();
  const roles = await rolesOf(db, rows.map((r) => r.id));
  return toPage(rows, q.limit, (r) => mapUser(r, roles.get(r.id) ?? []), (r) => [null, r.id]);
}

export async function insertUser(db: Db, u: Omit<UserRow, 'roles'>, roleIds: string[]): Promise<void> {
  await db
    .insertInto('users')
    .values({
      id: u.id,
      email: u.email.toLowerCase(),
      display_name: u.displayName,
      password_hash: u.passwordHash,
      disabled: u.disabled,
      created_at: u.createdAt,
      updated_at: u.updatedAt,
    })
    .execute();
  await setUserRoles(db, u.id, roleIds);
}

export async function setUserRoles(db: Db, userId: string, roleIds: string[]): Promise<void> {
  await db.deleteFrom('user_roles').where('user_id', '=', userId).execute();
  if (roleIds.length) await db.insertInto('user_roles').values(roleIds.map((role_id) => ({ user_id: userId, role_id }))).execute();
}

export async function updateUser(
  db: Db,
  id: string,
  patch: { email?: string; displayName?: string; disabled?: boolean; passwordHash?: string; updatedAt: string },
): Promise<void> {
  await db
    .updateTable('users')
    .set({
      ...(patch.email !== undefined && { email: patch.email.toLowerCase() }),
      ...(patch.displayName !== undefined && { display_name: patch.displayName }),
      ...(patch.disabled !== undefined && { disabled: patch.disabled }),
      ...(patch.passwordHash !== undefined && { password_hash: patch.passwordHash }),
      updated_at: patch.updatedAt,
    })
    .where('id', '=', id)
    .execute();
}

export async function deleteUser(db: Db, id: string): Promise<void> {
  await db.deleteFrom('user_roles').where('user_id', '=', id).execute();
  await db.deleteFrom('tokens').where('user_id', '=', id).execute();
  await db.deleteFrom('users').where('id', '=', id).execute();
}

/** Enabled users holding the given role (used to protect the last admin). */
export async function countEnabledWithRole(db: Db, roleName: string): Promise<number> {
  const r = await db
    .selectFrom('users')
    .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
    .innerJoin('roles', 'roles.id', 'user_roles.role_id')
    .where('roles.name', '=', roleName)
    .where('users.disabled', '=', false)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
