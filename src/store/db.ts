/**
 * Dialect selection and connection setup. SQLite (better-sqlite3 v12) is the embedded
 * default; a postgres:// URL selects PostgreSQL. Both sit behind the same Kysely<Database>.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Database } from './schema.js';
import { migrations } from './migrations/index.js';

export type Dialect = 'sqlite' | 'postgres';

export interface StoreOptions {
  /** postgres:// URL, or null for SQLite. */
  databaseUrl: string | null;
  /** Directory holding certa.db in SQLite mode. */
  dataDir: string;
  /** SQLite file name override (":memory:" allowed); default certa.db in dataDir. */
  sqliteFile?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** PostgreSQL schema to work in (tests use one schema per test file). */
  pgSchema?: string;
  /** PostgreSQL: longest wait for a connection, new or pooled, in ms (default 5000). */
  connectTimeoutMs?: number;
  /**
   * PostgreSQL: a query without an answer after this long (ms) is taken for a dead
   * connection (a server that vanished without closing it), which is closed; 0 waits
   * forever. Default 30000. Migrations are exempt.
   */
  queryTimeoutMs?: number;
  /** PostgreSQL application_name (pg_stat_activity); default "certa". */
  applicationName?: string;
  /** Told about every error a PostgreSQL connection reports (the App logs them). */
  onConnectionError?: (err: Error) => void;
}

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Apply pending migrations; throws on failure. */
  migrate(): Promise<string[]>;
  /** True when the database answers and no migration is pending. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

const TIMESTAMPTZ = 1184;
const TIMESTAMP = 1114;
const INT8 = 20;
/** Keep timestamps as ISO strings (the same shape SQLite returns) and int8 as strings. */
const pgTypes = {
  getTypeParser(oid: number, format?: any) {
    if (oid === TIMESTAMPTZ || oid === TIMESTAMP) return (v: string) => new Date(oid === TIMESTAMP ? `${v}Z` : v).toISOString();
    if (oid === INT8) return (v: string) => v;
    return pg.types.getTypeParser(oid, format);
  },
};

/** better-sqlite3 cannot bind booleans: they are stored as 0/1 (mapped here, on the flat parameter list). */
function sqliteParameters(parameters: readonly unknown[]): readonly unknown[] {
  for (let i = 0; i < parameters.length; i++) {
    if (typeof parameters[i] === 'boolean') return parameters.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
  }
  return parameters;
}

/** The part of a better-sqlite3 statement that Kysely's SQLite driver uses. */
interface DriverStatement {
  readonly reader: boolean;
  all(parameters: readonly unknown[]): unknown[];
  run(parameters: readonly unknown[]): SqliteDatabase.RunResult;
  iterate(parameters: readonly unknown[]): IterableIterator<unknown>;
}

/**
 * Kysely prepares every query anew; better-sqlite3 statements are reusable, and preparing
 * costs as much as running a simple indexed query. Keep the most recent ones (Kysely runs
 * one statement at a time on its single connection, so a cached statement is never busy).
 * Booleans are mapped to 0/1 on the way in (cheaper than a Kysely plugin rewriting every
 * query tree).
 */
function withStatementCache(sqlite: SqliteDatabase.Database, max = 500) {
  const cache = new Map<string, DriverStatement>();
  const wrap = (st: SqliteDatabase.Statement): DriverStatement => ({
    reader: st.reader,
    all: (p) => st.all(sqliteParameters(p)),
    run: (p) => st.run(sqliteParameters(p)),
    iterate: (p) => st.iterate(sqliteParameters(p)),
  });
  // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR,
  // SQLITE_NOMEM); Kysely's own ROLLBACK after it would then fail with "no transaction is
  // active" and hide the error that matters. A ROLLBACK with no transaction is a no-op.
  const rollback: DriverStatement = {
    reader: false,
    all: () => [],
    run: (p) => (sqlite.inTransaction ? sqlite.prepare('rollback').run(p) : { changes: 0, lastInsertRowid: 0 }),
    iterate: () => [][Symbol.iterator](),
  };
  return {
    close: () => sqlite.close(),
    prepare(query: string) {
      if (query === 'rollback') return rollback;
      let st = cache.get(query);
      if (st) {
        cache.delete(query);
      } else {
        st = wrap(sqlite.prepare(query));
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(query, st);
      return st;
    },
  };
}

const CHECKPOINT_INTERVAL_MS = 100;
const CHECKPOINT_SAFETY_NET_PAGES = 10_000;

/**
 * WAL checkpoints off the request path. By default SQLite checkpoints inside the commit
 * that crosses 1,000 WAL pages, on the thread that serves requests: about 40 % of the cost
 * of a write transaction here, paid in bursts. A worker thread with its own connection
 * runs PASSIVE checkpoints (they never block readers or the writer) every
 * CHECKPOINT_INTERVAL_MS on the other core; the connection's own auto-checkpoint stays
 * as a safety net at CHECKPOINT_SAFETY_NET_PAGES.
 */
function startCheckpointer(file: string): { stop(): Promise<void> } {
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const Database = require(workerData.module);
     const db = new Database(workerData.file);
     db.pragma('busy_timeout = 1000');
     const timer = setInterval(() => {
       try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
     }, workerData.intervalMs);
     parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });`,
    { eval: true, workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS } },
  );
  worker.unref();
  // A failing checkpointer must not take the service down: the safety net still checkpoints.
  worker.on('error', () => {});
  let alive = true;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  void exited.then(() => (alive = false));
  return {
    async stop() {
      if (!alive) return;
      // Referenced again, so the process waits for the worker's clean exit.
      worker.ref();
      worker.postMessage('stop');
      await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
      await worker.terminate();
    },
  };
}

const MAX_NAMED_STATEMENTS = 2000;

interface ClientOptions {
  /** Every client's own 'error' listener (see below). */
  onError: (err: Error) => void;
  /** ms; 0 = no deadline. */
  queryTimeoutMs: number;
}

/**
 * The pg Client the pool hands out.
 *
 * Connection errors: a pg Client is an EventEmitter that emits 'error' when its connection
 * breaks (ECONNRESET, "Connection terminated unexpectedly", a FATAL 57P01 from
 * pg_terminate_backend or a server shutdown), and pg-pool listens for it only while the
 * client is idle: an 'error' on a client that is checked out (running a query, or between
 * two queries of a transaction) had no listener and killed the process. Every client
 * therefore listens for its whole life, from its constructor. The queries on a broken
 * connection are rejected by pg itself (so only they fail), the client is no longer
 * queryable, and the pool discards it when it is released; the next checkout opens a new
 * connection.
 *
 * Query deadline: a query with no answer after `queryTimeoutMs` (a server that vanished
 * without closing the connection, e.g. a failed-over host) has its connection destroyed,
 * which fails it (and the connection) like any other connection error; without it the
 * query would wait for TCP to give up, a quarter of an hour on Linux, holding a pooled
 * connection all along.
 *
 * Prepared statements: parameterised queries run as named (server-side prepared)
 * statements, so PostgreSQL parses and plans each distinct query once per connection
 * instead of on every execution (verifyChain on PostgreSQL: +30 % here). Kysely always
 * sends parameters separately, so the text of a query is stable and its values never are
 * part of it. Statements without parameters (DDL, migrations) stay unnamed, and at most
 * MAX_NAMED_STATEMENTS texts get a name. When a table's shape changes under a prepared
 * statement (another replica migrated: "cached plan must not change result type",
 * 0A000), the text gets a fresh name and the query is run again once.
 */
function preparedStatementsClient(opts: ClientOptions): typeof pg.Client {
  const names = new Map<string, string>();
  let next = 0;
  const nameFor = (text: string, fresh: boolean): string | undefined => {
    const known = names.get(text);
    if (known && !fresh) return known;
    if (!known && names.size >= MAX_NAMED_STATEMENTS) return undefined;
    const name = `certa_${next++}`;
    names.set(text, name);
    return name;
  };
  class PreparingClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super(config);
      this.on('error', opts.onError);
    }

    override query(config: any, values?: any, callback?: any): any {
      // Callback-style and query-object calls (pool internals, cursors) pass through untouched.
      if (typeof config !== 'string' || callback || typeof values === 'function') return (super.query as any)(config, values, callback);
      return this.#withDeadline(this.#run(config, values));
    }

    #run(text: string, values: unknown[] | undefined): Promise<pg.QueryResult> {
      if (!Array.isArray(values) || values.length === 0) return super.query(text, values);
      const name = nameFor(text, false);
      if (!name) return super.query(text, values);
      return super.query({ name, text, values }).catch((e: { code?: string }) => {
        if (e?.code !== '0A000') throw e;
        return super.query({ name: nameFor(text, true), text, values });
      });
    }

    #withDeadline<T>(p: Promise<T>): Promise<T> {
      const ms = opts.queryTimeoutMs;
      if (!ms) return p;
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`PostgreSQL did not answer within ${ms} ms: connection presumed dead, closed`), { code: 'ETIMEDOUT' });
        // Fails every query on this connection with `err` and makes the client unusable (discarded on release).
        (this as unknown as { connection?: { stream?: { destroy(e: Error): void } } }).connection?.stream?.destroy(err);
      }, ms);
      return p.finally(() => clearTimeout(timer));
    }
  }
  return PreparingClient as typeof pg.Client;
}

interface PgPoolOptions {
  databaseUrl: string;
  max: number;
  pgSchema?: string;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  applicationName: string;
  onError: (err: Error) => void;
}

function pgPool(o: PgPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    Client: preparedStatementsClient({ onError: o.onError, queryTimeoutMs: o.queryTimeoutMs }),
    connectionString: o.databaseUrl,
    max: o.max,
    types: pgTypes as any,
    options: o.pgSchema ? `-c search_path=${o.pgSchema}` : undefined,
    // Bounds both the TCP+startup of a new connection and the wait for a free pooled one:
    // while PostgreSQL is unreachable, requests fail (503) instead of queueing forever.
    connectionTimeoutMillis: o.connectTimeoutMs,
    // Idle connections to a host that vanished are noticed and discarded.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // A name in the URL (?application_name=) wins over this one.
    application_name: o.applicationName,
  });
  // Idle clients losing their connection are removed by the pool, which then emits 'error'
  // here; the clients' own listener has already reported it.
  pool.on('error', () => {});
  return pool;
}

export function openStore(opts: StoreOptions): Store {
  let db: Kysely<Database>;
  let dialect: Dialect;
  let checkpointer: { stop(): Promise<void> } | undefined;
  let pgOptions: PgPoolOptions | undefined;
  if (opts.databaseUrl) {
    dialect = 'postgres';
    pgOptions = {
      databaseUrl: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      pgSchema: opts.pgSchema,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      queryTimeoutMs: opts.queryTimeoutMs ?? 30_000,
      applicationName: opts.applicationName ?? 'certa',
      onError: opts.onConnectionError ?? (() => {}),
    };
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pgPool(pgOptions) }) });
  } else {
    dialect = 'sqlite';
    const file = opts.sqliteFile ?? join(opts.dataDir, 'certa.db');
    if (file !== ':memory:') mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
    if (file !== ':memory:') {
      checkpointer = startCheckpointer(file);
      // The worker keeps the WAL short; this is only the safety net if it falls behind.
      sqlite.pragma(`wal_autocheckpoint = ${CHECKPOINT_SAFETY_NET_PAGES}`);
    }
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) as any }) });
  }

  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });

  return {
    db,
    dialect,
    async migrate() {
      // On PostgreSQL, migrations get a connection of their own without the query deadline:
      // rebuilding an index on a large table may legitimately take longer than any request.
      const target = pgOptions ? new Kysely<Database>({ dialect: new PostgresDialect({ pool: pgPool({ ...pgOptions, max: 1, queryTimeoutMs: 0 }) }) }) : db;
      try {
        if (dialect === 'postgres' && opts.pgSchema) {
          await sql`create schema if not exists ${sql.id(opts.pgSchema)}`.execute(target);
        }
        const { error, results } = await new Migrator({ db: target, provider: { getMigrations: async () => migrations } }).migrateToLatest();
        if (error) throw error;
        return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
      } finally {
        if (target !== db) await target.destroy();
      }
    },
    async ready() {
      try {
        const list = await migrator.getMigrations();
        return list.every((m) => m.executedAt !== undefined);
      } catch {
        return false;
      }
    },
    async close() {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** Map a unique-constraint violation from either driver to true. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Node socket errors that mean the database cannot be reached or the connection broke. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * PostgreSQL SQLSTATEs: the server is going away, starting up, out of connection slots or
 * disk, or the session was ended under us. Class 08 (connection exception) is added below.
 */
const PG_CODES = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, fast/smart shutdown, failover
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '57P05', // idle_session_timeout
  '25P03', // idle_in_transaction_session_timeout (the session is ended)
  '53300', // too_many_connections
  '53100', // disk_full
]);
/** node-postgres and pg-pool errors that carry no code (connection-level by construction). */
const PG_MESSAGES = [
  /^Connection terminated/, // "... unexpectedly", "... due to connection timeout"
  /^timeout exceeded when trying to connect$/, // pool: no connection within connectionTimeoutMillis
  /^timeout expired$/, // client connect timeout
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  /^Query read timeout$/,
];
/** SQLite result codes (extended codes start with the primary one): locked beyond busy_timeout, I/O, disk full, file unreachable. */
const SQLITE_PREFIXES = ['SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN'];

/**
 * True when `e` means "the database is unreachable or cannot serve right now" rather than
 * "this query is wrong": a broken or refused connection, a server shutting down or starting,
 * no connection within the connect timeout, a SQLite file locked beyond busy_timeout, an
 * I/O error or a full disk. Such failures are transient from the caller's point of view;
 * the HTTP layer answers them with 503 `database_unavailable` and Retry-After. Follows
 * `cause` chains and AggregateError members (Happy Eyeballs connects).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  return unavailable(e, 0);
}

function unavailable(e: unknown, depth: number): boolean {
  if (!e || typeof e !== 'object' || depth > 5) return false;
  const err = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  if (code) {
    if (NETWORK_CODES.has(code) || PG_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (SQLITE_PREFIXES.some((p) => code === p || code.startsWith(`${p}_`))) return true;
  }
  if (typeof err.message === 'string' && PG_MESSAGES.some((re) => re.test(err.message as string))) return true;
  if (err.cause !== undefined && unavailable(err.cause, depth + 1)) return true;
  return Array.isArray(err.errors) && err.errors.some((x) => unavailable(x, depth + 1));
}
