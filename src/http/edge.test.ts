import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import { Socket } from 'node:net';
import { configureServer, effectiveMaxConnections } from './edge.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../log.js';

describe('effectiveMaxConnections', () => {
  it('ok/CERTA_MAX_CONNECTIONS wins when set', () => {
    expect(effectiveMaxConnections({ maxConnections: 50, dbPoolSize: 10 }, 1024)).toBe(50);
  });

  it('ok/derived from the open-files limit, leaving room for the pool, files and logs', () => {
    expect(effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 10 }, 1024)).toBe(1024 - 128 - 10);
    expect(effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 10 }, 256)).toBe(256 - 64 - 10);
    expect(effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 10 }, 1_048_576)).toBe(10_000);
    expect(effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 10 }, Infinity)).toBe(10_000);
    expect(effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 500 }, 64)).toBe(16);
    expect(effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 10 }, null)).toBe(1000);
  });

  it('ok/this process: below its own open-files limit', () => {
    const n = effectiveMaxConnections({ maxConnections: 0, dbPoolSize: 10 });
    expect(n).toBeGreaterThanOrEqual(16);
    expect(n).toBeLessThanOrEqual(10_000);
  });
});

describe('clientError handler', () => {
  it('ok/never throws on a socket already destroyed or closed for writing, and destroys it', () => {
    const server = createServer();
    configureServer(server, loadConfig({}), createLogger('silent'));
    for (const code of ['HPE_INVALID_METHOD', 'HPE_HEADER_OVERFLOW', 'ERR_HTTP_REQUEST_TIMEOUT', 'ECONNRESET', undefined]) {
      const destroyed = new Socket();
      destroyed.destroy();
      expect(() => server.emit('clientError', Object.assign(new Error('parse error'), { code }), destroyed)).not.toThrow();
      const ended = new Socket();
      ended.end();
      expect(() => server.emit('clientError', Object.assign(new Error('parse error'), { code }), ended)).not.toThrow();
      expect(ended.destroyed).toBe(true);
    }
  });
});
