/**
 * One verification as a self-contained job: the caller's certificates, anchors and CRLs as
 * they came in (PEM or base64 text, or DER), the trust material the use-case gathered, and
 * the options. Parsing and path building both happen here, so a job can run on the event
 * loop (small inputs) or in a worker thread (`verify.pool.ts`) with the same outcome.
 * Everything in a job survives structured cloning; the revocation lookup (a database read)
 * is a callback the pool forwards to the main thread.
 */
import tls from 'node:tls';
import { DomainError, badCertificate } from '../errors.js';
import type { Schemas } from '../spec.js';
import { parseCertificateBundle, parseCrlBundle, verifyChain as runEngine, type PeerName, type RevocationLookup, type VerifyInput } from '../pki/verify/index.js';

type TrustSource = Schemas['TrustSource'];
export type VerifyReport = Schemas['VerifyReport'];

/** Request-level limits: what one request may submit (the engine's search budgets are in `src/pki/verify/verify.ts`). */
export const REQUEST_LIMITS = {
  /** Leaf plus intermediates in one request. */
  certificates: 64,
  /** Supplied trust anchors in one request. */
  trustAnchors: 256,
} as const;

/** Inputs up to this size run on the event loop: they cost well under a millisecond. */
export const INLINE_LIMITS = { certificates: 4, chars: 16 * 1024 } as const;

export type CertInput = string | string[] | Uint8Array[];

export interface VerifyJob {
  /** Leaf first, then intermediates. */
  certificates: CertInput;
  /** The field the certificates came from (named in 400s), or what they are (e.g. "presented chain"). */
  certificatesField: string;
  certificatesWhat: string;
  /** Supplied anchors as sent, or DER already checked by the caller. */
  trustAnchors?: CertInput;
  crls?: string[];
  trust: TrustSource[];
  /** Certa's own authorities (when trust includes internal). */
  internal?: { anchors: Uint8Array[]; intermediates: Uint8Array[] };
  peerNames: PeerName[];
  purpose?: VerifyInput['purpose'];
  mode?: VerifyInput['mode'];
  at: Date;
  maxDepth?: number;
  requireExtKeyUsage?: boolean;
  checkRevocation: boolean;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Runs `fn`, attaching `field` to the 4xx DomainErrors it throws (so the problem names the offending field). */
export function inField<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DomainError && !e.errors?.length && (e.code === 'bad_certificate' || e.code === 'bad_request')) {
      throw new DomainError(e.code, e.message, [{ field, message: e.message }]);
    }
    throw e;
  }
}

/** A PEM text stays text; anything else must be base64 DER. */
function pemOrBase64(s: string, what: string): string | Uint8Array {
  if (s.includes('-----BEGIN')) return s;
  const b64 = s.replace(/\s+/g, '');
  if (!b64 || !BASE64.test(b64) || b64.length % 4 !== 0) throw badCertificate(`${what} is neither PEM (-----BEGIN CERTIFICATE-----) nor base64 DER`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

/** Certificates in the input, counted without decoding (PEM blocks, else one per item). */
export function countCertificates(input: CertInput | undefined): number {
  if (input === undefined) return 0;
  const parts: Array<string | Uint8Array> = typeof input === 'string' ? [input] : input;
  let n = 0;
  for (const p of parts) n += typeof p === 'string' ? Math.max(1, p.split('-----BEGIN').length - 1) : 1;
  return n;
}

function inputChars(input: CertInput | string[] | undefined): number {
  if (input === undefined) return 0;
  const parts: Array<string | Uint8Array> = typeof input === 'string' ? [input] : input;
  return parts.reduce((n, p) => n + p.length, 0);
}

/** Whether the job is small enough to run on the event loop (a handful of certificates, no bulk). */
export function isSmall(job: VerifyJob): boolean {
  return (
    countCertificates(job.certificates) + countCertificates(job.trustAnchors) <= INLINE_LIMITS.certificates &&
    inputChars(job.certificates) + inputChars(job.trustAnchors) + inputChars(job.crls) <= INLINE_LIMITS.chars
  );
}

function limitExceeded(field: string, what: string, limit: number): DomainError {
  const message = `at most ${limit} ${what} are accepted per verification`;
  return new DomainError('bad_request', message, [{ field, message }]);
}

/** Parses certificates as sent (PEM text, base64 DER, or DER), capped at `limit`. */
export function parseCertificates(input: CertInput, field: string, what: string, limit: number): Uint8Array[] {
  // Counted before parsing, so an oversized bundle costs no parsing at all.
  if (countCertificates(input) > limit) throw limitExceeded(field, what, limit);
  const certs = inField(field, () => {
    const parts: Array<string | Uint8Array> = typeof input === 'string' ? [input] : input;
    const items = parts.map((s, i) => (typeof s === 'string' ? pemOrBase64(s, parts.length > 1 ? `${what} item #${i + 1}` : what) : s));
    return parseCertificateBundle(items.length === 1 ? items[0] : items, what);
  });
  // Concatenated DER is only counted once split.
  if (certs.length > limit) throw limitExceeded(field, what, limit);
  return certs;
}

let systemRootsCache: Uint8Array[] | undefined;

/** Node's bundled public roots as DER, parsed once per thread (a root the engine cannot parse is left out). */
function systemRoots(): Uint8Array[] {
  if (!systemRootsCache) {
    const out: Uint8Array[] = [];
    for (const pem of tls.rootCertificates) {
      try {
        out.push(...parseCertificateBundle(pem, 'system root'));
      } catch {
        // Not usable as an anchor by this engine; the other roots still are.
      }
    }
    systemRootsCache = out;
  }
  return systemRootsCache;
}

/** Parses the job's input (400 on anything unusable) and validates the chain. */
export async function runVerifyJob(job: VerifyJob, revocationLookup?: RevocationLookup): Promise<VerifyReport> {
  const certs = parseCertificates(job.certificates, job.certificatesField, job.certificatesWhat, REQUEST_LIMITS.certificates);
  const supplied = job.trustAnchors ? parseCertificates(job.trustAnchors, '/body/trustAnchors', 'trustAnchors', REQUEST_LIMITS.trustAnchors) : [];
  const crls = (job.crls ?? []).flatMap((c, i) =>
    inField(`/body/crls/${i}`, () => {
      const item = c.includes('-----BEGIN') ? c : pemOrBase64(c, `CRL #${i + 1}`);
      return parseCrlBundle(item, `CRL #${i + 1}`);
    }),
  );
  const anchors: Uint8Array[] = [];
  const intermediates = certs.slice(1);
  if (job.trust.includes('internal') && job.internal) {
    anchors.push(...job.internal.anchors);
    intermediates.push(...job.internal.intermediates);
  }
  if (job.trust.includes('supplied')) anchors.push(...supplied);
  if (job.trust.includes('system')) anchors.push(...systemRoots());
  return runEngine({
    leaf: certs[0],
    intermediates,
    trustAnchors: anchors,
    at: job.at,
    purpose: job.purpose,
    peerName: job.peerNames[0],
    extraPeerNames: job.peerNames.slice(1),
    mode: job.mode ?? 'webpki',
    maxDepth: job.maxDepth,
    requireExtKeyUsage: job.requireExtKeyUsage,
    crls: job.checkRevocation ? crls : [],
    revocationLookup: job.checkRevocation ? revocationLookup : undefined,
  });
}
