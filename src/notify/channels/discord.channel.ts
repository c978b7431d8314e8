/**
 * Discord incoming webhook (`POST https://discord.com/api/webhooks/{id}/{token}`).
 *
 * Payload: `content` + up to 10 `embeds`. Embed limits (Discord docs): title 256,
 * description 4096, 25 fields (name 256, value 1024), footer 2048, and 6000 characters
 * for all embeds of one message together. Mentions are disabled (`allowed_mentions`) so
 * certificate data can never ping @everyone.
 */
import type { SendResult, SenderDeps, UrlChannelConfig } from '../channel.types.js';
import type { Digest } from '../notification.model.js';
import { digestSummary, mostUrgent, truncate, URGENCY_STYLE, type CertificateItem, type Urgency } from '../notification.render.js';
import {
  digestSections,
  finishMessages,
  omittedNote,
  packSections,
  type ChatFormatOptions,
  type MessageBuilder,
  type Section,
} from './digest-packer.js';
import { classifyHttpResponse, type HttpResponseInfo, JsonWebhookSender } from './http.transport.js';

export const DISCORD_LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedsPerMessage: 10,
  /** Sum of title, description, field names/values, footer and author over a message's embeds. */
  totalEmbedChars: 6000,
} as const;

export interface DiscordEmbed {
  title?: string;
  description?: string;
  url?: string;
  color?: number;
  /** ISO-8601. */
  timestamp?: string;
  footer?: { text: string };
  fields?: Array<{ name: string; value: string; inline?: boolean }>;
}

export interface DiscordPayload {
  content?: string;
  username?: string;
  embeds?: DiscordEmbed[];
  allowed_mentions: { parse: string[] };
}

export interface DiscordFormatOptions extends ChatFormatOptions {
  /** Overrides the webhook's display name. */
  username?: string;
}

/** Escapes Discord markdown so certificate data renders literally (brackets are enough to defuse links). */
export function escapeDiscord(s: string): string {
  return s.replace(/[\\*_~`|<>[\]#]/g, '\\$&');
}

function discordLink(text: string, url: string | undefined): string {
  return url ? `[${text}](${url.replace(/\(/g, '%28').replace(/\)/g, '%29')})` : text;
}

export function discordItemText(item: CertificateItem, compact: boolean): string {
  const marker = URGENCY_STYLE[item.urgency].marker;
  const name = `**${discordLink(escapeDiscord(item.commonName), item.url)}**`;
  if (compact) {
    return `${marker} ${name} — ${escapeDiscord(item.status)} (${escapeDiscord(item.notAfterDate)})`;
  }
  const facts = item.facts.map(([k, v]) => `${k}: ${escapeDiscord(v)}`).join(' · ');
  // One item always fits in an empty embed, whatever the data.
  return truncate(`${marker} ${name} — ${escapeDiscord(item.status)}\n${facts}`, 3000);
}

interface EmbedState {
  embed: DiscordEmbed;
  lines: string[];
  urgencies: Urgency[];
}

class DiscordBuilder implements MessageBuilder<DiscordEmbed[]> {
  private embeds: EmbedState[] = [];
  private total = 0;

  private current(): EmbedState | undefined {
    return this.embeds[this.embeds.length - 1];
  }

  private descLength(e: EmbedState): number {
    return e.lines.reduce((n, l) => n + l.length + 1, 0);
  }

  fitsItem(section: Section, item: CertificateItem): boolean {
    const cur = this.current();
    if (!cur) return false;
    const len = discordItemText(item, section.compact).length + 1;
    return this.descLength(cur) + len <= DISCORD_LIMITS.description && this.total + len <= DISCORD_LIMITS.totalEmbedChars;
  }

  fitsSection(section: Section, continued: boolean, first: CertificateItem | undefined): boolean {
    if (this.embeds.length >= DISCORD_LIMITS.embedsPerMessage) return false;
    const head = embedTitle(section, continued).length + (continued || !section.description ? 0 : escapeDiscord(section.description).length + 1);
    const item = first ? discordItemText(first, section.compact).length + 1 : 0;
    return head + item <= DISCORD_LIMITS.description && this.total + head + item <= DISCORD_LIMITS.totalEmbedChars;
  }

  openSection(section: Section, continued: boolean): void {
    const title = embedTitle(section, continued);
    const lines = !continued && section.description ? [escapeDiscord(section.description)] : [];
    this.embeds.push({ embed: { title, timestamp: section.event.occurredAt }, lines, urgencies: [section.urgency] });
    this.total += title.length + lines.reduce((n, l) => n + l.length + 1, 0);
  }

  addItem(section: Section, item: CertificateItem): void {
    const cur = this.current()!;
    const text = discordItemText(item, section.compact);
    if (cur.lines.length === 0) cur.urgencies = [];
    cur.lines.push(text);
    cur.urgencies.push(item.urgency);
    this.total += text.length + 1;
  }

  finish(): DiscordEmbed[] {
    const out = this.embeds.map(({ embed, lines, urgencies }) => {
      const description = lines.join('\n');
      return {
        ...embed,
        ...(description ? { description } : {}),
        color: URGENCY_STYLE[mostUrgent(urgencies, 'info')].color,
      };
    });
    this.embeds = [];
    this.total = 0;
    return out;
  }
}

function embedTitle(section: Section, continued: boolean): string {
  return truncate(continued ? `${section.title} (continued)` : section.title, DISCORD_LIMITS.title);
}

/** Discord payloads for a digest: all certificates listed, split over as few messages as the limits allow. */
export function formatDiscordDigest(digest: Digest, opts: DiscordFormatOptions = {}): DiscordPayload[] {
  const packed = packSections(digestSections(digest, opts), new DiscordBuilder());
  const summary = escapeDiscord(digestSummary(digest));
  return finishMessages(packed, opts.maxMessages, (embeds, { index, count, omitted }) => {
    const part = count > 1 ? ` (${index}/${count})` : '';
    const note = omitted > 0 ? `\n${omittedNote(omitted)}` : '';
    return {
      content: truncate(`**Certa** · ${summary}${part}${note}`, DISCORD_LIMITS.content),
      ...(opts.username ? { username: truncate(opts.username, 80) } : {}),
      embeds,
      allowed_mentions: { parse: [] },
    };
  });
}

/**
 * Discord also puts the wait in the 429 body (`retry_after`, seconds, may be fractional);
 * it is more precise than the header, so it wins.
 */
export function classifyDiscordResponse(res: HttpResponseInfo, now: Date): SendResult {
  const result = classifyHttpResponse(res, now);
  if (result.ok || res.status !== 429) return result;
  try {
    const body = JSON.parse(res.body) as { retry_after?: unknown };
    if (typeof body.retry_after === 'number' && Number.isFinite(body.retry_after) && body.retry_after >= 0) {
      return { ...result, retryAfterMs: Math.ceil(body.retry_after * 1000) };
    }
  } catch {
    // Not JSON: the header (if any) stands.
  }
  return result;
}

export class DiscordSender extends JsonWebhookSender<'discord', DiscordPayload, DiscordFormatOptions> {
  constructor(config: UrlChannelConfig, deps?: SenderDeps, formatOptions: DiscordFormatOptions = {}) {
    super('discord', config.url, formatDiscordDigest, formatOptions, deps, classifyDiscordResponse);
  }
}
