/**
 * The ordered list of migrations. Static imports (not a directory scan) so the same list
 * works under tsx, in the compiled dist/ and in tests. Names are timestamps: append only.
 */
import type { Migration } from 'kysely';
import * as foundation from './2026-11-28T00-00-foundation.js';

export const migrations: Record<string, Migration> = {
  '2026-11-28T00-00-foundation': foundation,
};
