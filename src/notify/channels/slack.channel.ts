/**
 * Slack incoming webhook (`POST https://hooks.slack.com/services/…`).
 *
 * Payload: Block Kit `blocks` plus a plain `text` fallback (notifications, screen
 * readers). Limits (Slack docs): 50 blocks per message, section text 3000 characters,
 * header text 150 (plain_text). Slack also rejects messages whose blocks carry much more
 * than ~13 000 characters in total (`msg_blocks_too_long`, undocumented), hence a
 * per-message character budget.
 */
import type { SenderDeps, UrlChannelConfig } from '../channel.types.js';
import type { Digest } from '../notification.model.js';
import { digestSummary, truncate, URGENCY_STYLE, type CertificateItem } from '../notification.render.js';
import {
  digestSections,
  finishMessages,
  omittedNote,
  packSections,
  type ChatFormatOptions,
  type MessageBuilder,
  type Section,
} from './digest-packer.js';
import { JsonWebhookSender } from './http.transport.js';

export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  contextElements: 10,
  /** Our budget for the text of all blocks of one message (see the module comment). */
  messageChars: 12_000,
} as const;

/** Blocks and characters kept free for the closing context block (part i/n, left-out note). */
const STAMP_BLOCKS = 1;
const STAMP_CHARS = 400;

export type SlackText = { type: 'plain_text'; text: string; emoji?: boolean } | { type: 'mrkdwn'; text: string };

export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji?: boolean } }
  | { type: 'section'; text: SlackText }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' };

export interface SlackPayload {
  /** Plain fallback shown in notifications and where blocks cannot be rendered. */
  text: string;
  blocks: SlackBlock[];
}

export interface SlackFormatOptions extends ChatFormatOptions {
  /** Character budget per message (default `SLACK_LIMITS.messageChars`). */
  maxMessageChars?: number;
}

/** Slack's documented escaping for mrkdwn: only &, < and > are control characters. */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function slackLink(text: string, url: string | undefined): string {
  if (!url) return text;
  const safe = url.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E').replace(/&/g, '&amp;');
  return `<${safe}|${text}>`;
}

export function slackItemText(item: CertificateItem, compact: boolean): string {
  const marker = URGENCY_STYLE[item.urgency].slackEmoji;
  const name = `*${slackLink(escapeSlack(item.commonName), item.url)}*`;
  if (compact) {
    return `${marker} ${name} — ${escapeSlack(item.status)} (${escapeSlack(item.notAfterDate)})`;
  }
  const facts = item.facts.map(([k, v]) => `${k}: ${escapeSlack(v)}`).join(' · ');
  return truncate(`${marker} ${name} — ${escapeSlack(item.status)}\n${facts}`, 2500);
}

class SlackBuilder implements MessageBuilder<SlackBlock[]> {
  private blocks: SlackBlock[] = [];
  private chars = 0;
  /** The section block items are currently appended to. */
  private itemsBlock: { type: 'section'; text: { type: 'mrkdwn'; text: string } } | undefined;

  constructor(private readonly maxChars: number) {}

  private get blockRoom(): number {
    return SLACK_LIMITS.blocks - STAMP_BLOCKS - this.blocks.length;
  }

  private get charRoom(): number {
    return this.maxChars - STAMP_CHARS - this.chars;
  }

  fitsItem(section: Section, item: CertificateItem): boolean {
    const len = slackItemText(item, section.compact).length + 1;
    if (len > this.charRoom) return false;
    if (this.itemsBlock && this.itemsBlock.text.text.length + len <= SLACK_LIMITS.sectionText) return true;
    return this.blockRoom >= 1;
  }

  fitsSection(section: Section, continued: boolean, first: CertificateItem | undefined): boolean {
    const blocks = (this.blocks.length > 0 ? 1 : 0) + 1 + (section.description && !continued ? 1 : 0) + (first ? 1 : 0);
    const chars =
      headerText(section, continued).length +
      (section.description && !continued ? escapeSlack(section.description).length : 0) +
      (first ? slackItemText(first, section.compact).length : 0);
    return blocks <= this.blockRoom && chars <= this.charRoom;
  }

  openSection(section: Section, continued: boolean): void {
    if (this.blocks.length > 0) this.blocks.push({ type: 'divider' });
    const header = headerText(section, continued);
    this.blocks.push({ type: 'header', text: { type: 'plain_text', text: header, emoji: true } });
    this.chars += header.length;
    if (section.description && !continued) {
      const text = escapeSlack(section.description);
      this.blocks.push({ type: 'section', text: { type: 'mrkdwn', text } });
      this.chars += text.length;
    }
    this.itemsBlock = undefined;
  }

  addItem(section: Section, item: CertificateItem): void {
    const line = slackItemText(item, section.compact);
    if (this.itemsBlock && this.itemsBlock.text.text.length + line.length + 1 <= SLACK_LIMITS.sectionText) {
      this.itemsBlock.text.text += `\n${line}`;
      this.chars += line.length + 1;
      return;
    }
    this.itemsBlock = { type: 'section', text: { type: 'mrkdwn', text: line } };
    this.blocks.push(this.itemsBlock);
    this.chars += line.length;
  }

  finish(): SlackBlock[] {
    const out = this.blocks;
    this.blocks = [];
    this.chars = 0;
    this.itemsBlock = undefined;
    return out;
  }
}

function headerText(section: Section, continued: boolean): string {
  const marker = URGENCY_STYLE[section.urgency].marker;
  return truncate(`${marker} ${section.title}${continued ? ' (continued)' : ''}`, SLACK_LIMITS.headerText);
}

/** Slack payloads for a digest: all certificates listed, split over as few messages as the limits allow. */
export function formatSlackDigest(digest: Digest, opts: SlackFormatOptions = {}): SlackPayload[] {
  const packed = packSections(digestSections(digest, opts), new SlackBuilder(opts.maxMessageChars ?? SLACK_LIMITS.messageChars));
  const summary = escapeSlack(digestSummary(digest));
  return finishMessages(packed, opts.maxMessages, (blocks, { index, count, omitted }) => {
    const part = count > 1 ? ` (${index}/${count})` : '';
    const elements: SlackText[] = [{ type: 'mrkdwn', text: truncate(`Certa · ${summary}${part}`, 300) }];
    if (omitted > 0) elements.push({ type: 'mrkdwn', text: omittedNote(omitted) });
    return {
      text: truncate(`Certa: ${summary}${part}${omitted > 0 ? ` ${omittedNote(omitted)}` : ''}`, 3000),
      blocks: [...blocks, { type: 'context', elements }],
    };
  });
}

export class SlackSender extends JsonWebhookSender<'slack', SlackPayload, SlackFormatOptions> {
  constructor(config: UrlChannelConfig, deps?: SenderDeps, formatOptions: SlackFormatOptions = {}) {
    super('slack', config.url, formatSlackDigest, formatOptions, deps);
  }
}
