/**
 * Login, logout and per-request authentication.
 */
import type { Principal, Services } from '../context.js';
import { DomainError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { hashToken, newToken } from '../auth/tokens.js';
import { dummyHash, verifyPassword } from '../auth/passwords.js';
import * as users from '../store/users.repository.js';
import * as tokens from '../store/tokens.repository.js';
import * as audit from '../store/audit.repository.js';
import { permissionsOfRoles, permissionsOfUser } from './permissions.usecases.js';
import { toUser } from './mappers.js';
import type { Schemas } from '../spec.js';

export interface LoginInput {
  email: string;
  password: string;
  ip: string | null;
}

/**
 * Rate limits come from the audit trail itself (failed `login` events per account and per
 * address in a sliding window), so every replica on one database sees the same counts.
 */
async function enforceLoginRateLimit(svc: Services, email: string, ip: string | null): Promise<void> {
  const { loginWindowSeconds: window, loginMaxFailuresPerAccount, loginMaxFailuresPerAddress } = svc.config;
  const now = svc.clock.now();
  const since = new Date(now.getTime() - window * 1000).toISOString();
  const checks: Array<[{ target?: string; ip?: string }, number]> = [[{ target: email }, loginMaxFailuresPerAccount]];
  if (ip) checks.push([{ ip }, loginMaxFailuresPerAddress]);
  for (const [by, max] of checks) {
    if ((await audit.countFailedLogins(svc.db, by, since)) >= max) {
      const oldest = await audit.oldestFailedLogin(svc.db, by, since);
      const retryAfter = oldest ? Math.max(1, Math.ceil((Date.parse(oldest) + window * 1000 - now.getTime()) / 1000)) : window;
      throw new DomainError('rate_limited', 'too many failed login attempts; try again later', undefined, { 'Retry-After': String(retryAfter) });
    }
  }
}

export async function login(svc: Services, input: LoginInput): Promise<Schemas['LoginResponse']> {
  const email = input.email.trim().toLowerCase();
  await enforceLoginRateLimit(svc, email, input.ip);
  const user = await users.findUserByEmail(svc.db, email);
  // Step 1: always verify against some hash so timing does not reveal whether the email exists.
  const ok = await verifyPassword(user?.passwordHash ?? (await dummyHash()), input.password);
  if (!user || !ok || user.disabled) {
    throw new DomainError('invalid_credentials', 'invalid email or password');
  }
  // Step 2: mint an opaque session token; only its hash is stored.
  const now = svc.clock.now();
  const expiresAt = new Date(now.getTime() + svc.config.sessionTtlSeconds * 1000).toISOString();
  const t = newToken('session');
  await tokens.insertToken(svc.db, {
    id: newId(),
    kind: 'session',
    userId: user.id,
    name: 'login',
    prefix: t.prefix,
    permissions: null,
    createdAt: now.toISOString(),
    expiresAt,
    revokedAt: null,
    lastUsedAt: null,
    hash: t.hash,
  });
  return { token: t.token, expiresAt, user: toUser(user, await permissionsOfUser(svc.db, user.id)) };
}

export async function logout(svc: Services, principal: Principal): Promise<void> {
  await tokens.revokeToken(svc.db, principal.tokenId, svc.clock.now().toISOString());
}

const TOUCH_INTERVAL_MS = 60_000;
const lastTouched = new Map<string, number>();

/**
 * Resolve a bearer token to a principal, or null when it is unknown, expired, revoked or
 * its owner is disabled. API tokens carry the intersection of their scope and the owner's
 * current permissions, so demoting a user demotes their tokens too.
 */
export async function authenticate(svc: Services, bearer: string): Promise<Principal | null> {
  if (!bearer.startsWith('certa_') || bearer.length > 200) return null;
  const found = await tokens.findTokenByHash(svc.db, hashToken(bearer));
  if (!found) return null;
  const { token, user } = found;
  const now = svc.clock.now();
  if (token.revokedAt || user.disabled) return null;
  if (token.expiresAt && Date.parse(token.expiresAt) <= now.getTime()) return null;
  let permissions = permissionsOfRoles(found.rolePermissions);
  if (token.kind === 'api') {
    const scope = new Set(token.permissions ?? []);
    permissions = new Set([...permissions].filter((p) => scope.has(p)));
  }
  // last_used_at is informative: write it at most once a minute per token.
  const last = lastTouched.get(token.id) ?? 0;
  if (now.getTime() - last > TOUCH_INTERVAL_MS) {
    lastTouched.set(token.id, now.getTime());
    if (lastTouched.size > 10_000) lastTouched.clear();
    await tokens.touchToken(svc.db, token.id, now.toISOString());
  }
  return { userId: user.id, email: user.email, tokenId: token.id, tokenKind: token.kind, permissions };
}

export async function currentUser(svc: Services, principal: Principal): Promise<Schemas['User']> {
  const user = await users.findUserById(svc.db, principal.userId);
  if (!user) throw new DomainError('unauthenticated', 'the user behind this token no longer exists');
  return toUser(user, principal.permissions);
}
