/**
 * Keyset (cursor) pagination over a sort column plus the id as tie-breaker. The cursor is
 * opaque to clients: base64url of `[sortValue, id]`. A malformed cursor is a 400.
 */
import { badRequest } from '../errors.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(sortValue: string | number | null, id: string): string {
  return Buffer.from(JSON.stringify([sortValue, id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { sortValue: string | number | null; id: string } | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[1] === 'string' && ['string', 'number'].includes(typeof v[0]) || (Array.isArray(v) && v[0] === null && typeof v[1] === 'string')) {
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
