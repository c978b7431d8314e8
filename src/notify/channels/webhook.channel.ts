/**
 * Generic webhook: a stable, documented JSON body, optionally signed (see
 * `webhook.signature.ts`). One message per event; an event with very many certificates is
 * split into batches so receivers with a body-size limit still get everything.
 *
 * Body (keys always present, absent values are null):
 *   { event, occurredAt, [thresholdDays | reason | message], batch: {index, count},
 *     certificates: [{ id, commonName, sans, serialNumber, notAfter, daysLeft, authorityName,
 *                      profileName, owner, labels, url, [previous] }], deliveryId }
 */
import type { ChannelSender, SendContext, SendResult, SenderDeps, WebhookChannelConfig, WebhookMessage } from '../channel.types.js';
import type { CertificateRef, Digest, NotificationEvent, NotificationEventType, PreviousCertificate } from '../notification.model.js';
import { daysLeft, safeHttpUrl } from '../notification.render.js';
import { resolveDeps, sendJson, wrongChannel, type ResolvedDeps } from './http.transport.js';
import { signWebhook, WEBHOOK_HEADERS } from './webhook.signature.js';

export interface WebhookCertificate {
  id: string;
  commonName: string;
  sans: string[];
  serialNumber: string;
  notAfter: string;
  /** Whole days from `occurredAt` to `notAfter`, negative once expired. */
  daysLeft: number | null;
  authorityName: string;
  profileName: string | null;
  owner: string | null;
  labels: Record<string, string>;
  url: string | null;
  /** `renewed` events only: the certificate this one replaced. */
  previous?: PreviousCertificate;
}

export interface WebhookPayload {
  event: NotificationEventType;
  occurredAt: string;
  /** `expiring` only. */
  thresholdDays?: number;
  /** `revoked` only. */
  reason?: string;
  /** `test` only (null when the operator gave no text). */
  message?: string | null;
  /** 1-based position of this message among those carrying the same event. */
  batch: { index: number; count: number };
  certificates: WebhookCertificate[];
}

/** What the receiver gets: the payload plus the delivery id (stable across retries). */
export type WebhookBody = WebhookPayload & { deliveryId: string };

export interface WebhookFormatOptions {
  /** Certificates per message before an event is split into batches. Default 100. */
  maxCertificatesPerMessage?: number;
}

export const DEFAULT_MAX_CERTIFICATES_PER_WEBHOOK = 100;

function webhookCertificate(event: NotificationEvent, c: CertificateRef): WebhookCertificate {
  const days = daysLeft(c.notAfter, event.occurredAt);
  const previous = event.type === 'renewed' ? (c as CertificateRef & { previous?: PreviousCertificate }).previous : undefined;
  return {
    id: c.id,
    commonName: c.commonName,
    sans: [...c.sans],
    serialNumber: c.serialNumber,
    notAfter: c.notAfter,
    daysLeft: Number.isNaN(days) ? null : days,
    authorityName: c.authorityName,
    profileName: c.profileName ?? null,
    owner: c.owner ?? null,
    labels: { ...(c.labels ?? {}) },
    url: safeHttpUrl(c.url) ?? null,
    ...(previous ? { previous: { id: previous.id, serialNumber: previous.serialNumber, notAfter: previous.notAfter } } : {}),
  };
}

function eventDetails(event: NotificationEvent): Pick<WebhookPayload, 'thresholdDays' | 'reason' | 'message'> {
  switch (event.type) {
    case 'expiring':
      return { thresholdDays: event.thresholdDays };
    case 'revoked':
      return { reason: event.reason };
    case 'test':
      return { message: event.message ?? null };
    default:
      return {};
  }
}

export function formatWebhookDigest(digest: Digest, opts: WebhookFormatOptions = {}): WebhookPayload[] {
  const size = Math.max(1, opts.maxCertificatesPerMessage ?? DEFAULT_MAX_CERTIFICATES_PER_WEBHOOK);
  return digest.events.flatMap((event) => {
    const certs = event.certificates.map((c) => webhookCertificate(event, c));
    const count = Math.max(1, Math.ceil(certs.length / size));
    return Array.from({ length: count }, (_, i) => ({
      event: event.type,
      occurredAt: event.occurredAt,
      ...eventDetails(event),
      batch: { index: i + 1, count },
      certificates: certs.slice(i * size, (i + 1) * size),
    }));
  });
}

/** The exact body bytes sent for a message (what the signature covers). */
export function webhookBody(payload: WebhookPayload, deliveryId: string): string {
  const body: WebhookBody = { ...payload, deliveryId };
  return JSON.stringify(body);
}

export class WebhookSender implements ChannelSender<WebhookMessage> {
  readonly type = 'webhook' as const;
  private readonly deps: ResolvedDeps;

  constructor(
    private readonly config: WebhookChannelConfig,
    deps?: SenderDeps,
    private readonly formatOptions: WebhookFormatOptions = {},
  ) {
    this.deps = resolveDeps(deps);
  }

  format(digest: Digest): WebhookMessage[] {
    return formatWebhookDigest(digest, this.formatOptions).map((payload) => ({ channel: 'webhook', payload }));
  }

  async send(message: WebhookMessage, ctx: SendContext): Promise<SendResult> {
    if (message.channel !== 'webhook') return wrongChannel('webhook', message.channel);
    const body = webhookBody(message.payload, ctx.deliveryId);
    const headers: Record<string, string> = {
      [WEBHOOK_HEADERS.delivery]: ctx.deliveryId,
      [WEBHOOK_HEADERS.event]: message.payload.event,
    };
    if (this.config.secret) {
      // Signed at send time: every retry carries a fresh timestamp.
      const { timestamp, signature } = signWebhook(this.config.secret, body, this.deps.now().getTime() / 1000);
      headers[WEBHOOK_HEADERS.timestamp] = timestamp;
      headers[WEBHOOK_HEADERS.signature] = signature;
    }
    return sendJson(this.config.url, body, headers, this.deps, ctx.signal);
  }
}
