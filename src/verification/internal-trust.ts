/**
 * Certa's own PKI as the verifier sees it: which authorities are trust anchors, which are
 * path-building candidates, and the authorities' revocation records.
 *
 * The authority table changes rarely and every verification with internal trust needs
 * all of it, so it is read once into a snapshot that is reused for at most
 * `SNAPSHOT_MAX_AGE_MS` and dropped at once when an authority changes in this process
 * (created, activated, updated, revoked). Another replica's authority change is therefore
 * seen within that bound. The revocation status of issued certificates is never cached:
 * it is read from the store for every verification.
 */
import { createHash } from 'node:crypto';
import type { Services } from '../context.js';
import type { RevocationLookup } from '../pki/verify/index.js';
import { canonicalSerialHex } from '../pki/x509.js';
import * as authoritiesRepo from '../store/authorities.repository.js';
import * as certsRepo from '../store/certificates.repository.js';
import type { AuthorityRow } from '../store/authorities.repository.js';

export const SNAPSHOT_MAX_AGE_MS = 2000;

export interface InternalPki {
  /** Authorities with no parent in Certa (roots, imported and activated external CAs). */
  anchors: Uint8Array[];
  /** Certa's intermediates, offered as untrusted path-building candidates. */
  intermediates: Uint8Array[];
  /** Certa's revocation records (certificates and intermediate authorities). */
  revocation: RevocationLookup;
}

interface Snapshot {
  anchors: Uint8Array[];
  intermediates: Uint8Array[];
  /** Authority by the SHA-256 of its certificate. */
  byFingerprint: Map<string, AuthorityRow>;
  /** Child authority by `${parentId}|${serial}`. */
  children: Map<string, AuthorityRow>;
}

const sha256 = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

async function load(svc: Services): Promise<Snapshot> {
  const rows = (await authoritiesRepo.allAuthorities(svc.db)).filter((r) => r.status !== 'pending' && r.certificate_der);
  const snapshot: Snapshot = { anchors: [], intermediates: [], byFingerprint: new Map(), children: new Map() };
  for (const r of rows) {
    const der = new Uint8Array(r.certificate_der!);
    snapshot.byFingerprint.set(sha256(der), r);
    if (r.parent_id && r.serial) snapshot.children.set(`${r.parent_id}|${canonicalSerialHex(r.serial)}`, r);
    if (r.parent_id === null && r.status !== 'revoked') snapshot.anchors.push(der);
    else snapshot.intermediates.push(der);
  }
  return snapshot;
}

class SnapshotCache {
  #current: { loadedAt: number; snapshot: Promise<Snapshot> } | undefined;

  constructor(private readonly svc: Services) {
    svc.events.on((e) => {
      if (e.type === 'authority.changed' || e.type === 'authority.revoked') this.#current = undefined;
    });
  }

  /** The current snapshot; concurrent callers share one load. */
  get(): Promise<Snapshot> {
    const now = performance.now();
    if (this.#current && now - this.#current.loadedAt < SNAPSHOT_MAX_AGE_MS) return this.#current.snapshot;
    const entry = { loadedAt: now, snapshot: load(this.svc) };
    this.#current = entry;
    // A failed load is not kept: the next verification tries again.
    entry.snapshot.catch(() => {
      if (this.#current === entry) this.#current = undefined;
    });
    return entry.snapshot;
  }
}

const caches = new WeakMap<Services, SnapshotCache>();

export async function internalPki(svc: Services): Promise<InternalPki> {
  let cache = caches.get(svc);
  if (!cache) caches.set(svc, (cache = new SnapshotCache(svc)));
  const s = await cache.get();
  const revocation: RevocationLookup = async (issuerDer, serialHex) => {
    const issuer = s.byFingerprint.get(sha256(issuerDer));
    if (!issuer) return undefined;
    const serial = canonicalSerialHex(serialHex);
    const record = s.children.get(`${issuer.id}|${serial}`) ?? (await certsRepo.revocationStatusBySerial(svc.db, issuer.id, serial));
    if (!record) return undefined;
    if (!record.revoked_at) return { revoked: false };
    return { revoked: true, reason: record.revocation_reason ?? undefined, revokedAt: new Date(record.revoked_at) };
  };
  return { anchors: s.anchors, intermediates: s.intermediates, revocation };
}
