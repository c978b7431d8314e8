/**
 * Dialect-specific plumbing of the store. SQLite: the WAL checkpointer (committed pages
 * reach the database file from the worker thread, without any commit crossing SQLite's
 * own auto-checkpoint threshold; closing the store stops it). PostgreSQL: named prepared
 * statements survive another process changing a table under them. Both: connection-level
 * failures, produced for real where possible, are told apart from query errors
 * (`isDatabaseUnavailable`), and a PostgreSQL connection lost while in use fails only its
 * queries (no process crash, the pool replaces it).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { isDatabaseUnavailable, isUniqueViolation, openStore, type Store } from './db.js';
import { newId } from '../lib/ids.js';
import { DomainError } from '../errors.js';

const auditRow = (action: string, i: number, detail: string | null = null) => ({
  id: newId(),
  at: new Date().toISOString(),
  actor_user_id: null,
  actor_email: null,
  actor_token_id: null,
  action,
  target: `t-${i}`,
  outcome: 'success' as const,
  status: 200,
  request_id: `r-${i}`,
  ip: null,
  detail,
});

/** What a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A TCP server that accepts connections and never answers (a host that swallows packets). */
async function blackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const s: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as { port: number }).port,
    async close() {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => s.close(r));
    },
  };
}

describe('SQLite store: checkpoints off the request path', () => {
  let dir: string;
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ok/committed pages reach the database file though no commit reaches the auto-checkpoint threshold', async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-wal-'));
    store = openStore({ dataDir: dir, databaseUrl: null });
    await store.migrate();
    const file = join(dir, 'certa.db');
    const before = statSync(file).size;
    // About 300 pages of WAL: far below the 10,000-page safety net.
    for (let i = 0; i < 300; i++) {
      await store.db
        .insertInto('audit_events')
        .values({ id: newId(), at: new Date().toISOString(), actor_user_id: null, actor_email: null, actor_token_id: null, action: 'test', target: `t-${i}`.padEnd(400, 'x'), outcome: 'success', status: 200, request_id: `r-${i}`, ip: null, detail: 'y'.repeat(2000) })
        .execute();
    }
    let grown = statSync(file).size;
    for (const deadline = Date.now() + 10_000; grown <= before + 300 * 2000 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
      grown = statSync(file).size;
    }
    expect(grown).toBeGreaterThan(before + 300 * 2000);
    const rows = await store.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).where('action', '=', 'test').executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(300);
  });

  it('ok/close stops the checkpointer and the data is all there when reopened', async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-wal-'));
    const first = openStore({ dataDir: dir, databaseUrl: null });
    await first.migrate();
    await first.db.insertInto('audit_events').values({ id: newId(), at: new Date().toISOString(), actor_user_id: null, actor_email: null, actor_token_id: null, action: 'reopen', target: null, outcome: 'success', status: 200, request_id: 'r', ip: null, detail: null }).execute();
    await first.close();
    store = openStore({ dataDir: dir, databaseUrl: null });
    const row = await store.db.selectFrom('audit_events').selectAll().where('action', '=', 'reopen').executeTakeFirst();
    expect(row?.request_id).toBe('r');
  });
});

describe('PostgreSQL store: prepared statements', () => {
  it('ok/a query keeps working after another process changes the table under its prepared plan', async () => {
    const pgUrl = inject('pgUrl');
    const pgSchema = `t_${randomBytes(6).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'certa-pgprep-'));
    const store = openStore({ dataDir: dir, databaseUrl: pgUrl, pgSchema, poolSize: 1 });
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    try {
      await store.migrate();
      await admin.query(`INSERT INTO ${pgSchema}.roles (id, name, description, permissions, builtin, created_at, updated_at) VALUES ('r1', 'probe-role', 'd', '[]', false, now(), now())`);
      const read = () => store.db.selectFrom('roles').selectAll().where('name', '=', 'probe-role').execute();
      const before = await read();
      expect(before).toHaveLength(1);
      // Another replica migrates: the row type of `select *` changes under the prepared plan.
      await admin.query(`ALTER TABLE ${pgSchema}.roles ADD COLUMN probe text DEFAULT 'x'`);
      const after = await read();
      expect(after).toHaveLength(1);
      expect((after[0] as Record<string, unknown>).probe).toBe('x');
      expect(await read()).toHaveLength(1);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('isDatabaseUnavailable: the classifier behind 503 database_unavailable', () => {
  it('ok/connection-level codes and messages of both drivers', () => {
    const yes: unknown[] = [
      { code: 'ECONNREFUSED' },
      { code: 'ECONNRESET' },
      { code: 'ETIMEDOUT' },
      { code: 'EPIPE' },
      { code: 'EHOSTUNREACH' },
      { code: '57P01' },
      { code: '57P02' },
      { code: '57P03' },
      { code: '08006' },
      { code: '08001' },
      { code: '08P01' },
      { code: '53300' },
      { code: '53100' },
      { code: 'SQLITE_BUSY' },
      { code: 'SQLITE_BUSY_SNAPSHOT' },
      { code: 'SQLITE_IOERR_WRITE' },
      { code: 'SQLITE_FULL' },
      { code: 'SQLITE_CANTOPEN' },
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('wrapped', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }),
      new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })], 'every address failed'),
    ];
    for (const e of yes) expect(isDatabaseUnavailable(e), JSON.stringify(e) + String(e)).toBe(true);
  });

  it('ok/query errors, domain errors and non-errors are not', () => {
    const no: unknown[] = [
      { code: '23505' }, // unique violation
      { code: '42601' }, // syntax error
      { code: '40001' }, // serialization failure
      { code: '57014' }, // statement timeout: the server answered
      { code: '0A000' },
      { code: 'SQLITE_CONSTRAINT_UNIQUE' },
      { code: 'SQLITE_ERROR' },
      { code: 'SQLITE_CORRUPT' },
      new DomainError('not_found', 'profile not found'),
      new Error('boom'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      null,
      undefined,
      'ECONNREFUSED',
    ];
    for (const e of no) expect(isDatabaseUnavailable(e), String(e)).toBe(false);
  });

  describe('SQLite, real failures', () => {
    let dir: string;
    let store: Store | undefined;
    afterEach(async () => {
      await store?.close();
      store = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    it('error/a write while another connection holds the write lock beyond busy_timeout: SQLITE_BUSY, unavailable; fine once released', async () => {
      dir = mkdtempSync(join(tmpdir(), 'certa-busy-'));
      store = openStore({ dataDir: dir, databaseUrl: null });
      await store.migrate();
      await sql`pragma busy_timeout = 100`.execute(store.db);
      const other = new SqliteDatabase(join(dir, 'certa.db'));
      try {
        other.exec('begin immediate');
        const e = await rejection(store.db.transaction().execute((trx) => trx.insertInto('audit_events').values(auditRow('busy', 1)).execute()));
        expect(e.code).toMatch(/^SQLITE_BUSY/);
        expect(isDatabaseUnavailable(e)).toBe(true);
        // Readers are not blocked in WAL mode.
        await store.db.selectFrom('audit_events').select('id').limit(1).execute();
        other.exec('rollback');
        await store.db.insertInto('audit_events').values(auditRow('busy', 2)).execute();
      } finally {
        other.close();
      }
    });

    it('error/disk full inside a transaction surfaces as SQLITE_FULL (not as the failed ROLLBACK after it), unavailable', async () => {
      dir = mkdtempSync(join(tmpdir(), 'certa-full-'));
      store = openStore({ dataDir: dir, databaseUrl: null });
      await store.migrate();
      const pages = (await sql<{ page_count: number }>`pragma page_count`.execute(store.db)).rows[0].page_count;
      await sql.raw(`pragma max_page_count = ${pages}`).execute(store.db);
      const e = await rejection(
        store.db.transaction().execute(async (trx) => {
          for (let i = 0; i < 500; i++) await trx.insertInto('audit_events').values(auditRow('full', i, 'x'.repeat(2000))).execute();
        }),
      );
      expect(e.code).toBe('SQLITE_FULL');
      expect(isDatabaseUnavailable(e)).toBe(true);
      // Room again: the store goes on.
      await sql.raw(`pragma max_page_count = ${pages * 100}`).execute(store.db);
      await store.db.insertInto('audit_events').values(auditRow('full', 999)).execute();
    });

    it('ok/a constraint violation is a query error', async () => {
      dir = mkdtempSync(join(tmpdir(), 'certa-uniq-'));
      store = openStore({ dataDir: dir, databaseUrl: null });
      await store.migrate();
      const row = auditRow('uniq', 1);
      await store.db.insertInto('audit_events').values(row).execute();
      const e = await rejection(store.db.insertInto('audit_events').values(row).execute());
      expect(isUniqueViolation(e)).toBe(true);
      expect(isDatabaseUnavailable(e)).toBe(false);
    });
  });

  describe('PostgreSQL, real failures', () => {
    // The data dir is unused on PostgreSQL; openStore wants one.
    const dir = join(tmpdir(), 'certa-pgfail-unused');
    let store: Store | undefined;
    afterEach(async () => {
      await store?.close();
      store = undefined;
    });

    it('error/nothing listening: ECONNREFUSED, unavailable', async () => {
      store = openStore({ dataDir: dir, databaseUrl: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres` });
      const e = await rejection(sql`select 1`.execute(store.db));
      expect(isDatabaseUnavailable(e)).toBe(true);
      expect(await store.ready()).toBe(false);
    });

    it('error/a server that never answers: fails after the connect timeout, unavailable', async () => {
      const hole = await blackhole();
      try {
        store = openStore({ dataDir: dir, databaseUrl: `postgres://postgres@127.0.0.1:${hole.port}/postgres`, connectTimeoutMs: 300 });
        const started = Date.now();
        const e = await rejection(sql`select 1`.execute(store.db));
        expect(Date.now() - started).toBeLessThan(3000);
        expect(isDatabaseUnavailable(e), String(e)).toBe(true);
      } finally {
        await store?.close();
        store = undefined;
        await hole.close();
      }
    });

    it('ok/application_name: configurable, "certa" by default, a name in the URL wins', async () => {
      const pgUrl = inject('pgUrl');
      const name = async (s: Store) => (await sql<{ n: string }>`select current_setting('application_name') as n`.execute(s.db)).rows[0].n;
      store = openStore({ dataDir: dir, databaseUrl: pgUrl });
      expect(await name(store)).toBe('certa');
      await store.close();
      store = openStore({ dataDir: dir, databaseUrl: pgUrl, applicationName: 'certa-eu-1' });
      expect(await name(store)).toBe('certa-eu-1');
      await store.close();
      const url = new URL(pgUrl);
      url.searchParams.set('application_name', 'from-url');
      store = openStore({ dataDir: dir, databaseUrl: url.toString(), applicationName: 'certa-eu-1' });
      expect(await name(store)).toBe('from-url');
    });

    it('error/a backend terminated while its client is busy: that query fails (57P01, unavailable), the process lives, the pool goes on', async () => {
      const pgUrl = inject('pgUrl');
      const appName = `certa-unit-${randomBytes(4).toString('hex')}`;
      const reported: Error[] = [];
      store = openStore({ dataDir: dir, databaseUrl: pgUrl, applicationName: appName, poolSize: 2, onConnectionError: (e) => reported.push(e) });
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      try {
        // One client busy in a query, the other checked out in a transaction between two queries.
        const sleeping = rejection(sql`select pg_sleep(30)`.execute(store.db));
        let inTransaction!: Promise<any>;
        const between = new Promise<void>((ready) => {
          inTransaction = rejection(
            store!.db.transaction().execute(async (trx) => {
              await sql`select 1`.execute(trx);
              ready();
              await new Promise((r) => setTimeout(r, 500));
              await sql`select 2`.execute(trx);
            }),
          );
        });
        await between;
        for (let i = 0; i < 100; i++) {
          const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`, [appName]);
          if (rows[0].n >= 1) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1`, [appName]);
        expect(rows.filter((r) => r.t)).toHaveLength(2);
        const e1 = await sleeping;
        expect(e1.code).toBe('57P01');
        expect(isDatabaseUnavailable(e1)).toBe(true);
        expect(isDatabaseUnavailable(await inTransaction)).toBe(true);
        expect(reported.length).toBeGreaterThan(0);
        // New connections replace the broken ones.
        expect((await sql<{ v: number }>`select 41 + 1 as v`.execute(store.db)).rows[0].v).toBe(42);
        await Promise.all([1, 2, 3, 4].map(() => sql`select pg_sleep(0.01)`.execute(store!.db)));
      } finally {
        await admin.end();
      }
    });

    it('error/a query unanswered past the query deadline: its connection is closed (unavailable), the next query gets a new one', async () => {
      store = openStore({ dataDir: dir, databaseUrl: inject('pgUrl'), poolSize: 1, queryTimeoutMs: 300 });
      const started = Date.now();
      const e = await rejection(sql`select pg_sleep(3)`.execute(store.db));
      expect(Date.now() - started).toBeLessThan(2500);
      expect(e.code).toBe('ETIMEDOUT');
      expect(isDatabaseUnavailable(e)).toBe(true);
      expect((await sql<{ v: number }>`select 1 as v`.execute(store.db)).rows[0].v).toBe(1);
    });

    it('ok/migrations are exempt from the query deadline', async () => {
      const pgUrl = inject('pgUrl');
      const pgSchema = `t_${randomBytes(6).toString('hex')}`;
      // 1 ms: any migration statement would miss it.
      store = openStore({ dataDir: dir, databaseUrl: pgUrl, pgSchema, queryTimeoutMs: 1 });
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      try {
        expect((await store.migrate()).length).toBeGreaterThan(0);
      } finally {
        await store.close();
        store = undefined;
        await admin.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
        await admin.end();
      }
    });
  });
});
