/**
 * Integration harness. `forEachDialect` runs a suite against a real App on SQLite (a temp
 * data dir) and on PostgreSQL (a schema of its own in the run's database), and gives the
 * suite typed clients (the shipped @certa/client) whose every response is validated
 * against the spec.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { createCertaClient, type CertaClient } from '../../clients/typescript/src/index.js';
import { responseValidation } from './response-validator.js';
import type { Clock } from '../../src/lib/clock.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type DialectName = (typeof DIALECTS)[number];

export const ADMIN_EMAIL = 'admin@certa.test';
export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestEnv {
  dialect: DialectName;
  app: App;
  url: string;
  dataDir: string;
  adminToken: string;
  /** A client with the admin's session (or the given token); responses are spec-validated. */
  client(token?: string | null): CertaClient;
  /** Log in and return the token. */
  login(email: string, password: string): Promise<string>;
  /** Create a user with the given roles and return a session token for them. */
  userWithRoles(roles: string[], email?: string): Promise<{ id: string; email: string; token: string; password: string }>;
  /** A raw fetch against the app (for non-JSON or deliberately malformed requests). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** A second App on the same database and data dir, as another replica would be (no jobs). */
  replica(): Promise<{ app: App; client(token?: string | null): CertaClient; stop(): Promise<void> }>;
}

export interface StartOptions {
  env?: Record<string, string>;
  clock?: Clock;
}

export async function startTestApp(dialect: DialectName, opts: StartOptions = {}): Promise<{ app: App; dataDir: string; pgSchema?: string; cleanup: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), `certa-test-${dialect}-`));
  const pgSchema = dialect === 'postgres' ? `t_${randomBytes(6).toString('hex')}` : undefined;
  const pgUrl = dialect === 'postgres' ? inject('pgUrl') : undefined;
  const config: Readonly<Config> = loadConfig({
    CERTA_PORT: '0',
    CERTA_HOST: '127.0.0.1',
    CERTA_DATA_DIR: dataDir,
    CERTA_ADMIN_EMAIL: ADMIN_EMAIL,
    CERTA_ADMIN_PASSWORD: ADMIN_PASSWORD,
    CERTA_LOG_LEVEL: process.env.CERTA_TEST_LOG_LEVEL ?? 'silent',
    CERTA_JOBS: 'false',
    CERTA_TARGET_ALLOW: '127.0.0.0/8,::1', // receivers and TLS servers in tests listen on loopback
    ...(pgUrl ? { CERTA_DATABASE_URL: pgUrl, CERTA_DB_POOL_SIZE: '5' } : {}),
    ...opts.env,
  });
  const app = new App({ config, pgSchema, clock: opts.clock, logger: createLogger(config.logLevel) });
  await app.start();
  return {
    app,
    dataDir,
    pgSchema,
    async cleanup() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (pgUrl && pgSchema) {
        const c = new pg.Client({ connectionString: pgUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
        await c.end();
      }
    },
  };
}

export function makeEnv(dialect: DialectName, app: App, dataDir: string, adminToken: string, pgSchema?: string): TestEnv {
  const url = app.url;
  const clientFor = (baseUrl: string) => (token?: string | null) =>
    createCertaClient({ baseUrl, token: token === undefined ? adminToken : (token ?? undefined), middleware: [responseValidation] });
  const client = clientFor(url);
  const env: TestEnv = {
    dialect,
    app,
    url,
    dataDir,
    adminToken,
    client,
    async login(email, password) {
      const { data, error } = await client(null).POST('/api/v1/auth/login', { body: { email, password } });
      if (!data) throw new Error(`login failed: ${JSON.stringify(error)}`);
      return data.token;
    },
    async userWithRoles(roles, email) {
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const e = email ?? `u-${randomBytes(5).toString('hex')}@example.test`;
      const { data, error } = await client().POST('/api/v1/users', { body: { email: e, password, roles } });
      if (!data) throw new Error(`createUser failed: ${JSON.stringify(error)}`);
      return { id: data.id, email: e, password, token: await env.login(e, password) };
    },
    fetch(path, init) {
      return fetch(url + path, init);
    },
    async replica() {
      const other = new App({ config: { ...app.config, port: 0, jobsEnabled: false }, pgSchema, logger: createLogger(app.config.logLevel) });
      await other.start();
      return { app: other, client: clientFor(other.url), stop: () => other.stop() };
    },
  };
  return env;
}

/**
 * Run `fn` once per dialect, each in its own describe block with a fresh App.
 * `get()` returns the environment inside tests (it is built in beforeAll).
 */
export function forEachDialect(name: string, fn: (get: () => TestEnv) => void, opts: StartOptions = {}): void {
  for (const dialect of DIALECTS) {
    describe(`${name} [${dialect}]`, () => {
      let env: TestEnv | undefined;
      let cleanup: (() => Promise<void>) | undefined;
      beforeAll(async () => {
        const started = await startTestApp(dialect, opts);
        cleanup = started.cleanup;
        const res = await fetch(`${started.app.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
        });
        const { token } = (await res.json()) as { token: string };
        env = makeEnv(dialect, started.app, started.dataDir, token, started.pgSchema);
      });
      afterAll(async () => {
        await cleanup?.();
      });
      fn(() => {
        if (!env) throw new Error('test environment not started');
        return env;
      });
    });
  }
}
