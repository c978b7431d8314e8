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
  return {
    close: () => sqlite.close(),
    prepare(query: string) {
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

/**
 * A pg Client that runs parameterised queries as named (server-side prepared) statements,
 * so PostgreSQL parses and plans each distinct query once per connection instead of on
 * every execution (verifyChain on PostgreSQL: +30 % here). Kysely always sends
 * parameters separately, so the text of a query is stable and its values never are part
 * of it. Statements without parameters (DDL, migrations) stay unnamed, and at most
 * MAX_NAMED_STATEMENTS texts get a name. When a table's shape changes under a prepared
 * statement (another replica migrated: "cached plan must not change result type",
 * 0A000), the text gets a fresh name and the query is run again once.
 */
function preparedStatementsClient(): typeof pg.Client {
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
    override query(config: any, values?: any, callback?: any): any {
      if (typeof config !== 'string' || !Array.isArray(values) || values.length === 0 || callback) return (super.query as any)(config, values, callback);
      const name = nameFor(config, false);
      if (!name) return super.query(config, values);
      return super.query({ name, text: config, values }).catch((e: { code?: string }) => {
        if (e?.code !== '0A000') throw e;
        return super.query({ name: nameFor(config, true), text: config, values });
      });
    }
  }
  return PreparingClient as typeof pg.Client;
}

export function openStore(opts: StoreOptions): Store {
  let db: Kysely<Database>;
  let dialect: Dialect;
  let checkpointer: { stop(): Promise<void> } | undefined;
  if (opts.databaseUrl) {
    dialect = 'postgres';
    const pool = new pg.Pool({
      Client: preparedStatementsClient(),
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      types: pgTypes as any,
      options: opts.pgSchema ? `-c search_path=${opts.pgSchema}` : undefined,
    });
    // An idle client losing its connection must not crash the process.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
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
      if (dialect === 'postgres' && opts.pgSchema) {
        await sql`create schema if not exists ${sql.id(opts.pgSchema)}`.execute(db);
      }
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error;
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
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
