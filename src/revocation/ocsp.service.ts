/**
 * The OCSP responder (RFC 6960): answers for the certificates and sub-CAs each authority
 * issued, signed by a delegated responder certificate per authority (EKU OCSPSigning,
 * id-pkix-ocsp-nocheck) so the CA key is not used per response.
 *
 * - Responder certificates are issued on first use and re-issued when a third of their
 *   life remains (stored in `ocsp_responders`, key sealed like CA keys); every replica
 *   picks the newest valid one.
 * - Requests without a nonce are answered from a cache of pre-signed responses (keyed by
 *   the request bytes) for up to `ocspCacheSeconds`; a revocation in this process drops
 *   the authority's cached answers at once. Requests with a nonce are signed per request.
 * - Malformed requests get the OCSP `malformedRequest` status, never an HTTP error; a
 *   database outage gets `tryLater` (with Retry-After), not a 503 problem.
 */
import { createHash } from 'node:crypto';
import type { Services } from '../context.js';
import { newId } from '../lib/ids.js';
import * as authorities from '../store/authorities.repository.js';
import * as repo from '../store/revocation.repository.js';
import * as pki from '../pki/x509.js';
import { certIdMatchesIssuer, buildOcspErrorResponse, buildOcspResponse, prepareOcspResponder, tryParseOcspRequest, type OcspResponder, type OcspSingleResponse } from '../pki/ocsp.js';
import type { CrlReason } from '../pki/crl.js';
import { signsCrls } from './crl.service.js';
import { isDatabaseUnavailable } from '../store/db.js';

const DAY = 86_400_000;
/** Cached responses kept at most (oldest dropped first). */
const MAX_CACHED = 200_000;

interface ResponderEntry {
  responder: OcspResponder;
  issuerDer: Buffer;
  /** Re-check the store after this time (renewal point). */
  renewAt: number;
}

interface CachedResponse {
  der: Buffer;
  expires: number;
  authorityId: string;
}

export class OcspService {
  readonly #responders = new Map<string, Promise<ResponderEntry | null>>();
  readonly #cache = new Map<string, CachedResponse>();

  constructor(private readonly svc: Services) {}

  /** Drop what this process cached for an authority (called on revocation). */
  invalidate(authorityId: string): void {
    for (const [k, v] of this.#cache) if (v.authorityId === authorityId) this.#cache.delete(k);
  }

  /** Answer one DER OCSPRequest for an authority; always returns an OCSPResponse. */
  #cacheKey(authorityId: string, requestDer: Buffer): string | null {
    return this.svc.config.ocspCacheSeconds > 0 ? `${authorityId}:${createHash('sha256').update(requestDer).digest('base64')}` : null;
  }

  /** A still-valid pre-signed answer to exactly this request, if this process has one. */
  cached(authorityId: string, requestDer: Buffer): Buffer | null {
    const key = this.#cacheKey(authorityId, requestDer);
    const hit = key ? this.#cache.get(key) : undefined;
    return hit && hit.expires > this.svc.clock.now().getTime() ? hit.der : null;
  }

  /**
   * `respond()` for the HTTP endpoints: while the database is unreachable (a failover),
   * the answer is the OCSP `tryLater` status (RFC 6960 2.3), which every OCSP client
   * understands, instead of an HTTP error it does not. Cached answers still go out.
   */
  async answer(authorityId: string, requestDer: Buffer): Promise<{ der: Buffer; tryLater: boolean }> {
    try {
      return { der: await this.respond(authorityId, requestDer), tryLater: false };
    } catch (e) {
      if (!isDatabaseUnavailable(e)) throw e;
      return { der: buildOcspErrorResponse('tryLater'), tryLater: true };
    }
  }

  async respond(authorityId: string, requestDer: Buffer): Promise<Buffer> {
    const now = this.svc.clock.now().getTime();
    const hit = this.cached(authorityId, requestDer);
    if (hit) return hit;
    const cacheKey = this.#cacheKey(authorityId, requestDer);
    const parsed = tryParseOcspRequest(requestDer);
    if (!parsed.ok) return buildOcspErrorResponse('malformedRequest');
    const entry = await this.responderFor(authorityId);
    if (!entry) return buildOcspErrorResponse('unauthorized');

    const req = parsed.request;
    const serials = [...new Set(req.requests.map((r) => r.serialHex))];
    const rows = await repo.statusBySerials(this.svc.db, entry.issuerAuthorityId, serials);
    const bySerial = new Map(rows.map((r) => [r.serial, r]));
    const thisUpdate = new Date(Math.floor(now / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.svc.config.ocspValiditySeconds * 1000);
    const responses: OcspSingleResponse[] = req.requests.map((certId) => {
      const base = { certId, thisUpdate, nextUpdate };
      // A CertID naming another issuer is not ours to answer.
      if (!certIdMatchesIssuer(certId, entry.issuerDer)) return { ...base, status: 'unknown' };
      const row = bySerial.get(certId.serialHex);
      if (!row) return { ...base, status: 'unknown' };
      if (row.revoked_at) return { ...base, status: 'revoked', revokedAt: new Date(row.revoked_at), reason: (row.revocation_reason ?? undefined) as CrlReason | undefined };
      return { ...base, status: 'good' };
    });
    const der = await buildOcspResponse({ responder: entry.responder, producedAt: thisUpdate, responses, nonce: req.nonce });
    if (cacheKey && req.nonce === undefined) {
      if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(cacheKey, { der, authorityId, expires: Math.min(now + this.svc.config.ocspCacheSeconds * 1000, nextUpdate.getTime()) });
    }
    return der;
  }

  private async responderFor(authorityId: string): Promise<(ResponderEntry & { issuerAuthorityId: string }) | null> {
    const cached = this.#responders.get(authorityId);
    if (cached) {
      const e = await cached;
      if (e && e.renewAt > this.svc.clock.now().getTime()) return { ...e, issuerAuthorityId: authorityId };
    }
    const p = this.loadOrIssue(authorityId);
    this.#responders.set(authorityId, p);
    // Only a usable responder is remembered (an authority may gain a key later).
    p.then(
      (e) => e === null && this.#responders.delete(authorityId),
      () => this.#responders.delete(authorityId),
    );
    const e = await p;
    return e ? { ...e, issuerAuthorityId: authorityId } : null;
  }

  /** The newest responder certificate with more than a third of its life left, or a new one. */
  private async loadOrIssue(authorityId: string): Promise<ResponderEntry | null> {
    const svc = this.svc;
    const a = await authorities.findAuthority(svc.db, authorityId);
    if (!a || a.id !== authorityId || !signsCrls(a)) return null;
    const now = svc.clock.now();
    const lifetime = svc.config.ocspResponderDays * DAY;
    const caEnd = new Date(a.not_after!).getTime();
    // A responder near the end of its CA's life cannot outlive it: accept one that lasts as long as the CA.
    const mustLastUntil = Math.min(now.getTime() + lifetime / 3, caEnd - 1000);
    let row = await repo.currentResponder(svc.db, a.id, new Date(mustLastUntil).toISOString());
    if (!row) {
      const caKey = await svc.keyring.load(a.key_secret_id!);
      const kp = await pki.generateKeyPair('ecdsa-p256');
      const notBefore = new Date(now.getTime() - 60_000);
      const notAfter = new Date(Math.min(now.getTime() + lifetime, caEnd));
      const subject = JSON.parse(a.subject) as pki.Subject;
      const built = await pki.buildCertificate({
        subject: { commonName: `${subject.commonName} OCSP Responder`.slice(0, 64), organization: subject.organization },
        publicKey: kp.publicKey,
        issuer: { certificateDer: a.certificate_der!, privateKey: caKey },
        notBefore,
        notAfter,
        usage: 'ocsp-signing',
        ocspNoCheck: true,
      });
      const keySecretId = await svc.keyring.store('ocsp-responder-key', kp.privateKey);
      row = {
        id: newId(),
        authority_id: a.id,
        certificate_der: built.der,
        key_secret_id: keySecretId,
        not_before: built.notBefore,
        not_after: built.notAfter,
        created_at: now.toISOString(),
      };
      await repo.insertResponder(svc.db, row);
      svc.log.info({ authorityId: a.id, notAfter: row.not_after }, 'OCSP responder certificate issued');
    }
    const key = await svc.keyring.load(row.key_secret_id);
    const notBefore = new Date(row.not_before).getTime();
    const notAfter = new Date(row.not_after).getTime();
    return {
      responder: prepareOcspResponder({ certificate: row.certificate_der, signingKey: key }),
      issuerDer: a.certificate_der!,
      renewAt: Math.max(notAfter - (notAfter - notBefore) / 3, now.getTime() + 60_000),
    };
  }
}
