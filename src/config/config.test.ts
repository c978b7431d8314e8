import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('ok/defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('0.0.0.0');
    expect(c.databaseUrl).toBeNull();
    expect(c.dataDir).toMatch(/data$/);
    expect(c.adminEmail).toBe('admin@certa.local');
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.dbConnectTimeoutMs).toBe(5000);
    expect(c.dbQueryTimeoutMs).toBe(30_000);
    expect(c.dbApplicationName).toBe('certa');
    expect(Object.isFrozen(c)).toBe(true);
    expect([c.maxConnections, c.headersTimeoutMs, c.requestTimeoutMs, c.keepAliveTimeoutMs, c.docsUrl]).toEqual([0, 10_000, 30_000, 65_000, null]);
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['error/port not a number', { CERTA_PORT: 'eighty' }, /CERTA_PORT/],
    ['error/port out of range', { CERTA_PORT: '70000' }, /CERTA_PORT/],
    ['error/database url scheme', { CERTA_DATABASE_URL: 'mysql://x' }, /CERTA_DATABASE_URL/],
    ['error/public url', { CERTA_PUBLIC_URL: 'ftp://x' }, /CERTA_PUBLIC_URL/],
    ['error/log level', { CERTA_LOG_LEVEL: 'loud' }, /CERTA_LOG_LEVEL/],
    ['error/short admin password', { CERTA_ADMIN_PASSWORD: 'short' }, /CERTA_ADMIN_PASSWORD/],
    ['error/master key size', { CERTA_MASTER_KEY: Buffer.alloc(16).toString('base64') }, /CERTA_MASTER_KEY/],
    ['error/boolean', { CERTA_JOBS: 'perhaps' }, /CERTA_JOBS/],
    ['error/headers timeout above the request timeout', { CERTA_HEADERS_TIMEOUT_MS: '40000' }, /CERTA_HEADERS_TIMEOUT_MS: must not exceed CERTA_REQUEST_TIMEOUT_MS \(30000\)/],
    ['error/docs url', { CERTA_DOCS_URL: 'docs.example.com' }, /CERTA_DOCS_URL/],
    ['error/connect timeout of zero (would wait forever)', { CERTA_DB_CONNECT_TIMEOUT_MS: '0' }, /CERTA_DB_CONNECT_TIMEOUT_MS/],
    ['error/negative query timeout', { CERTA_DB_QUERY_TIMEOUT_MS: '-1' }, /CERTA_DB_QUERY_TIMEOUT_MS/],
    ['error/application name too long', { CERTA_DB_APPLICATION_NAME: 'x'.repeat(64) }, /CERTA_DB_APPLICATION_NAME/],
    ['error/application name not printable ASCII', { CERTA_DB_APPLICATION_NAME: 'certa\népsilon' }, /CERTA_DB_APPLICATION_NAME/],
  ];
  for (const [name, env, re] of bad) {
    it(name, () => expect(() => loadConfig(env)).toThrow(re));
  }

  it('ok/database timeouts and application name', () => {
    const c = loadConfig({ CERTA_DB_CONNECT_TIMEOUT_MS: '2500', CERTA_DB_QUERY_TIMEOUT_MS: '0', CERTA_DB_APPLICATION_NAME: 'certa-eu-west-1a' });
    expect(c.dbConnectTimeoutMs).toBe(2500);
    expect(c.dbQueryTimeoutMs).toBe(0);
    expect(c.dbApplicationName).toBe('certa-eu-west-1a');
  });

  it('ok/postgres url and trailing slash on the public url', () => {
    const c = loadConfig({ CERTA_DATABASE_URL: 'postgres://u@h/db', CERTA_PUBLIC_URL: 'https://certa.example.com/' });
    expect(c.databaseUrl).toBe('postgres://u@h/db');
    expect(c.publicUrl).toBe('https://certa.example.com');
  });
});
