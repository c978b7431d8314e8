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
   * KEK rotation without downtime: re-wrap every data key under `next` (the ciphertexts are
   * untouched), in batches; rows already under `next` are skipped, so it can be resumed.
   * Readers keep working throughout because both KEKs resolve during the rotation.
   */
  async rotate(next: KeyEncryptionKey, batch = 500): Promise<number> {
    const old = this.kek;
    this.previous.push(old);
    this.kek = next;
    let done = 0;
    while (true) {
      const rows = await this.db.selectFrom('secrets').select(['id', 'sealed']).where('kek_id', '!=', next.id).limit(batch).execute();
      if (!rows.length) break;
      for (const r of rows) {
        const sealed = await rewrap(r.sealed, (kid) => this.resolve(kid), next);
        await this.db.updateTable('secrets').set({ sealed, kek_id: next.id, updated_at: this.clock.now().toISOString() }).where('id', '=', r.id).execute();
        done++;
      }
    }
    return done;
  }

  private resolve(kid: string): KeyEncryptionKey {
    if (kid === this.kek.id) return this.kek;
    const k = this.previous.find((p) => p.id === kid);
    if (!k) throw new Error(`no key-encryption key ${kid} is loaded (was CERTA_MASTER_KEY changed without rotating?)`);
    return k;
  }
}
