import type { Services } from '../context.js';
import { conflict, notFound } from '../errors.js';
import { newId } from '../lib/ids.js';
import { isUniqueViolation } from '../store/db.js';
import * as roles from '../store/roles.repository.js';
import { BUILTIN_ROLES, PERMISSIONS, PERMISSION_DESCRIPTIONS } from '../auth/permissions.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { toRole } from './mappers.js';

type Role = Schemas['Role'];

export function listPermissions(): Schemas['PermissionList'] {
  return { items: PERMISSIONS.map((name) => ({ name, description: PERMISSION_DESCRIPTIONS[name] ?? name })) };
}

export async function listRoles(svc: Services, q: { limit: number; cursor?: string }): Promise<Page<Role>> {
  const page = await roles.listRoles(svc.db, q);
  return { items: page.items.map(toRole), nextCursor: page.nextCursor };
}

export async function getRole(svc: Services, idOrName: string): Promise<Role> {
  const r = await roles.findRole(svc.db, idOrName);
  if (!r) throw notFound('role');
  return toRole(r);
}

export async function createRole(svc: Services, input: Schemas['RoleCreate']): Promise<Role> {
  const now = svc.clock.now().toISOString();
  const id = newId();
  try {
    await roles.insertRole(svc.db, { id, name: input.name, description: input.description ?? '', permissions: [...new Set(input.permissions)], builtin: false, createdAt: now, updatedAt: now });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a role named "${input.name}" already exists`);
    throw e;
  }
  return getRole(svc, id);
}

export async function updateRole(svc: Services, idOrName: string, patch: Schemas['RoleUpdate']): Promise<Role> {
  const r = await roles.findRole(svc.db, idOrName);
  if (!r) throw notFound('role');
  if (r.builtin) throw conflict(`"${r.name}" is a built-in role and cannot be changed`);
  try {
    await roles.updateRole(svc.db, r.id, { ...patch, permissions: patch.permissions && [...new Set(patch.permissions)], updatedAt: svc.clock.now().toISOString() });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a role named "${patch.name}" already exists`);
    throw e;
  }
  return getRole(svc, r.id);
}

export async function deleteRole(svc: Services, idOrName: string): Promise<void> {
  const r = await roles.findRole(svc.db, idOrName);
  if (!r) throw notFound('role');
  if (r.builtin) throw conflict(`"${r.name}" is a built-in role and cannot be deleted`);
  await svc.db.transaction().execute((trx) => roles.deleteRole(trx, r.id));
}

/** Create the built-in roles, and keep their permissions in step with the catalogue. */
export async function syncBuiltinRoles(svc: Services): Promise<void> {
  const now = svc.clock.now().toISOString();
  for (const b of BUILTIN_ROLES) {
    const existing = await roles.findRole(svc.db, b.name);
    if (!existing) {
      try {
        await roles.insertRole(svc.db, { id: newId(), name: b.name, description: b.description, permissions: b.permissions, builtin: true, createdAt: now, updatedAt: now });
      } catch (e) {
        if (!isUniqueViolation(e)) throw e; // another replica created it
      }
    } else if (JSON.stringify([...existing.permissions].sort()) !== JSON.stringify([...b.permissions].sort()) || !existing.builtin) {
      await svc.db
        .updateTable('roles')
        .set({ permissions: JSON.stringify(b.permissions), builtin: true, description: b.description, updated_at: now })
        .where('id', '=', existing.id)
        .execute();
    }
  }
}
