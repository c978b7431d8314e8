/**
 * Secrets at rest (CA private keys, OCSP responder keys, webhook URLs and secrets, SMTP
 * passwords): envelope-encrypted rows in the `secrets` table. Callers hold only a secret id.
 * The key-encryption key sits behind `KeyEncryptionKey`, so an AWS KMS implementation can
 * replace the local one without touching callers.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Db } from '../store/types.js';
import { newId } from '../lib/ids.js';
import { seal, open, rewrap, type KeyEncryptionKey } from '../crypto/envelope.js';

export interface RewrapResult {
  /** Rows moved to the current KEK by this run. */
  rewrapped: number;
  /** Rows that could not be re-wrapped (their KEK is not loaded, or they fail to open). */
  failed: Array<{ id: string; purpose: string; kekId: string; error: string }>;
}

export class SecretStore {
  constructor(
    private readonly db: Kysely<Database>,
    private kek: KeyEncryptionKey,
    private readonly clock: { now(): Date },
    /** Older KEKs still able to unwrap rows not yet rotated. */
    private readonly previous: KeyEncryptionKey[] = [],
  ) {}

  get kekId(): string {
    return this.kek.id;
  }

  /** Store a new secret; returns its id. The purpose is bound as AAD (a row cannot be swapped for another's). */
  async put(purpose: string, plaintext: Buffer, db: Db = this.db): Promise<string> {
    const id = newId();
    const now = this.clock.now().toISOString();
    const sealed = await seal(this.kek, plaintext, Buffer.from(`${purpose}:${id}`));
    await db.insertInto('secrets').values({ id, purpose, kek_id: this.kek.id, sealed, created_at: now, updated_at: now }).execute();
    return id;
  }

  async get(id: string, db: Db = this.db): Promise<Buffer> {
    const row = await db.selectFrom('secrets').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new Error(`secret ${id} not found`);
    return open((kid) => this.resolve(kid), row.sealed, Buffer.from(`${row.purpose}:${row.id}`));
  }

  async replace(id: string, plaintext: Buffer, db: Db = this.db): Promise<void> {
    const row = await db.selectFrom('secrets').select(['purpose']).where('id', '=', id).executeTakeFirst();
    if (!row) throw new Error(`secret ${id} not found`);
    const sealed = await seal(this.kek, plaintext, Buffer.from(`${row.purpose}:${id}`));
    await db.updateTable('secrets').set({ sealed, kek_id: this.kek.id, updated_at: this.clock.now().toISOString() }).where('id', '=', id).execute();
  }

  async delete(id: string, db: Db = this.db): Promise<void> {
    await db.deleteFrom('secrets').where('id', '=', id).execute();
  }

  /**
   * KEK rotation without downtime: switch this store to `next` (the current KEK becomes a
   * previous one), then re-wrap every data key under it (see `rewrapAll`).
   */
  async rotate(next: KeyEncryptionKey, batch = 500): Promise<number> {
    if (next.id !== this.kek.id) {
      this.previous.push(this.kek);
      this.kek = next;
    }
    const r = await this.rewrapAll({ batch });
    if (r.failed.length) throw new Error(r.failed[0].error);
    return r.rewrapped;
  }

  /**
   * Re-wrap every data key not yet under the current KEK (the ciphertexts are untouched),
   * in batches, one row per update. Resumable: rows already under the current KEK are
   * skipped. Each update only applies if the row still holds the blob it was read with, so
   * a secret rewritten meanwhile by a running service is never overwritten with old data.
   * A row whose KEK is not loaded is reported in `failed` (the others are still re-wrapped).
   */
  async rewrapAll(opts: { batch?: number; onProgress?: (rewrapped: number) => void } = {}): Promise<RewrapResult> {
    const batch = opts.batch ?? 500;
    const current = this.kek;
    const result: RewrapResult = { rewrapped: 0, failed: [] };
    let after = '';
    while (true) {
      const rows = await this.db
        .selectFrom('secrets')
        .select(['id', 'purpose', 'kek_id', 'sealed'])
        .where('kek_id', '!=', current.id)
        .where('id', '>', after)
        .orderBy('id')
        .limit(batch)
        .execute();
      if (!rows.length) break;
      for (const r of rows) {
        after = r.id;
        let sealed: Buffer;
        try {
          sealed = await rewrap(r.sealed, (kid) => this.resolve(kid), current);
        } catch (e) {
          result.failed.push({ id: r.id, purpose: r.purpose, kekId: r.kek_id, error: `secret ${r.id} (${r.purpose}): ${(e as Error).message}` });
          continue;
        }
        const u = await this.db
          .updateTable('secrets')
          .set({ sealed, kek_id: current.id, updated_at: this.clock.now().toISOString() })
          .where('id', '=', r.id)
          .where('kek_id', '=', r.kek_id)
          .where('sealed', '=', r.sealed)
          .executeTakeFirst();
        if (Number(u.numUpdatedRows) > 0) result.rewrapped++;
      }
      opts.onProgress?.(result.rewrapped);
    }
    return result;
  }

  private resolve(kid: string): KeyEncryptionKey {
    if (kid === this.kek.id) return this.kek;
    const k = this.previous.find((p) => p.id === kid);
    if (!k) throw new Error(`no key-encryption key ${kid} is loaded (was CERTA_MASTER_KEY changed without rotating?)`);
    return k;
  }
}
