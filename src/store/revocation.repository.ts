/**
 * Revocation storage: revoking rows, CRL rows and their refresh state, OCSP responder
 * certificates. Plain functions over `db | trx`; the caller owns transactions.
 */
import { sql } from 'kysely';
import type { Db } from './types.js';
import type { CrlsTable, OcspRespondersTable } from './schema.js';

export type CrlRow = CrlsTable;
export type ResponderRow = OcspRespondersTable;

export interface RevocationFields {
  revoked_at: string | null;
  revocation_reason: string | null;
  invalidity_date: string | null;
  hold_released_at: string | null;
  updated_at: string;
}

export async function setCertificateRevocation(db: Db, id: string, f: RevocationFields): Promise<void> {
  await db.updateTable('certificates').set(f).where('id', '=', id).execute();
}

/**
 * Flag an authority's CRL for regeneration. Keeps the first flag time of a burst, so a
 * steady stream of revocations cannot postpone the CRL forever.
 */
export async function markCrlDirty(db: Db, authorityId: string, at: string): Promise<void> {
  await db
    .insertInto('crl_state')
    .values({ authority_id: authorityId, dirty_since: at, last_full_number: null, last_full_at: null, next_update: null })
    .onConflict((oc) => oc.column('authority_id').doUpdateSet({ dirty_since: sql`coalesce(crl_state.dirty_since, excluded.dirty_since)` }))
    .execute();
}

/**
 * Claim the dirty flag of one authority (compare-and-clear). Exactly one replica wins a
 * given flag; a revocation committed after the claim sets it again.
 */
export async function claimDirty(db: Db, authorityId: string, dirtySince: string | null): Promise<boolean> {
  let q = db.updateTable('crl_state').set({ dirty_since: null }).where('authority_id', '=', authorityId);
  q = dirtySince === null ? q.where('dirty_since', 'is', null) : q.where('dirty_since', '=', dirtySince);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function crlState(db: Db, authorityId: string) {
  return db.selectFrom('crl_state').selectAll().where('authority_id', '=', authorityId).executeTakeFirst();
}

export async function allCrlStates(db: Db) {
  return db.selectFrom('crl_state').selectAll().execute();
}

export async function recordFullCrl(db: Db, authorityId: string, n: bigint, at: string, nextUpdate: string): Promise<void> {
  await db
    .insertInto('crl_state')
    .values({ authority_id: authorityId, dirty_since: null, last_full_number: n.toString(), last_full_at: at, next_update: nextUpdate })
    .onConflict((oc) =>
      oc
        .column('authority_id')
        .doUpdateSet({ last_full_number: n.toString(), last_full_at: at, next_update: nextUpdate })
        // Full CRLs built concurrently may be stored out of order: the newest number wins.
        .where((eb) => eb.or([eb('crl_state.last_full_number', 'is', null), eb('crl_state.last_full_number', '<', n.toString())])),
    )
    .execute();
}

/**
 * Hand out the next CRL number of an authority together with the base a delta CRL would
 * take (the newest stored full CRL below that number), in one statement: an upsert of the
 * authority's counter row that returns both. On PostgreSQL the conflicting row is locked
 * and its latest version incremented; on SQLite the statement holds the write lock
 * throughout. A statement, not a transaction of several: two SQLite connections in one
 * process (better-sqlite3 is synchronous) would wait on each other's open transaction.
 */
export async function allocateCrlNumber(db: Db, authorityId: string) {
  const stored = db
    .selectFrom('crls')
    .select(sql<string>`coalesce(max(crl_number), 0) + 1`.as('n'))
    .where('authority_id', '=', authorityId);
  const base = (column: 'crl_number' | 'created_at') =>
    sql`(select b.${sql.ref(column)} from crls as b where b.authority_id = ${authorityId} and b.delta_base is null and b.crl_number < crl_state.last_crl_number order by b.crl_number desc limit 1)`;
  const row = await db
    .insertInto('crl_state')
    // The first allocation continues from the CRLs already stored.
    .values({ authority_id: authorityId, dirty_since: null, last_full_number: null, last_full_at: null, next_update: null, last_crl_number: stored })
    .onConflict((oc) => oc.column('authority_id').doUpdateSet({ last_crl_number: sql`coalesce(crl_state.last_crl_number + 1, excluded.last_crl_number)` }))
    .returning(['last_crl_number', base('crl_number').as('base_number'), base('created_at').as('base_created_at')])
    .executeTakeFirstOrThrow();
  return {
    crlNumber: BigInt(row.last_crl_number!),
    base: row.base_number === null ? undefined : { crlNumber: BigInt(row.base_number as string), createdAt: String(row.base_created_at) },
  };
}

export async function setCrlNextUpdate(db: Db, authorityId: string, nextUpdate: string): Promise<void> {
  await db.updateTable('crl_state').set({ next_update: nextUpdate }).where('authority_id', '=', authorityId).execute();
}

/** Throws a unique violation when another replica already took this number. */
export async function insertCrl(db: Db, row: CrlRow): Promise<void> {
  await db.insertInto('crls').values(row).execute();
}

export async function maxCrlNumber(db: Db, authorityId: string): Promise<bigint> {
  const r = await db.selectFrom('crls').select((eb) => eb.fn.max('crl_number').as('n')).where('authority_id', '=', authorityId).executeTakeFirst();
  return r?.n === null || r?.n === undefined ? 0n : BigInt(r.n);
}

/** The newest full CRL (delta=false) or delta CRL (delta=true) of an authority. */
export async function latestCrl(db: Db, authorityId: string, delta: boolean): Promise<CrlRow | undefined> {
  return db
    .selectFrom('crls')
    .selectAll()
    .where('authority_id', '=', authorityId)
    .where('delta_base', delta ? 'is not' : 'is', null)
    .orderBy('crl_number', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Same as latestCrl but without the DER (metadata only). */
export async function latestCrlInfo(db: Db, authorityId: string, delta: boolean) {
  return db
    .selectFrom('crls')
    .select(['authority_id', 'crl_number', 'delta_base', 'this_update', 'next_update', 'entries', 'created_at'])
    .where('authority_id', '=', authorityId)
    .where('delta_base', delta ? 'is not' : 'is', null)
    .orderBy('crl_number', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Keep the newest `keep` CRLs of an authority; older bytes are never served. */
export async function pruneCrls(db: Db, authorityId: string, keep: number): Promise<void> {
  const cut = await db
    .selectFrom('crls')
    .select('crl_number')
    .where('authority_id', '=', authorityId)
    .orderBy('crl_number', 'desc')
    .offset(keep)
    .limit(1)
    .executeTakeFirst();
  if (cut) await db.deleteFrom('crls').where('authority_id', '=', authorityId).where('crl_number', '<=', cut.crl_number).execute();
}

export interface RevokedRow {
  serial: string;
  revoked_at: string | null;
  revocation_reason: string | null;
  invalidity_date: string | null;
  hold_released_at: string | null;
}

/**
 * Revoked certificates of an authority in serial order, streamed in pages (keyset on the
 * serial) so a million-entry CRL never sits in memory as rows. `since` limits to changes
 * at or after that time (delta CRLs), including lifted holds.
 */
export async function* revokedCertificates(db: Db, authorityId: string, opts: { since?: string; pageSize?: number } = {}): AsyncGenerator<RevokedRow> {
  const pageSize = opts.pageSize ?? 50_000;
  let after: string | null = null;
  while (true) {
    let q = db
      .selectFrom('certificates')
      .select(['serial', 'revoked_at', 'revocation_reason', 'invalidity_date', 'hold_released_at'])
      .where('authority_id', '=', authorityId);
    if (opts.since) {
      const since = opts.since;
      q = q.where((eb) => eb.or([eb('revoked_at', '>=', since), eb.and([eb('revoked_at', 'is', null), eb('hold_released_at', '>=', since)])]));
    } else {
      q = q.where('revoked_at', 'is not', null);
    }
    if (after !== null) q = q.where('serial', '>', after);
    const rows = await q.orderBy('serial').limit(pageSize).execute();
    for (const r of rows) yield r;
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1].serial;
  }
}

/** Revoked sub-CAs of an authority (they go on its CRL too). */
export async function revokedChildAuthorities(db: Db, authorityId: string, since?: string) {
  let q = db
    .selectFrom('authorities')
    .select(['serial', 'revoked_at', 'revocation_reason'])
    .where('parent_id', '=', authorityId)
    .where('revoked_at', 'is not', null)
    .where('serial', 'is not', null);
  if (since) q = q.where('revoked_at', '>=', since);
  return q.execute();
}

export async function countRevoked(db: Db, authorityId: string): Promise<number> {
  const r = await db
    .selectFrom('certificates')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('authority_id', '=', authorityId)
    .where('revoked_at', 'is not', null)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Revocation status of serials issued by one authority (certificates and sub-CAs). */
export async function statusBySerials(db: Db, authorityId: string, serials: string[]) {
  if (!serials.length) return [];
  const certs = await db
    .selectFrom('certificates')
    .select(['serial', 'revoked_at', 'revocation_reason'])
    .where('authority_id', '=', authorityId)
    .where('serial', 'in', serials)
    .execute();
  const cas = await db
    .selectFrom('authorities')
    .select(['serial', 'revoked_at', 'revocation_reason'])
    .where('parent_id', '=', authorityId)
    .where('serial', 'in', serials)
    .execute();
  return [...certs, ...cas.map((c) => ({ ...c, serial: c.serial! }))];
}

export async function currentResponder(db: Db, authorityId: string, validAfter: string): Promise<ResponderRow | undefined> {
  return db
    .selectFrom('ocsp_responders')
    .selectAll()
    .where('authority_id', '=', authorityId)
    .where('not_after', '>', validAfter)
    .orderBy('not_after', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function insertResponder(db: Db, row: ResponderRow): Promise<void> {
  await db.insertInto('ocsp_responders').values(row).execute();
}
