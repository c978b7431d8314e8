import { describe, expect, it } from 'vitest';
import { effectiveMaxConnections } from './edge.js';

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
