import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/** Repositories take either the database or a transaction; the caller owns the transaction. */
export type Db = Kysely<Database> | Transaction<Database>;
