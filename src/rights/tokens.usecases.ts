import type { Principal, Services } from '../context.js';
import { badRequest, forbidden, notFound } from '../errors.js';
import { newId } from '../lib/ids.js';
import { newToken } from '../auth/tokens.js';
import * as tokens from '../store/tokens.repository.js';
import * as users from '../store/users.repository.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { toApiToken } from './mappers.js';

export async function listApiTokens(
  svc: Services,
  principal: Principal,
  q: { limit: number; cursor?: string; userId?: string; includeRevoked?: boolean },
): Promise<Page<Schemas['ApiToken']>> {
  const userId = q.userId ?? principal.userId;
  if (userId !== principal.userId && !principal.permissions.has('users:write')) throw forbidden("listing another user's tokens needs users:write");
  const page = await tokens.listApiTokens(svc.db, { userId, limit: q.limit, cursor: q.cursor, includeRevoked: q.includeRevoked ?? false, now: svc.clock.now().toISOString() });
  return { items: page.items.map(toApiToken), nextCursor: page.nextCursor };
}

export async function createApiToken(svc: Services, principal: Principal, input: Schemas['ApiTokenCreate']): Promise<Schemas['ApiTokenCreated']> {
  // Step 1: the scope must be a subset of what the owner holds right now.
  const excess = input.permissions.filter((p) => !principal.permissions.has(p));
  if (excess.length) {
    throw forbidden(`a token cannot carry permissions you do not hold: ${excess.join(', ')}`);
  }
  // Step 2: expiry, absolute or relative, strictly in the future.
  const now = svc.clock.now();
  if (input.expiresAt && input.expiresInDays) throw badRequest('give expiresAt or expiresInDays, not both', [{ field: '/body/expiresAt', message: 'conflicts with expiresInDays' }]);
  let expiresAt: string | null = null;
  if (input.expiresAt) {
    const t = Date.parse(input.expiresAt);
    if (!(t > now.getTime())) throw badRequest('expiresAt must be in the future', [{ field: '/body/expiresAt', message: 'must be in the future' }]);
    expiresAt = new Date(t).toISOString();
  } else if (input.expiresInDays) {
    expiresAt = new Date(now.getTime() + input.expiresInDays * 86_400_000).toISOString();
  }
  // Step 3: mint; the secret leaves only in this response.
  const t = newToken('api');
  const row = {
    id: newId(),
    kind: 'api' as const,
    userId: principal.userId,
    name: input.name,
    prefix: t.prefix,
    permissions: [...new Set(input.permissions)].sort(),
    createdAt: now.toISOString(),
    expiresAt,
    revokedAt: null,
    lastUsedAt: null,
  };
  await tokens.insertToken(svc.db, { ...row, hash: t.hash });
  return { ...toApiToken(row), token: t.token };
}

export async function revokeApiToken(svc: Services, principal: Principal, id: string): Promise<void> {
  const t = await tokens.findToken(svc.db, id);
  if (!t || t.kind !== 'api') throw notFound('token');
  if (t.userId !== principal.userId && !principal.permissions.has('users:write')) {
    // Do not reveal that someone else's token exists.
    if (!(await users.findUserById(svc.db, t.userId))) throw notFound('token');
    throw notFound('token');
  }
  await tokens.revokeToken(svc.db, id, svc.clock.now().toISOString());
}
