import { describe, expect, it } from 'vitest';
import { forEachDialect, ADMIN_EMAIL } from '../helpers/harness.js';

forEachDialect('rights management', (env) => {
  describe('users', () => {
    it('ok/create, get, list, update, delete', async () => {
      const api = env().client();
      const created = await api.POST('/api/v1/users', { body: { email: 'Alice@Example.com', displayName: 'Alice', password: 'correct horse battery', roles: ['operator'] } });
      expect(created.response.status).toBe(201);
      const alice = created.data!;
      expect(alice.email).toBe('alice@example.com');
      expect(alice.roles).toEqual(['operator']);
      expect(alice.permissions).toContain('certificates:issue');
      expect(alice).not.toHaveProperty('password');
      expect(alice).not.toHaveProperty('passwordHash');

      const got = await api.GET('/api/v1/users/{userId}', { params: { path: { userId: alice.id } } });
      expect(got.data!.displayName).toBe('Alice');

      const dup = await api.POST('/api/v1/users', { body: { email: 'ALICE@example.com', password: 'another long one' } });
      expect(dup.response.status).toBe(409);
      expect(dup.error!.code).toBe('conflict');

      const upd = await api.PATCH('/api/v1/users/{userId}', { params: { path: { userId: alice.id } }, body: { roles: ['auditor', 'viewer'], displayName: 'Alice A.' } });
      expect(upd.data!.roles).toEqual(['auditor', 'viewer']);
      expect(upd.data!.permissions).toContain('audit:read');

      const list = await api.GET('/api/v1/users', { params: { query: { q: 'alice' } } });
      expect(list.data!.items.map((u) => u.email)).toEqual(['alice@example.com']);

      const del = await api.DELETE('/api/v1/users/{userId}', { params: { path: { userId: alice.id } } });
      expect(del.response.status).toBe(204);
      const gone = await api.GET('/api/v1/users/{userId}', { params: { path: { userId: alice.id } } });
      expect(gone.response.status).toBe(404);
    });

    it('ok/cursor pagination is stable and complete', async () => {
      const api = env().client();
      for (let i = 0; i < 7; i++) await api.POST('/api/v1/users', { body: { email: `page${i}@example.com`, password: 'long enough password' } });
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const r = await api.GET('/api/v1/users', { params: { query: { limit: 3, q: 'page', cursor } } });
        seen.push(...r.data!.items.map((u) => u.email));
        cursor = r.data!.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `page${i}@example.com`));
      expect(pages).toBe(3);
      const bad = await api.GET('/api/v1/users', { params: { query: { cursor: 'not-a-cursor' } } });
      expect(bad.response.status).toBe(400);
    });

    it('error/unknown role and invalid fields are 400 with each field listed', async () => {
      const api = env().client();
      const r = await api.POST('/api/v1/users', { body: { email: 'bob@example.com', password: 'long enough password', roles: ['nope'] } });
      expect(r.response.status).toBe(400);
      const v = await api.POST('/api/v1/users', { body: { email: 'not-an-email', password: 'short' } as any });
      expect(v.response.status).toBe(400);
      expect(v.error!.code).toBe('validation_failed');
      const fields = v.error!.errors!.map((e) => e.field).sort();
      expect(fields).toEqual(['/body/email', '/body/password']);
    });

    it('error/the last enabled admin cannot be disabled or deleted', async () => {
      const api = env().client();
      const me = await api.GET('/api/v1/auth/me');
      const r = await api.PATCH('/api/v1/users/{userId}', { params: { path: { userId: me.data!.id } }, body: { disabled: true } });
      expect(r.response.status).toBe(409);
      const d = await api.DELETE('/api/v1/users/{userId}', { params: { path: { userId: me.data!.id } } });
      expect(d.response.status).toBe(409);
    });

    it('ok/disabling a user stops their tokens at once', async () => {
      const u = await env().userWithRoles(['viewer']);
      expect((await env().client(u.token).GET('/api/v1/auth/me')).response.status).toBe(200);
      await env().client().PATCH('/api/v1/users/{userId}', { params: { path: { userId: u.id } }, body: { disabled: true } });
      expect((await env().client(u.token).GET('/api/v1/auth/me')).response.status).toBe(401);
      const relogin = await env().client(null).POST('/api/v1/auth/login', { body: { email: u.email, password: u.password } });
      expect(relogin.response.status).toBe(401);
    });

    it('ok/password change: self with the current one, admin without', async () => {
      const u = await env().userWithRoles(['viewer']);
      const self = env().client(u.token);
      const wrong = await self.POST('/api/v1/users/{userId}/password', { params: { path: { userId: u.id } }, body: { currentPassword: 'wrong password!', newPassword: 'a brand new password' } });
      expect(wrong.response.status).toBe(401);
      const missing = await self.POST('/api/v1/users/{userId}/password', { params: { path: { userId: u.id } }, body: { newPassword: 'a brand new password' } });
      expect(missing.response.status).toBe(400);
      const okr = await self.POST('/api/v1/users/{userId}/password', { params: { path: { userId: u.id } }, body: { currentPassword: u.password, newPassword: 'a brand new password' } });
      expect(okr.response.status).toBe(204);
      expect(await env().login(u.email, 'a brand new password')).toMatch(/^certa_s_/);
      const admin = await env().client().POST('/api/v1/users/{userId}/password', { params: { path: { userId: u.id } }, body: { newPassword: 'set by the admin 1' } });
      expect(admin.response.status).toBe(204);
      // The admin's reset revoked the user's sessions.
      expect((await self.GET('/api/v1/auth/me')).response.status).toBe(401);
      expect(await env().login(u.email, 'set by the admin 1')).toMatch(/^certa_s_/);
      // Another user's password without users:write: 403.
      const other = await env().userWithRoles(['viewer']);
      const denied = await env().client(other.token).POST('/api/v1/users/{userId}/password', { params: { path: { userId: u.id } }, body: { newPassword: 'hijack attempt 123' } });
      expect(denied.response.status).toBe(403);
    });
  });

  describe('roles', () => {
    it('ok/built-in roles exist and cannot be changed or deleted', async () => {
      const api = env().client();
      const list = await api.GET('/api/v1/roles');
      const names = list.data!.items.map((r) => r.name);
      expect(names).toEqual(expect.arrayContaining(['admin', 'operator', 'auditor', 'viewer']));
      expect((await api.DELETE('/api/v1/roles/{roleId}', { params: { path: { roleId: 'admin' } } })).response.status).toBe(409);
      expect((await api.PATCH('/api/v1/roles/{roleId}', { params: { path: { roleId: 'viewer' } }, body: { permissions: [] } })).response.status).toBe(409);
      const viewer = await api.GET('/api/v1/roles/{roleId}', { params: { path: { roleId: 'viewer' } } });
      expect(viewer.data!.permissions.sort()).toEqual(['authorities:read', 'certificates:read']);
    });

    it('ok/custom role CRUD, and users holding it gain and lose its permissions', async () => {
      const api = env().client();
      const r = await api.POST('/api/v1/roles', { body: { name: 'issuer-bot', description: 'CI', permissions: ['certificates:issue', 'audit:read'] } });
      expect(r.response.status).toBe(201);
      const u = await env().userWithRoles(['issuer-bot']);
      expect((await env().client(u.token).GET('/api/v1/audit-events')).response.status).toBe(200);
      await api.PATCH('/api/v1/roles/{roleId}', { params: { path: { roleId: 'issuer-bot' } }, body: { permissions: ['certificates:issue'] } });
      expect((await env().client(u.token).GET('/api/v1/audit-events')).response.status).toBe(403);
      expect((await api.POST('/api/v1/roles', { body: { name: 'issuer-bot', permissions: [] } })).response.status).toBe(409);
      expect((await api.POST('/api/v1/roles', { body: { name: 'Bad Name', permissions: [] } })).response.status).toBe(400);
      expect((await api.POST('/api/v1/roles', { body: { name: 'x', permissions: ['not:a-permission'] as any } })).response.status).toBe(400);
      expect((await api.DELETE('/api/v1/roles/{roleId}', { params: { path: { roleId: r.data!.id } } })).response.status).toBe(204);
      const me = await env().client(u.token).GET('/api/v1/auth/me');
      expect(me.data!.roles).toEqual([]);
      expect(me.data!.permissions).toEqual([]);
    });

    it('ok/permission catalogue comes from the spec', async () => {
      const r = await env().client().GET('/api/v1/permissions');
      const names = r.data!.items.map((p) => p.name);
      expect(names).toContain('certificates:revoke');
      expect(r.data!.items.every((p) => p.description.length > 5)).toBe(true);
    });
  });

  describe('sessions and API tokens', () => {
    it('ok/login, me, logout; the token is dead after logout', async () => {
      const token = await env().login(ADMIN_EMAIL.toUpperCase(), 'admin-password-for-tests');
      const api = env().client(token);
      expect((await api.GET('/api/v1/auth/me')).data!.email).toBe(ADMIN_EMAIL);
      expect((await api.POST('/api/v1/auth/logout')).response.status).toBe(204);
      expect((await api.GET('/api/v1/auth/me')).response.status).toBe(401);
    });

    it('error/bad credentials do not reveal whether the email exists', async () => {
      const anon = env().client(null);
      const a = await anon.POST('/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'whatever password' } });
      const b = await anon.POST('/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: 'wrong password here' } });
      expect(a.response.status).toBe(401);
      expect(b.response.status).toBe(401);
      expect(a.error!.detail).toBe(b.error!.detail);
      expect(a.error!.code).toBe(b.error!.code);
    });

    it('ok/API token: subset of permissions, secret shown once, revocable', async () => {
      const op = await env().userWithRoles(['operator']);
      const api = env().client(op.token);
      const tooMuch = await api.POST('/api/v1/tokens', { body: { name: 'greedy', permissions: ['users:write'] } });
      expect(tooMuch.response.status).toBe(403);
      const t = await api.POST('/api/v1/tokens', { body: { name: 'ci', permissions: ['certificates:read', 'tokens:manage'], expiresInDays: 30 } });
      expect(t.response.status).toBe(201);
      expect(t.data!.token).toMatch(/^certa_a_/);
      const listed = await api.GET('/api/v1/tokens');
      expect(listed.data!.items.map((x) => x.id)).toContain(t.data!.id);
      expect(JSON.stringify(listed.data)).not.toContain(t.data!.token);
      const svc = env().client(t.data!.token);
      const me = await svc.GET('/api/v1/auth/me');
      expect(me.data!.permissions.sort()).toEqual(['certificates:read', 'tokens:manage']);
      // Scope is enforced: operator may read audit? no; but may issue — the token may not.
      expect((await svc.POST('/api/v1/tokens', { body: { name: 'x', permissions: ['certificates:issue'] } })).response.status).toBe(403);
      expect((await api.DELETE('/api/v1/tokens/{tokenId}', { params: { path: { tokenId: t.data!.id } } })).response.status).toBe(204);
      expect((await svc.GET('/api/v1/auth/me')).response.status).toBe(401);
      // Another user cannot see or revoke it.
      const other = await env().userWithRoles(['operator']);
      expect((await env().client(other.token).DELETE('/api/v1/tokens/{tokenId}', { params: { path: { tokenId: t.data!.id } } })).response.status).toBe(404);
    });
  });

  describe('audit', () => {
    it('ok/mutations and logins are recorded, filterable, newest first', async () => {
      const api = env().client();
      const c = await api.POST('/api/v1/roles', { body: { name: 'audited-role', permissions: [] } });
      await env().client(null).POST('/api/v1/auth/login', { body: { email: 'ghost@example.com', password: 'nope nope nope' } });
      const byTarget = await api.GET('/api/v1/audit-events', { params: { query: { action: 'createRole', target: c.data!.id } } });
      expect(byTarget.data!.items).toHaveLength(1);
      const ev = byTarget.data!.items[0];
      expect(ev.outcome).toBe('success');
      expect(ev.actor!.email).toBe(ADMIN_EMAIL);
      expect(ev.requestId).toBeTruthy();
      expect(ev.ip).toBeTruthy();
      const failed = await api.GET('/api/v1/audit-events', { params: { query: { action: 'login', outcome: 'failure', target: 'ghost@example.com' } } });
      expect(failed.data!.items.length).toBe(1);
      const all = await api.GET('/api/v1/audit-events', { params: { query: { limit: 500 } } });
      const ids = all.data!.items.map((e) => e.id);
      expect([...ids].sort().reverse()).toEqual(ids);
      const since = await api.GET('/api/v1/audit-events', { params: { query: { since: '2999-01-01T00:00:00Z' } } });
      expect(since.data!.items).toEqual([]);
    });

    it('error/audit events cannot be modified or deleted', async () => {
      const r = await env().fetch('/api/v1/audit-events', { method: 'DELETE', headers: { authorization: `Bearer ${env().adminToken}` } });
      expect(r.status).toBe(405);
    });
  });
});
