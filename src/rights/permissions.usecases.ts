import type { Db } from '../store/types.js';
import type { Permission } from '../auth/permissions.js';
import { isPermission } from '../auth/permissions.js';

/** Effective permissions of a user: the union of their roles'. */
export async function permissionsOfUser(db: Db, userId: string): Promise<Set<Permission>> {
  const rows = await db
    .selectFrom('user_roles')
    .innerJoin('roles', 'roles.id', 'user_roles.role_id')
    .select('roles.permissions')
    .where('user_roles.user_id', '=', userId)
    .execute();
  return permissionsOfRoles(rows.map((r) => r.permissions));
}

/** The union of roles' permissions (each role's `permissions` column is a JSON array). */
export function permissionsOfRoles(rolePermissions: string[]): Set<Permission> {
  const out = new Set<Permission>();
  for (const json of rolePermissions) for (const p of JSON.parse(json) as string[]) if (isPermission(p)) out.add(p);
  return out;
}
