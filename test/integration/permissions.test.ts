/**
 * Walks EVERY operation of the spec: no token -> 401, a token without the declared
 * permission -> 403, a revoked or expired token -> 401. Adding an operation to the spec
 * adds it to this test.
 */
import { describe, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { TestClock } from '../helpers/clock.js';
import { OPERATIONS, SECURED, WITH_PERMISSION, concretePath } from '../helpers/spec-walk.js';

const clock = new TestClock();

async function call(base: string, op: { method: string }, path: string, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const hasBody = !['get', 'delete', 'head'].includes(op.method);
  const res = await fetch(base + path, { method: op.method.toUpperCase(), headers, body: hasBody ? '{}' : undefined });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, wwwAuth: res.headers.get('www-authenticate') };
}

describe('spec walk setup', () => {
  it('every non-public operation declares a permission or is explicitly token-only', () => {
    const tokenOnly = SECURED.filter((o) => !o.permission).map((o) => o.operationId).sort();
    expect(tokenOnly).toEqual(['getCurrentUser', 'logout']);
    expect(OPERATIONS.length).toBeGreaterThan(20);
  });
});

forEachDialect(
  'permission enforcement over every operation',
  (env) => {
    it('no token -> 401 problem with WWW-Authenticate, for every secured operation', async () => {
      for (const op of SECURED) {
        const r = await call(env().url, op, concretePath(op));
        expect.soft(r.status, `${op.operationId}`).toBe(401);
        expect.soft(r.type, `${op.operationId}`).toContain('application/problem+json');
        expect.soft(r.wwwAuth, `${op.operationId}`).toContain('Bearer');
      }
    });

    it('a token without the permission -> 403, for every operation that declares one', async () => {
      const nobody = await env().userWithRoles([]);
      for (const op of WITH_PERMISSION) {
        const r = await call(env().url, op, concretePath(op), nobody.token);
        expect.soft(r.status, `${op.operationId} needs ${op.permission}`).toBe(403);
        expect.soft(JSON.parse(r.text).code, op.operationId).toBe('forbidden');
      }
    });

    it('an API token scoped without the permission -> 403 even when the owner has it', async () => {
      const api = env().client();
      const t = await api.POST('/api/v1/tokens', { body: { name: 'scoped', permissions: ['tokens:manage'] } });
      for (const op of WITH_PERMISSION.filter((o) => o.permission !== 'tokens:manage')) {
        const r = await call(env().url, op, concretePath(op), t.data!.token);
        expect.soft(r.status, op.operationId).toBe(403);
      }
    });

    it('a revoked token -> 401, for every secured operation', async () => {
      const api = env().client();
      const t = await api.POST('/api/v1/tokens', { body: { name: 'to-revoke', permissions: ['users:read', 'tokens:manage'] } });
      await api.DELETE('/api/v1/tokens/{tokenId}', { params: { path: { tokenId: t.data!.id } } });
      for (const op of SECURED) {
        const r = await call(env().url, op, concretePath(op), t.data!.token);
        expect.soft(r.status, op.operationId).toBe(401);
      }
    });

    it('an expired token -> 401 (API token and session), for every secured operation', async () => {
      const api = env().client();
      const t = await api.POST('/api/v1/tokens', { body: { name: 'short-lived', permissions: ['users:read'], expiresInDays: 1 } });
      const session = await env().login('admin@certa.test', 'admin-password-for-tests');
      expect((await call(env().url, { method: 'get' }, '/api/v1/users', t.data!.token)).status).toBe(200);
      clock.advance(2 * 86_400_000);
      try {
        for (const op of SECURED) {
          expect.soft((await call(env().url, op, concretePath(op), t.data!.token)).status, op.operationId).toBe(401);
          expect.soft((await call(env().url, op, concretePath(op), session)).status, op.operationId).toBe(401);
        }
      } finally {
        clock.advance(-2 * 86_400_000);
      }
    });

    it('garbage bearer values -> 401, never 500', async () => {
      for (const bad of ['x', 'certa_a_' + 'A'.repeat(43), 'certa_s_' + '\u00e9'.repeat(10), 'a'.repeat(5000)]) {
        const r = await fetch(env().url + '/api/v1/auth/me', { headers: { authorization: `Bearer ${bad}` } }).catch(() => null);
        if (r) expect([400, 401, 431]).toContain(r.status);
      }
      const r = await fetch(env().url + '/api/v1/auth/me', { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
      expect(r.status).toBe(401);
    });
  },
  { clock },
);
