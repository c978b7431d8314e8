/**
 * What every use-case receives: the store, the clock, config and a logger. Built once by
 * the App; tests build their own with a pinned clock.
 */
import type { Logger } from 'pino';
import type { Kysely } from 'kysely';
import type { Config } from './config/config.js';
import type { Clock } from './lib/clock.js';
import type { Database } from './store/schema.js';
import type { Store } from './store/db.js';
import type { Permission } from './auth/permissions.js';
import type { SecretStore } from './secrets/secret-store.js';
import type { Keyring } from './authority/keyring.js';
import type { OcspService } from './revocation/ocsp.service.js';

export interface Services {
  config: Readonly<Config>;
  store: Store;
  db: Kysely<Database>;
  clock: Clock;
  log: Logger;
  /** Envelope-encrypted secrets (CA keys, channel credentials). */
  secrets: SecretStore;
  /** CA and responder signing keys (sealed at rest, cached unwrapped in memory). */
  keyring: Keyring;
  /**
   * In-process hooks for caches of this process (OCSP responses, CRL wake-up, trust
   * snapshot). Nothing durable goes through it: notifications use the transactional
   * outbox (`notification_events`).
   */
  events: EventBus;
  /** The OCSP responder (its cache of pre-signed responses lives for the process). */
  ocsp: OcspService;
}

/** Who is calling: resolved from the bearer token by the HTTP layer. */
export interface Principal {
  userId: string;
  email: string;
  tokenId: string;
  tokenKind: 'session' | 'api';
  permissions: ReadonlySet<Permission>;
}

export type DomainEvent =
  | { type: 'certificate.revoked'; certificateId: string; authorityId: string }
  | { type: 'certificate.hold-lifted'; certificateId: string; authorityId: string }
  | { type: 'authority.revoked'; authorityId: string; parentId: string }
  | { type: 'authority.changed'; authorityId: string };

/** In-process fan-out of domain events; listeners must not throw (errors are logged). */
export class EventBus {
  readonly #listeners: Array<(e: DomainEvent) => void | Promise<void>> = [];
  constructor(private readonly log?: Logger) {}
  on(fn: (e: DomainEvent) => void | Promise<void>): void {
    this.#listeners.push(fn);
  }
  emit(e: DomainEvent): void {
    for (const fn of this.#listeners) {
      Promise.resolve()
        .then(() => fn(e))
        .catch((err) => this.log?.error({ err, event: e.type }, 'event listener failed'));
    }
  }
}
