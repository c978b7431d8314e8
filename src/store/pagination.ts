/**
 * Keyset (cursor) pagination over a sort column plus the id as tie-breaker. The cursor is
 * opaque to clients: base64url of `[sortValue, id]`. A malformed cursor is a 400.
 */
import { sql, type RawBuilder } from 'kysely';
import { badRequest } from '../errors.js';
import { UNSTORABLE_TEXT } from '../lib/text.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(sortValue: string | number | null, id: string): string {
  return Buffer.from(JSON.stringify([sortValue, id])).toString('base64url');
}

/**
 * What a list sorts on besides the id: nothing (the sort value is null), a text column, or
 * a timestamp column. A cursor is checked against it, so a forged one is a 400 here rather
 * than a type error in the database (PostgreSQL refuses "abc" for a timestamptz: a 500).
 */
export type CursorSort = 'none' | 'text' | 'timestamp';

// Ids are UUIDs; a little slack for ids minted elsewhere, never NUL or non-ASCII.
const CURSOR_ID = /^[A-Za-z0-9-]{1,64}$/;

function sortValueFits(v: unknown, sort: CursorSort): boolean {
  if (sort === 'none') return v === null;
  if (typeof v !== 'string' || v.length > 1000 || UNSTORABLE_TEXT.test(v)) return false;
  if (sort === 'text') return true;
  // Timestamps are stored and returned as toISOString() text: anything else (a 31 February
  // the JS parser rolls over, year 0) was not ours.
  const d = new Date(v);
  return !Number.isNaN(d.getTime()) && d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999 && d.toISOString() === v;
}

export function decodeCursor(cursor: string | undefined, sort: CursorSort = 'none'): { sortValue: string | number | null; id: string } | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[1] === 'string' && CURSOR_ID.test(v[1]) && sortValueFits(v[0], sort)) {
      return { sortValue: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw badRequest('invalid cursor', [{ field: '/query/cursor', message: 'not a cursor returned by this API' }]);
}

/** Build a page from rows fetched with limit + 1. */
export function toPage<R, T>(rows: R[], limit: number, map: (r: R) => T, key: (r: R) => [string | number | null, string]): Page<T> {
  const more = rows.length > limit;
  const slice = more ? rows.slice(0, limit) : rows;
  const last = slice[slice.length - 1];
  return { items: slice.map(map), nextCursor: more && last ? encodeCursor(...key(last)) : null };
}

/**
 * ORDER BY for an id-or-name lookup: the row whose id it is comes first, so a row named
 * like another's id (names created before they were refused) never shadows it.
 */
export function idFirst(idOrName: string): RawBuilder<number> {
  return sql<number>`case when id = ${idOrName} then 0 else 1 end`;
}
