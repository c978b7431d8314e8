/**
 * The one interface every notification channel implements, and the channel configs.
 *
 * A channel turns a `Digest` into one or more platform messages (`format`), each of
 * which is delivered on its own (`send`) so a retry never re-posts a message that already
 * went through. Messages are plain JSON: the outbox can store them and send them later.
 */
import type { DiscordPayload } from './channels/discord.channel.js';
import type { EmailContent } from './channels/email.channel.js';
import type { SlackPayload } from './channels/slack.channel.js';
import type { TeamsPayload } from './channels/teams.channel.js';
import type { WebhookPayload } from './channels/webhook.channel.js';
import type { Digest } from './notification.model.js';

export const CHANNEL_TYPES = ['discord', 'slack', 'teams', 'webhook', 'email'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Discord, Slack and Teams incoming webhooks: the URL itself is the credential. */
export interface UrlChannelConfig {
  url: string;
}

export interface WebhookChannelConfig {
  url: string;
  /** HMAC key for `X-Certa-Signature`; unsigned deliveries when absent. */
  secret?: string;
}

export interface EmailChannelConfig {
  host: string;
  port: number;
  /** true: implicit TLS (usually port 465); false: plain connection upgraded with STARTTLS when offered. */
  secure: boolean;
  username?: string;
  password?: string;
  from: string;
  to: string[];
}

export interface ChannelConfigs {
  discord: UrlChannelConfig;
  slack: UrlChannelConfig;
  teams: UrlChannelConfig;
  webhook: WebhookChannelConfig;
  email: EmailChannelConfig;
}
export type ChannelConfig = ChannelConfigs[ChannelType];

/** A channel type with its config, discriminated by `type`. */
export type ChannelSpec = { [T in ChannelType]: { type: T; config: ChannelConfigs[T] } }[ChannelType];

/** Platform payloads, one per delivery. */
export interface DiscordMessage {
  channel: 'discord';
  payload: DiscordPayload;
}
export interface SlackMessage {
  channel: 'slack';
  payload: SlackPayload;
}
export interface TeamsMessage {
  channel: 'teams';
  payload: TeamsPayload;
}
export interface WebhookMessage {
  channel: 'webhook';
  /** The body without `deliveryId`, which the sender adds from the send context. */
  payload: WebhookPayload;
}
export interface EmailMessage {
  channel: 'email';
  payload: EmailContent;
}
export type ChannelMessage = DiscordMessage | SlackMessage | TeamsMessage | WebhookMessage | EmailMessage;

export interface SendContext {
  /**
   * Stable id of this delivery (the outbox row), identical across retries: it is the
   * generic webhook's `deliveryId`/`X-Certa-Delivery` and the email's Message-ID, so
   * receivers can drop duplicates.
   */
  deliveryId: string;
  /** Aborts the send (e.g. on shutdown); the result is then a retryable failure. */
  signal?: AbortSignal;
}

export type SendResult =
  | {
      ok: true;
      /** HTTP status, or the SMTP reply code of the accepted message. */
      status: number;
      /** Start of the response body / SMTP reply, for logs. */
      body?: string;
    }
  | {
      ok: false;
      status?: number;
      retryable: boolean;
      /** Server-requested wait (Retry-After / Discord `retry_after`), in milliseconds. */
      retryAfterMs?: number;
      /** What went wrong, for logs and the delivery record; never contains secrets. */
      error: string;
    };

export interface ChannelSender<M extends ChannelMessage = ChannelMessage> {
  readonly type: ChannelType;
  /** The messages to deliver for this digest, in order; as few as the platform limits allow. */
  format(digest: Digest): M[];
  /** Delivers one message. Never throws: every failure is a `SendResult`. */
  send(message: M, ctx: SendContext): Promise<SendResult>;
}

/** Dependencies shared by the senders; everything has a default except what tests pin. */
export interface SenderDeps {
  /** Clock, used for Retry-After dates and webhook timestamps. Default: `() => new Date()`. */
  now?: () => Date;
  /** Per-attempt timeout in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** HTTP client. Default: the global `fetch`, or a fetch pinned to `resolveTarget`'s addresses when that is given. */
  fetch?: typeof fetch;
  /**
   * The checked addresses to connect to for a host (the target guard); the senders then
   * connect to those and never resolve the name themselves. Rejects with
   * `TargetNotAllowedError` for a refused target. Default: none (the platform resolves).
   */
  resolveTarget?: (host: string) => Promise<string[]>;
  /** User-Agent for HTTP channels. */
  userAgent?: string;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_USER_AGENT = 'Certa-Notify/1';
