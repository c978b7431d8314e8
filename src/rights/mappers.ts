import type { Schemas } from '../spec.js';
import type { UserRow } from '../store/users.repository.js';
import type { RoleRow } from '../store/roles.repository.js';
import type { TokenRow } from '../store/tokens.repository.js';
import type { AuditEventRow } from '../store/audit.repository.js';
import type { Permission } from '../auth/permissions.js';

export function toUser(u: UserRow, permissions: Iterable<Permission>): Schemas['User'] {
  return {
    id: u.id,
    email: u.email,
    displayName: u.displayName,
    roles: u.roles,
    permissions: [...permissions].sort(),
    disabled: u.disabled,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

export function toRole(r: RoleRow): Schemas['Role'] {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    permissions: r.permissions as Permission[],
    builtin: r.builtin,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function toApiToken(t: TokenRow): Schemas['ApiToken'] {
  return {
    id: t.id,
    name: t.name,
    userId: t.userId,
    permissions: (t.permissions ?? []) as Permission[],
    prefix: t.prefix,
    createdAt: t.createdAt,
    expiresAt: t.expiresAt,
    revokedAt: t.revokedAt,
    lastUsedAt: t.lastUsedAt,
  };
}

export function toAuditEvent(e: AuditEventRow): Schemas['AuditEvent'] {
  return {
    id: e.id,
    at: e.at,
    actor: e.actor_user_id || e.actor_email || e.actor_token_id ? { userId: e.actor_user_id, email: e.actor_email, tokenId: e.actor_token_id } : null,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    status: e.status,
    requestId: e.request_id,
    ip: e.ip,
    detail: e.detail,
  };
}
