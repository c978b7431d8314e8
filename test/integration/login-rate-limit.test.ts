import { expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';

forEachDialect(
  'login rate limiting',
  (env) => {
    it('per account: after N failures -> 429 with Retry-After, even with the right password', async () => {
      const u = await env().userWithRoles(['viewer']);
      const anon = env().client(null);
      for (let i = 0; i < 3; i++) {
        expect((await anon.POST('/api/v1/auth/login', { body: { email: u.email, password: 'wrong password ' + i } })).response.status).toBe(401);
      }
      const limited = await anon.POST('/api/v1/auth/login', { body: { email: u.email, password: u.password } });
      expect(limited.response.status).toBe(429);
      expect(Number(limited.response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.error!.code).toBe('rate_limited');
      // An unknown email is limited the same way (no enumeration through the limiter).
      for (let i = 0; i < 3; i++) await anon.POST('/api/v1/auth/login', { body: { email: 'ghost@nowhere.test', password: 'x' } });
      expect((await anon.POST('/api/v1/auth/login', { body: { email: 'ghost@nowhere.test', password: 'x' } })).response.status).toBe(429);
    });

    it('per address: many accounts from one address -> 429', async () => {
      const anon = env().client(null);
      let last = 0;
      for (let i = 0; i < 12; i++) {
        last = (await anon.POST('/api/v1/auth/login', { body: { email: `spray${i}@example.test`, password: 'password1234' } })).response.status;
      }
      expect(last).toBe(429);
    });
  },
  { env: { CERTA_LOGIN_MAX_FAILURES: '3', CERTA_LOGIN_MAX_FAILURES_PER_ADDRESS: '10' } },
);
