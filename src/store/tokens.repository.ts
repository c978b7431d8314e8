import type { Db } from './types.js';
import type { TokensTable } from './schema.js';
import { decodeCursor, toPage, type Page } from './pagination.js';
import { compiledQuery } from './compiled.js';

export interface TokenRow {
  id: string;
  kind: 'session' | 'api';
  userId: string;
  name: string;
  prefix: string;
  permissions: string[] | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

function mapToken(r: TokensTable): TokenRow {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    name: r.name,
    prefix: r.prefix,
    permissions: r.permissions === null ? null : JSON.parse(r.permissions),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}

export async function insertToken(db: Db, t: TokenRow & { hash: string }): Promise<void> {
  await db
    .insertInto('tokens')
    .values({
      id: t.id,
      kind: t.kind,
      user_id: t.userId,
      name: t.name,
      token_hash: t.hash,
      prefix: t.prefix,
      permissions: t.permissions === null ? null : JSON.stringify(t.permissions),
      created_at: t.createdAt,
      expires_at: t.expiresAt,
      revoked_at: null,
      last_used_at: null,
    })
    .execute();
}

export interface TokenPrincipalRow {
  token: TokenRow;
  user: { id: string; email: string; disabled: boolean };
  /** The `permissions` JSON of each of the owner's roles. */
  rolePermissions: string[];
}

/**
 * The per-request lookup, in one round trip: the token (an indexed equality match), its
 * owner, and the owner's roles' permissions (one row per role; one row with no role).
 */
// On every authenticated request: compiled once (see compiled.ts).
const tokenPrincipalByHash = compiledQuery((db, hash: string) =>
  db
    .selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .leftJoin('user_roles', 'user_roles.user_id', 'tokens.user_id')
    .leftJoin('roles', 'roles.id', 'user_roles.role_id')
    .selectAll('tokens')
    .select(['users.email as u_email', 'users.disabled as u_disabled', 'roles.permissions as r_permissions'])
    .where('tokens.token_hash', '=', hash),
);

export async function findTokenByHash(db: Db, hash: string): Promise<TokenPrincipalRow | undefined> {
  const rows = await tokenPrincipalByHash(db, hash);
  if (!rows.length) return undefined;
  const r = rows[0];
  return {
    token: mapToken(r),
    user: { id: r.user_id, email: r.u_email, disabled: Boolean(r.u_disabled) },
    rolePermissions: rows.flatMap((x) => (x.r_permissions === null ? [] : [x.r_permissions])),
  };
}

export async function findToken(db: Db, id: string): Promise<TokenRow | undefined> {
  const r = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return r && mapToken(r);
}

export async function listApiTokens(db: Db, q: { userId: string; limit: number; cursor?: string; includeRevoked: boolean; now: string }): Promise<Page<TokenRow>> {
  const c = decodeCursor(q.cursor);
  let query = db.selectFrom('tokens').selectAll().where('user_id', '=', q.userId).where('kind', '=', 'api').orderBy('id').limit(q.limit + 1);
  if (c) query = query.where('id', '>', c.id);
  if (!q.includeRevoked) {
    query = query.where('revoked_at', 'is', null).where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', q.now)]));
  }
  const rows = await query.execute();
  return toPage(rows, q.limit, mapToken, (r) => [null, r.id]);
}

export async function revokeToken(db: Db, id: string, at: string): Promise<void> {
  await db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

/** Revoke every session of a user, except one (the caller's own). */
export async function revokeSessions(db: Db, userId: string, at: string, exceptId?: string): Promise<void> {
  let q = db.updateTable('tokens').set({ revoked_at: at }).where('user_id', '=', userId).where('kind', '=', 'session').where('revoked_at', 'is', null);
  if (exceptId) q = q.where('id', '!=', exceptId);
  await q.execute();
}

export async function touchToken(db: Db, id: string, at: string): Promise<void> {
  await db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
}
