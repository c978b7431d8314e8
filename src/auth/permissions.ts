/**
 * The permission catalogue and the built-in roles. The catalogue is the `Permission`
 * enum of the spec (read at runtime, so adding a permission to the spec is enough).
 */
import { openapiDocument, type Schemas } from '../spec.js';

export type Permission = Schemas['Permission'];

const permissionSchema = openapiDocument.components.schemas.Permission;
export const PERMISSIONS: readonly Permission[] = Object.freeze([...permissionSchema.enum]);
export const PERMISSION_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({ ...permissionSchema['x-enum-descriptions'] });

export function isPermission(p: string): p is Permission {
  return (PERMISSIONS as readonly string[]).includes(p);
}

const readAll = PERMISSIONS.filter((p) => p.endsWith(':read') && p !== 'audit:read');

export interface BuiltinRole {
  name: string;
  description: string;
  permissions: Permission[];
}

/** Built-in roles: created at start, kept in sync with the catalogue, never deletable. */
export const BUILTIN_ROLES: readonly BuiltinRole[] = Object.freeze([
  { name: 'admin', description: 'Everything.', permissions: [...PERMISSIONS] },
  {
    name: 'operator',
    description: 'Reads everything operational, issues, renews, revokes and imports certificates, runs verifications.',
    permissions: [
      ...readAll.filter((p) => p !== 'users:read' && p !== 'roles:read'),
      'certificates:issue',
      'certificates:revoke',
      'certificates:import',
      'verifications:run',
      'tokens:manage',
    ] as Permission[],
  },
  { name: 'auditor', description: 'Reads everything, including the audit trail.', permissions: [...readAll, 'audit:read'] as Permission[] },
  { name: 'viewer', description: 'Reads certificates and authorities.', permissions: ['certificates:read', 'authorities:read'] as Permission[] },
]);
