/**
 * CRL generation and the job that keeps every authority's CRL fresh.
 *
 * - CRLs are built by a job, not per request: soon after a revocation (bursts coalesce
 *   behind `crlCoalesceMs`) and before nextUpdate (at half-life). They are stored in the
 *   database, so every replica serves the same bytes. A fetch that finds revocations
 *   waiting past the window (jobs off or behind) runs the same claimed refresh once.
 * - Replicas coordinate through the database only: the dirty flag is claimed with a
 *   compare-and-clear, and CRL numbers come from a per-authority counter row, allocated
 *   together with a delta's base in one transaction (the (authority_id, crl_number)
 *   primary key still refuses a number taken twice).
 * - Full and delta CRLs share one number sequence (RFC 5280 5.2.4). Below
 *   `crlDeltaThreshold` entries every refresh is a full CRL plus an empty delta; above
 *   it, revocations between full refreshes produce delta CRLs only (small, fast).
 */
import type { Services } from '../context.js';
import { DomainError } from '../errors.js';
import { isDatabaseUnavailable, isUniqueViolation } from '../store/db.js';
import * as authorities from '../store/authorities.repository.js';
import * as repo from '../store/revocation.repository.js';
import { buildCrl, type CrlEntry, type CrlReason } from '../pki/crl.js';
import { crlUrl, deltaCrlUrl } from '../authority/urls.js';

/** How many generated CRLs to keep per authority (older ones are never served). */
const KEEP_CRLS = 4;
const MAX_NUMBER_RACES = 20;

export type CrlKind = 'full' | 'delta';

export interface GeneratedCrl {
  authorityId: string;
  crlNumber: bigint;
  kind: CrlKind;
  entries: number;
  thisUpdate: string;
  nextUpdate: string;
}

type AuthorityRow = NonNullable<Awaited<ReturnType<typeof authorities.findAuthority>>>;

/** An authority signs CRLs when it holds a key and a certificate. */
export function signsCrls(a: AuthorityRow): boolean {
  return a.key_secret_id !== null && a.certificate_der !== null && a.status !== 'pending';
}

async function* entriesOf(svc: Services, authorityId: string, since?: string): AsyncGenerator<CrlEntry> {
  for await (const r of repo.revokedCertificates(svc.db, authorityId, { since })) {
    if (r.revoked_at === null) {
      // A lifted hold, only ever selected for a delta CRL.
      yield { serialHex: r.serial, revokedAt: new Date(r.hold_released_at!), reason: 'removeFromCRL' };
      continue;
    }
    yield {
      serialHex: r.serial,
      revokedAt: new Date(r.revoked_at),
      reason: (r.revocation_reason ?? undefined) as CrlReason | undefined,
      invalidityDate: r.invalidity_date ? new Date(r.invalidity_date) : undefined,
    };
  }
  for (const ca of await repo.revokedChildAuthorities(svc.db, authorityId, since)) {
    yield { serialHex: ca.serial!, revokedAt: new Date(ca.revoked_at!), reason: (ca.revocation_reason ?? undefined) as CrlReason | undefined };
  }
}

/** Counts entries while they stream into the encoder. */
async function* counting<T>(src: AsyncIterable<T>, box: { n: number }): AsyncGenerator<T> {
  for await (const x of src) {
    box.n++;
    yield x;
  }
}

/**
 * Build, sign and store one CRL of an authority. `kind: 'delta'` lists the changes since
 * the newest full CRL below its number (which must exist).
 */
export async function generateCrl(svc: Services, authorityId: string, kind: CrlKind): Promise<GeneratedCrl> {
  const a = await authorities.findAuthority(svc.db, authorityId);
  if (!a) throw new DomainError('not_found', 'authority not found');
  if (!signsCrls(a)) throw new DomainError('conflict', `authority "${a.name}" holds no signing key: it publishes no CRL`);
  const key = await svc.keyring.load(a.key_secret_id!);
  for (let attempt = 0; ; attempt++) {
    // Step 1: the number and a delta's base in one statement: read apart, a replica
    // storing a full CRL in between could make the base reach the number.
    const alloc = await repo.allocateCrlNumber(svc.db, a.id);
    const now = svc.clock.now();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + svc.config.crlLifetimeSeconds * 1000);
    const n = alloc.crlNumber;
    let deltaBase: bigint | undefined;
    let since: string | undefined;
    if (kind === 'delta') {
      if (!alloc.base) throw new DomainError('conflict', 'a delta CRL needs a full CRL first');
      deltaBase = alloc.base.crlNumber;
      // Changes from when the base was taken (created_at is set before its rows are read).
      since = alloc.base.createdAt;
    }
    // Step 2: build and sign outside the transaction (a large CRL takes a while).
    const startedAt = now.toISOString();
    const count = { n: 0 };
    const der = await buildCrl({
      issuerCertificate: a.certificate_der!,
      signingKey: key,
      crlNumber: n,
      thisUpdate,
      nextUpdate,
      entries: counting(entriesOf(svc, a.id, since), count),
      deltaBase,
      freshestCrlUrls: kind === 'full' ? [deltaCrlUrl(svc.config.publicUrl, a.id)] : undefined,
    });
    // Step 3: store it. The number is this replica's alone; a clash means a CRL was stored
    // without the counter (a replica of an older release), so draw another.
    try {
      await repo.insertCrl(svc.db, {
        authority_id: a.id,
        crl_number: n.toString(),
        delta_base: deltaBase === undefined ? null : deltaBase.toString(),
        this_update: thisUpdate.toISOString(),
        next_update: nextUpdate.toISOString(),
        entries: count.n,
        der,
        created_at: startedAt,
      });
    } catch (e) {
      if (isUniqueViolation(e) && attempt < MAX_NUMBER_RACES) continue;
      throw e;
    }
    if (kind === 'full') await repo.recordFullCrl(svc.db, a.id, n, thisUpdate.toISOString(), nextUpdate.toISOString());
    svc.log.info({ authorityId: a.id, crlNumber: n.toString(), kind, entries: count.n }, 'CRL generated');
    return { authorityId: a.id, crlNumber: n, kind, entries: count.n, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString() };
  }
}

/**
 * Bring one authority's CRLs up to date: a full CRL (plus its empty delta) when there is
 * none, when it passed half its life, or when the list is small; a delta only when the
 * list is large and the full CRL still fresh. Returns what was generated.
 */
export function refreshCrl(svc: Services, authorityId: string): Promise<GeneratedCrl[]> {
  // One refresh of an authority at a time in this process (the job, a fetch and a test may
  // ask together); across replicas the dirty-flag claim and the primary key arbitrate.
  const previous = refreshing.get(authorityId) ?? Promise.resolve([]);
  const next = previous.catch(() => []).then(() => refreshNow(svc, authorityId));
  refreshing.set(authorityId, next);
  void next.finally(() => refreshing.get(authorityId) === next && refreshing.delete(authorityId)).catch(() => {});
  return next;
}

const refreshing = new Map<string, Promise<GeneratedCrl[]>>();

async function refreshNow(svc: Services, authorityId: string): Promise<GeneratedCrl[]> {
  const now = svc.clock.now();
  const state = await repo.crlState(svc.db, authorityId);
  const full = await repo.latestCrlInfo(svc.db, authorityId, false);
  const halfLife = full ? new Date(full.this_update).getTime() + (new Date(full.next_update).getTime() - new Date(full.this_update).getTime()) / 2 : 0;
  const stale = !full || now.getTime() >= halfLife;
  const dirty = !!state?.dirty_since;
  if (!stale && !dirty) return [];
  // Claim the flag (another replica may be on it); a stale CRL is claimed through the flag too.
  if (state && !(await repo.claimDirty(svc.db, authorityId, state.dirty_since))) return [];
  try {
    if (!stale && full && full.entries >= svc.config.crlDeltaThreshold) return [await generateCrl(svc, authorityId, 'delta')];
    const f = await generateCrl(svc, authorityId, 'full');
    const d = await generateCrl(svc, authorityId, 'delta');
    await repo.pruneCrls(svc.db, authorityId, KEEP_CRLS);
    return [f, d];
  } catch (e) {
    // Put the flag back so the next tick tries again.
    await repo.markCrlDirty(svc.db, authorityId, now.toISOString());
    throw e;
  }
}

/** The latest CRL bytes to serve; generates the first one on demand. */
export async function currentCrl(svc: Services, authorityId: string, kind: CrlKind): Promise<repo.CrlRow> {
  const a = await authorities.findAuthority(svc.db, authorityId);
  if (!a) throw new DomainError('not_found', 'authority not found');
  let row = await repo.latestCrl(svc.db, a.id, kind === 'delta');
  // Revocations waiting past the coalescing window (the job is off or behind): publish now.
  const state = row ? await repo.crlState(svc.db, a.id) : undefined;
  if (row && state?.dirty_since && svc.clock.now().getTime() - new Date(state.dirty_since).getTime() >= svc.config.crlCoalesceMs) {
    try {
      await refreshCrl(svc, a.id);
      row = (await repo.latestCrl(svc.db, a.id, kind === 'delta')) ?? row;
    } catch (err) {
      // The current CRL is still valid until its nextUpdate: serve it, the job retries.
      svc.log.warn({ err, authorityId: a.id }, 'CRL refresh on fetch failed; serving the current CRL');
    }
  }
  if (!row || new Date(row.next_update) <= svc.clock.now()) {
    // No CRL yet (new authority) or the job is behind: never serve an expired list.
    if (!signsCrls(a)) throw new DomainError('not_found', `authority "${a.name}" publishes no CRL`);
    await repo.markCrlDirty(svc.db, a.id, svc.clock.now().toISOString());
    await refreshCrl(svc, a.id);
    row = await repo.latestCrl(svc.db, a.id, kind === 'delta');
    if (!row) throw new DomainError('not_ready', 'the CRL is being generated; retry shortly');
  }
  return row;
}

export function crlUrlsOf(svc: Services, authorityId: string) {
  return { full: crlUrl(svc.config.publicUrl, authorityId), delta: deltaCrlUrl(svc.config.publicUrl, authorityId) };
}

/**
 * The CRL job: a tick every `tickMs` finds dirty flags older than the coalescing window
 * and CRLs past half-life; a revocation in this process also schedules a tick right
 * after the window.
 */
export class CrlJob {
  readonly name = 'crl-refresh';
  #timer: NodeJS.Timeout | null = null;
  #soon: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = true;

  constructor(
    private readonly svc: Services,
    private readonly tickMs = 30_000,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => void this.tick(), this.tickMs);
    this.#timer.unref();
    void this.tick();
  }

  /** A revocation happened here: regenerate once the burst is over. */
  poke(): void {
    if (this.#stopped || this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      void this.tick();
    }, this.svc.config.crlCoalesceMs + 10);
    this.#soon.unref();
  }

  /** One pass over every authority; concurrent calls fold into one extra pass. */
  tick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.runOnce();
        } while (this.#again && !this.#stopped);
      } catch (err) {
        // The next tick tries again (a database outage, typically): the job never dies of it.
        this.svc.log[isDatabaseUnavailable(err) ? 'warn' : 'error']({ err }, 'CRL refresh pass failed');
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  async runOnce(): Promise<void> {
    const svc = this.svc;
    const now = svc.clock.now().getTime();
    const states = new Map((await repo.allCrlStates(svc.db)).map((s) => [s.authority_id, s]));
    for (const a of await authorities.allAuthorities(svc.db)) {
      if (this.#stopped && this.#timer === null) return;
      if (!signsCrls(a)) continue;
      const s = states.get(a.id);
      // Dirty flags wait out the coalescing window, unless the CRL is missing or stale.
      const due = !s || !s.next_update || !s.last_full_at || now >= (new Date(s.last_full_at).getTime() + new Date(s.next_update).getTime()) / 2;
      const dirtyReady = !!s?.dirty_since && now - new Date(s.dirty_since).getTime() >= svc.config.crlCoalesceMs;
      if (!due && !dirtyReady) continue;
      try {
        if (!s) await repo.markCrlDirty(svc.db, a.id, new Date(now).toISOString());
        await refreshCrl(svc, a.id);
      } catch (err) {
        svc.log[isDatabaseUnavailable(err) ? 'warn' : 'error']({ err, authorityId: a.id }, 'CRL refresh failed');
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
    this.#timer = this.#soon = null;
    await this.#running;
  }
}
