/**
 * Queries built and compiled once per database, then run with fresh parameters.
 *
 * Kysely builds an immutable query tree and compiles it to SQL on every call; for a point
 * read on SQLite that costs more than the read itself. The few queries on every request's
 * path (the bearer-token lookup, the revocation status of a verified certificate) are
 * built once with placeholders in place of their arguments; the compiled SQL is kept per
 * Kysely instance and only the parameter list is rebuilt per call. The query is the same
 * Kysely builder code as everywhere else (typed, dialect-aware); only its compilation is
 * memoised.
 */
import type { CompiledQuery, Compilable } from 'kysely';
import type { Db } from './types.js';

const SLOT = Symbol('certa.slot');
interface Slot {
  readonly [SLOT]: number;
}

function isSlot(v: unknown): v is Slot {
  return typeof v === 'object' && v !== null && SLOT in v;
}

/**
 * `const byHash = compiledQuery((db, hash: string) => db.selectFrom('t').selectAll().where('k', '=', hash))`
 * then `await byHash(db, 'abc')` → rows. The builder is called once per database with
 * placeholders for its arguments, so it must use each argument only as a bound value
 * (never in JavaScript logic, string building or `sql.lit`), and declare every argument
 * (no defaults or rest parameters: they are counted with `build.length`).
 */
export function compiledQuery<A extends unknown[], R>(build: (db: Db, ...args: A) => Compilable<R>): (db: Db, ...args: A) => Promise<R[]> {
  const arity = build.length - 1;
  const compiled = new WeakMap<Db, { query: CompiledQuery<R>; slots: Array<number | undefined> }>();
  return async (db, ...args) => {
    let c = compiled.get(db);
    if (!c) {
      const placeholders = Array.from({ length: arity }, (_, i): Slot => ({ [SLOT]: i }));
      const query = build(db, ...(placeholders as unknown as A)).compile();
      const slots = query.parameters.map((p) => (isSlot(p) ? p[SLOT] : undefined));
      if (new Set(slots.filter((s) => s !== undefined)).size !== arity) throw new Error('compiledQuery: every argument must be used as a bound value');
      c = { query, slots };
      compiled.set(db, c);
    }
    const { query, slots } = c;
    const parameters = slots.map((s, i) => (s === undefined ? query.parameters[i] : args[s]));
    const result = await db.executeQuery<R>({ ...query, parameters });
    return result.rows;
  };
}
