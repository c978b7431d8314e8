/**
 * Signature of generic webhook deliveries, and the reference check for receivers.
 *
 *   X-Certa-Timestamp: <unix seconds>
 *   X-Certa-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *   X-Certa-Delivery:  <delivery id, stable across retries>
 *
 * The timestamp is signed too, so a captured request cannot be replayed once it is older
 * than the receiver's tolerance; within it, receivers drop duplicates by delivery id.
 * Receivers must verify the raw bytes received, before any JSON parsing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_HEADERS = {
  timestamp: 'x-certa-timestamp',
  signature: 'x-certa-signature',
  delivery: 'x-certa-delivery',
  event: 'x-certa-event',
} as const;

export const SIGNATURE_VERSION = 'v1';
export const DEFAULT_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, timestamp: string, body: string | Uint8Array): string {
  const h = createHmac('sha256', secret);
  h.update(`${timestamp}.`);
  h.update(body);
  return h.digest('hex');
}

/** Signs `body` (exactly the bytes sent) at `timestampSeconds`. */
export function signWebhook(secret: string, body: string | Uint8Array, timestampSeconds: number): { timestamp: string; signature: string } {
  const timestamp = String(Math.floor(timestampSeconds));
  return { timestamp, signature: `${SIGNATURE_VERSION}=${hmacHex(secret, timestamp, body)}` };
}

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(',') : v;
  }
  return undefined;
}

export interface VerifyOptions {
  /** Accepted clock difference, both ways, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock. Default: now. */
  now?: Date;
}

export type VerifyResult =
  | { ok: true; timestamp: number; deliveryId?: string }
  | { ok: false; reason: 'missing_headers' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature' };

/**
 * Reference verification for receivers: the timestamp must be within the tolerance and
 * one of the `v1=` signatures (several may be sent, comma-separated, during a secret
 * rotation) must match, compared in constant time.
 */
export function verifyWebhookSignature(secret: string, headers: HeaderBag, body: string | Uint8Array, opts: VerifyOptions = {}): VerifyResult {
  const ts = header(headers, WEBHOOK_HEADERS.timestamp)?.trim();
  const sig = header(headers, WEBHOOK_HEADERS.signature);
  if (!ts || !sig) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,15}$/.test(ts)) return { ok: false, reason: 'bad_timestamp' };
  const timestamp = Number(ts);
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - timestamp) > (opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return { ok: false, reason: 'stale_timestamp' };

  const expected = Buffer.from(hmacHex(secret, ts, body), 'hex');
  let match = false;
  for (const part of sig.split(',')) {
    const [version, value] = part.trim().split('=', 2);
    if (version !== SIGNATURE_VERSION || !value || !/^[0-9a-f]{64}$/i.test(value)) continue;
    // No early exit: every candidate is compared.
    if (timingSafeEqual(expected, Buffer.from(value, 'hex'))) match = true;
  }
  if (!match) return { ok: false, reason: 'bad_signature' };
  const deliveryId = header(headers, WEBHOOK_HEADERS.delivery);
  return { ok: true, timestamp, ...(deliveryId ? { deliveryId } : {}) };
}
