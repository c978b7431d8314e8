/**
 * CA signing keys: generated or imported here, stored only envelope-encrypted (SecretStore),
 * unwrapped on first use and kept in process memory (a KeyObject never leaves the process).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { SecretStore } from '../secrets/secret-store.js';
import type { Db } from '../store/types.js';

export class Keyring {
  readonly #cache = new Map<string, Promise<KeyObject>>();
  constructor(private readonly secrets: SecretStore) {}

  /** Seal a private key; returns the secret id to keep on the owning row. */
  async store(purpose: string, key: KeyObject, db?: Db): Promise<string> {
    const der = key.export({ format: 'der', type: 'pkcs8' }) as Buffer;
    try {
      return await this.secrets.put(purpose, der, db);
    } finally {
      der.fill(0);
    }
  }

  /** The private key behind a secret id (cached). */
  load(secretId: string): Promise<KeyObject> {
    let p = this.#cache.get(secretId);
    if (!p) {
      p = this.secrets.get(secretId).then((der) => {
        try {
          return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
        } finally {
          der.fill(0);
        }
      });
      p.catch(() => this.#cache.delete(secretId));
      this.#cache.set(secretId, p);
    }
    return p;
  }
}
