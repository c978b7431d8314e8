import type { Principal, Services } from '../context.js';
import { DomainError, conflict, notFound, badRequest, forbidden } from '../errors.js';
import { newId } from '../lib/ids.js';
import { hashPassword, verifyPassword } from '../auth/passwords.js';
import { isUniqueViolation } from '../store/db.js';
import * as users from '../store/users.repository.js';
import * as roles from '../store/roles.repository.js';
import * as tokens from '../store/tokens.repository.js';
import type { Page } from '../store/pagination.js';
import { permissionsOfUser } from './permissions.usecases.js';
import { toUser } from './mappers.js';
import type { Schemas } from '../spec.js';
import type { Db } from '../store/types.js';

type User = Schemas['User'];

async function present(db: Db, u: users.UserRow): Promise<User> {
  return toUser(u, await permissionsOfUser(db, u.id));
}

async function resolveRoleIds(db: Db, names: string[]): Promise<string[]> {
  const unique = [...new Set(names)];
  const found = await roles.findRolesByNames(db, unique);
  const missing = unique.filter((n) => !found.some((r) => r.name === n));
  if (missing.length) {
    throw badRequest(`unknown role(s): ${missing.join(', ')}`, missing.map((m) => ({ field: '/body/roles', message: `no role named "${m}"` })));
  }
  return found.map((r) => r.id);
}

export async function listUsers(svc: Services, q: users.UserQuery): Promise<Page<User>> {
  const page = await users.listUsers(svc.db, q);
  return { items: await Promise.all(page.items.map((u) => present(svc.db, u))), nextCursor: page.nextCursor };
}

export async function getUser(svc: Services, id: string): Promise<User> {
  const u = await users.findUserById(svc.db, id);
  if (!u) throw notFound('user');
  return present(svc.db, u);
}

export async function createUser(svc: Services, input: Schemas['UserCreate']): Promise<User> {
  const now = svc.clock.now().toISOString();
  const passwordHash = await hashPassword(input.password);
  const id = newId();
  try {
    await svc.db.transaction().execute(async (trx) => {
      const roleIds = await resolveRoleIds(trx, input.roles ?? ['viewer']);
      await users.insertUser(
        trx,
        { id, email: input.email, displayName: input.displayName ?? input.email.split('@')[0], passwordHash, disabled: input.disabled ?? false, createdAt: now, updatedAt: now },
        roleIds,
      );
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a user with email ${input.email.toLowerCase()} already exists`);
    throw e;
  }
  return getUser(svc, id);
}

/** Refuse a change that would leave no enabled admin (nobody could manage Certa any more). */
async function assertAdminRemains(db: Db, userId: string, after: { disabled: boolean; roles: string[] }): Promise<void> {
  const before = await users.findUserById(db, userId);
  if (!before || before.disabled || !before.roles.includes('admin')) return;
  if (!after.disabled && after.roles.includes('admin')) return;
  if ((await users.countEnabledWithRole(db, 'admin')) <= 1) throw conflict('this is the last enabled admin; promote another admin first');
}

export async function updateUser(svc: Services, id: string, patch: Schemas['UserUpdate']): Promise<User> {
  const now = svc.clock.now().toISOString();
  try {
    await svc.db.transaction().execute(async (trx) => {
      const current = await users.findUserById(trx, id);
      if (!current) throw notFound('user');
      await assertAdminRemains(trx, id, { disabled: patch.disabled ?? current.disabled, roles: patch.roles ?? current.roles });
      await users.updateUser(trx, id, { email: patch.email, displayName: patch.displayName, disabled: patch.disabled, updatedAt: now });
      if (patch.roles) await users.setUserRoles(trx, id, await resolveRoleIds(trx, patch.roles));
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a user with email ${patch.email?.toLowerCase()} already exists`);
    throw e;
  }
  return getUser(svc, id);
}

export async function deleteUser(svc: Services, id: string): Promise<void> {
  await svc.db.transaction().execute(async (trx) => {
    if (!(await users.findUserById(trx, id))) throw notFound('user');
    await assertAdminRemains(trx, id, { disabled: true, roles: [] });
    await users.deleteUser(trx, id);
  });
}

export async function changePassword(svc: Services, principal: Principal, userId: string, input: Schemas['PasswordChange']): Promise<void> {
  const user = await users.findUserById(svc.db, userId);
  if (!user) throw notFound('user');
  const isAdmin = principal.permissions.has('users:write');
  if (!isAdmin) {
    if (principal.userId !== userId) throw forbidden('you may only change your own password');
    if (!input.currentPassword) throw badRequest('currentPassword is required', [{ field: '/body/currentPassword', message: 'required to change your own password' }]);
    if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
      throw new DomainError('invalid_credentials', 'the current password is wrong', [{ field: '/body/currentPassword', message: 'does not match' }]);
    }
  }
  const now = svc.clock.now().toISOString();
  const passwordHash = await hashPassword(input.newPassword);
  await svc.db.transaction().execute(async (trx) => {
    await users.updateUser(trx, userId, { passwordHash, updatedAt: now });
    await tokens.revokeSessions(trx, userId, now, principal.userId === userId ? principal.tokenId : undefined);
  });
}

/**
 * First start: when no user exists, create the admin from config, or admin@certa.local with
 * a random password that is logged once (the only time a secret is ever logged, on purpose).
 */
export async function bootstrapAdmin(svc: Services): Promise<void> {
  if ((await users.countUsers(svc.db)) > 0) return;
  const generated = svc.config.adminPassword === null;
  const password = svc.config.adminPassword ?? (await import('node:crypto')).randomBytes(18).toString('base64url');
  await createUser(svc, { email: svc.config.adminEmail, displayName: 'Administrator', password, roles: ['admin'] }).catch((e) => {
    if (e instanceof DomainError && e.code === 'conflict') return; // another replica won the race
    throw e;
  });
  if (generated) {
    svc.log.warn(
      { bootstrapAdmin: { email: svc.config.adminEmail, initialPassword: password } },
      `FIRST START: created admin ${svc.config.adminEmail} with a generated password (shown once; change it, or set CERTA_ADMIN_PASSWORD)`,
    );
  } else {
    svc.log.info({ email: svc.config.adminEmail }, 'first start: created the admin from CERTA_ADMIN_EMAIL / CERTA_ADMIN_PASSWORD');
  }
}
