/**
 * Microsoft Teams through a Workflows (Power Automate) "post to a channel when a webhook
 * request is received" URL. The legacy Office 365 connectors (MessageCard) are retired.
 *
 * Payload: `{type: "message", attachments: [{contentType: "application/vnd.microsoft.card.adaptive",
 * content: AdaptiveCard}]}`. Teams refuses messages over ~28 KB, so each card is kept under
 * a byte budget (default 25 000 bytes of JSON, leaving headroom for Teams' own envelope).
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

export const TEAMS_LIMITS = {
  /** Teams' documented message size limit. */
  messageBytes: 28 * 1024,
  /** Our default budget per message. */
  budgetBytes: 25_000,
} as const;

/** Bytes kept free for the title block and the left-out note added after packing. */
const STAMP_BYTES = 1200;

export const ADAPTIVE_CARD_SCHEMA = 'http://adaptivecards.io/schemas/adaptive-card.json';

export interface AdaptiveTextBlock {
  type: 'TextBlock';
  text: string;
  wrap?: boolean;
  weight?: 'Default' | 'Lighter' | 'Bolder';
  size?: 'Default' | 'Small' | 'Medium' | 'Large' | 'ExtraLarge';
  color?: 'Default' | 'Dark' | 'Light' | 'Accent' | 'Good' | 'Warning' | 'Attention';
  isSubtle?: boolean;
  spacing?: 'None' | 'Small' | 'Default' | 'Medium' | 'Large' | 'ExtraLarge';
  separator?: boolean;
}

export interface AdaptiveContainer {
  type: 'Container';
  items: AdaptiveElement[];
  spacing?: AdaptiveTextBlock['spacing'];
  separator?: boolean;
}

export type AdaptiveElement = AdaptiveTextBlock | AdaptiveContainer;

export interface AdaptiveCard {
  $schema: string;
  type: 'AdaptiveCard';
  version: '1.4' | '1.5';
  body: AdaptiveElement[];
  msteams?: { width: 'Full' };
}

export interface TeamsPayload {
  type: 'message';
  attachments: Array<{
    contentType: 'application/vnd.microsoft.card.adaptive';
    contentUrl: null;
    content: AdaptiveCard;
  }>;
}

export interface TeamsFormatOptions extends ChatFormatOptions {
  /** Byte budget of one message's JSON (default `TEAMS_LIMITS.budgetBytes`). */
  maxBytes?: number;
}

/** Escapes the Markdown subset Adaptive Cards render, so certificate data shows literally. */
export function escapeTeams(s: string): string {
  return s.replace(/[\\*_~`[\]#>]/g, '\\$&');
}

function teamsLink(text: string, url: string | undefined): string {
  return url ? `[${text}](${url.replace(/\(/g, '%28').replace(/\)/g, '%29')})` : text;
}

export function teamsItemElement(item: CertificateItem, compact: boolean): AdaptiveElement {
  const marker = URGENCY_STYLE[item.urgency].marker;
  const name = `**${teamsLink(escapeTeams(item.commonName), item.url)}**`;
  if (compact) {
    return {
      type: 'TextBlock',
      text: `${marker} ${name} — ${escapeTeams(item.status)} (${escapeTeams(item.notAfterDate)})`,
      wrap: true,
      spacing: 'Small',
    };
  }
  return {
    type: 'Container',
    spacing: 'Medium',
    items: [
      { type: 'TextBlock', text: `${marker} ${name} — ${escapeTeams(item.status)}`, wrap: true },
      {
        type: 'TextBlock',
        text: item.facts.map(([k, v]) => `${k}: ${escapeTeams(v)}`).join(' · '),
        wrap: true,
        isSubtle: true,
        size: 'Small',
        spacing: 'None',
      },
    ],
  };
}

function envelope(body: AdaptiveElement[]): TeamsPayload {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: ADAPTIVE_CARD_SCHEMA, type: 'AdaptiveCard', version: '1.4', msteams: { width: 'Full' }, body },
      },
    ],
  };
}

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');
const EMPTY_BYTES = bytes(envelope([]));

class TeamsBuilder implements MessageBuilder<AdaptiveElement[]> {
  private body: AdaptiveElement[] = [];
  private size = EMPTY_BYTES;

  constructor(private readonly budget: number) {}

  private cost(el: AdaptiveElement): number {
    return bytes(el) + 1; // + the comma between array elements
  }

  fitsItem(section: Section, item: CertificateItem): boolean {
    return this.size + this.cost(teamsItemElement(item, section.compact)) <= this.budget - STAMP_BYTES;
  }

  fitsSection(section: Section, continued: boolean, first: CertificateItem | undefined): boolean {
    const head = sectionHead(section, continued, this.body.length > 0).reduce((n, el) => n + this.cost(el), 0);
    const item = first ? this.cost(teamsItemElement(first, section.compact)) : 0;
    return this.size + head + item <= this.budget - STAMP_BYTES;
  }

  openSection(section: Section, continued: boolean): void {
    for (const el of sectionHead(section, continued, this.body.length > 0)) this.push(el);
  }

  addItem(section: Section, item: CertificateItem): void {
    this.push(teamsItemElement(item, section.compact));
  }

  private push(el: AdaptiveElement): void {
    this.body.push(el);
    this.size += this.cost(el);
  }

  finish(): AdaptiveElement[] {
    const out = this.body;
    this.body = [];
    this.size = EMPTY_BYTES;
    return out;
  }
}

function sectionHead(section: Section, continued: boolean, separator: boolean): AdaptiveElement[] {
  const head: AdaptiveElement[] = [
    {
      type: 'TextBlock',
      text: `${URGENCY_STYLE[section.urgency].marker} ${escapeTeams(section.title)}${continued ? ' (continued)' : ''}`,
      weight: 'Bolder',
      size: 'Medium',
      color: URGENCY_STYLE[section.urgency].teamsColor,
      wrap: true,
      ...(separator ? { separator: true, spacing: 'Large' as const } : {}),
    },
  ];
  if (section.description && !continued) head.push({ type: 'TextBlock', text: escapeTeams(section.description), wrap: true });
  return head;
}

/** Teams payloads for a digest: all certificates listed, split over as few messages as the byte budget allows. */
export function formatTeamsDigest(digest: Digest, opts: TeamsFormatOptions = {}): TeamsPayload[] {
  const budget = Math.min(opts.maxBytes ?? TEAMS_LIMITS.budgetBytes, TEAMS_LIMITS.messageBytes);
  const packed = packSections(digestSections(digest, opts), new TeamsBuilder(budget));
  const summary = escapeTeams(digestSummary(digest));
  return finishMessages(packed, opts.maxMessages, (body, { index, count, omitted }) => {
    const part = count > 1 ? ` (${index}/${count})` : '';
    const title: AdaptiveTextBlock = { type: 'TextBlock', text: truncate(`Certa · ${summary}${part}`, 400), weight: 'Bolder', size: 'Large', wrap: true };
    const tail: AdaptiveElement[] = omitted > 0 ? [{ type: 'TextBlock', text: omittedNote(omitted), wrap: true, isSubtle: true, separator: true }] : [];
    return envelope([title, ...body, ...tail]);
  });
}

export class TeamsSender extends JsonWebhookSender<'teams', TeamsPayload, TeamsFormatOptions> {
  constructor(config: UrlChannelConfig, deps?: SenderDeps, formatOptions: TeamsFormatOptions = {}) {
    super('teams', config.url, formatTeamsDigest, formatOptions, deps);
  }
}
