/** Handlers for the auth, users, roles, tokens and audit tags. Named by operationId. */
import type { HandlerMap } from '../handler.js';
import { created, noContent, ok, principalOf } from '../handler.js';
import * as sessions from '../../rights/sessions.usecases.js';
import * as users from '../../rights/users.usecases.js';
import * as roles from '../../rights/roles.usecases.js';
import * as tokens from '../../rights/tokens.usecases.js';
import * as audit from '../../rights/audit.usecases.js';

const DEFAULT_LIMIT = 50;

export const rightsHandlers: HandlerMap = {
  async login(c) {
    c.audit(c.body.email.trim().toLowerCase());
    return ok(await sessions.login(c.svc, { email: c.body.email, password: c.body.password, ip: c.ip }));
  },
  async logout(c) {
    await sessions.logout(c.svc, principalOf(c));
    return noContent();
  },
  async getCurrentUser(c) {
    return ok(await sessions.currentUser(c.svc, principalOf(c)));
  },

  async listUsers(c) {
    return ok(await users.listUsers(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createUser(c) {
    const user = await users.createUser(c.svc, c.body);
    c.audit(user.id, user.email);
    return created(user, { Location: `/api/v1/users/${user.id}` });
  },
  async getUser(c) {
    return ok(await users.getUser(c.svc, c.params.userId));
  },
  async updateUser(c) {
    c.audit(c.params.userId);
    return ok(await users.updateUser(c.svc, c.params.userId, c.body));
  },
  async deleteUser(c) {
    c.audit(c.params.userId);
    await users.deleteUser(c.svc, c.params.userId);
    return noContent();
  },
  async changePassword(c) {
    c.audit(c.params.userId);
    await users.changePassword(c.svc, principalOf(c), c.params.userId, c.body);
    return noContent();
  },

  listPermissions() {
    return ok(roles.listPermissions());
  },
  async listRoles(c) {
    return ok(await roles.listRoles(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createRole(c) {
    const role = await roles.createRole(c.svc, c.body);
    c.audit(role.id, role.name);
    return created(role, { Location: `/api/v1/roles/${role.id}` });
  },
  async getRole(c) {
    return ok(await roles.getRole(c.svc, c.params.roleId));
  },
  async updateRole(c) {
    c.audit(c.params.roleId);
    return ok(await roles.updateRole(c.svc, c.params.roleId, c.body));
  },
  async deleteRole(c) {
    c.audit(c.params.roleId);
    await roles.deleteRole(c.svc, c.params.roleId);
    return noContent();
  },

  async listApiTokens(c) {
    return ok(await tokens.listApiTokens(c.svc, principalOf(c), { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createApiToken(c) {
    const token = await tokens.createApiToken(c.svc, principalOf(c), c.body);
    c.audit(token.id, token.name);
    return created(token);
  },
  async revokeApiToken(c) {
    c.audit(c.params.tokenId);
    await tokens.revokeApiToken(c.svc, principalOf(c), c.params.tokenId);
    return noContent();
  },

  async listAuditEvents(c) {
    return ok(await audit.listAuditEvents(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
};
