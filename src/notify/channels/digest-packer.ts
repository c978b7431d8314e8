/**
 * Packs a digest into as few platform messages as the platform's limits allow.
 *
 * The digest becomes sections (one per event: a header and one item per certificate).
 * A platform `MessageBuilder` says what still fits; the packer fills each message, starts
 * a "continued" section in the next one when needed, and never drops an item. Only an
 * explicit `maxMessages` can cut the list, and then the last message says how many
 * certificates were left out.
 */
import type { Digest, NotificationEvent } from '../notification.model.js';
import {
  certificateItem,
  eventDescription,
  eventTitle,
  eventUrgency,
  orderedCertificates,
  type CertificateItem,
  type Urgency,
} from '../notification.render.js';

export interface Section {
  event: NotificationEvent;
  title: string;
  urgency: Urgency;
  description?: string;
  items: CertificateItem[];
  /** Render items on one line each (large events) rather than with all their facts. */
  compact: boolean;
}

export interface ChatFormatOptions {
  /**
   * Events with more certificates than this are listed one line per certificate, which
   * keeps a large digest to a few messages. Default 10.
   */
  compactAbove?: number;
  /**
   * Upper bound of messages per digest. Default: none, every certificate is listed.
   * When set and exceeded, the last message ends with "…and N more certificates".
   */
  maxMessages?: number;
}

export const DEFAULT_COMPACT_ABOVE = 10;

export function digestSections(digest: Digest, opts: ChatFormatOptions = {}): Section[] {
  const compactAbove = opts.compactAbove ?? DEFAULT_COMPACT_ABOVE;
  return digest.events.map((event) => ({
    event,
    title: eventTitle(event),
    urgency: eventUrgency(event),
    description: eventDescription(event),
    items: orderedCertificates(event).map((c) => certificateItem(event, c)),
    compact: event.certificates.length > compactAbove,
  }));
}

/** What a platform must tell the packer. One builder fills one message at a time. */
export interface MessageBuilder<P> {
  /** Whether `item` can join the open section of the current message. */
  fitsItem(section: Section, item: CertificateItem): boolean;
  /** Whether a new section (header, description and `first` item if any) fits in the current message. */
  fitsSection(section: Section, continued: boolean, first: CertificateItem | undefined): boolean;
  openSection(section: Section, continued: boolean): void;
  addItem(section: Section, item: CertificateItem): void;
  /** Returns the current message and starts an empty one. */
  finish(): P;
}

export interface PackedMessage<P> {
  payload: P;
  /** Certificates listed in this message. */
  items: number;
}

export function packSections<P>(sections: Section[], builder: MessageBuilder<P>): PackedMessage<P>[] {
  const out: PackedMessage<P>[] = [];
  let sectionsInMessage = 0;
  let items = 0;
  const flush = () => {
    out.push({ payload: builder.finish(), items });
    sectionsInMessage = 0;
    items = 0;
  };
  // Step 1: open a section (in a fresh message if it does not fit in this one).
  const open = (section: Section, continued: boolean, first: CertificateItem | undefined) => {
    if (!builder.fitsSection(section, continued, first)) {
      if (sectionsInMessage === 0) throw new Error(`notify: a single item of "${section.title}" exceeds the message limits`);
      flush();
      if (!builder.fitsSection(section, continued, first)) {
        throw new Error(`notify: a single item of "${section.title}" exceeds the message limits`);
      }
    }
    builder.openSection(section, continued);
    sectionsInMessage++;
  };
  for (const section of sections) {
    if (section.items.length === 0) {
      open(section, false, undefined);
      continue;
    }
    // Step 2: add items, continuing the section in a new container/message when full.
    section.items.forEach((item, i) => {
      if (i === 0) open(section, false, item);
      else if (!builder.fitsItem(section, item)) open(section, true, item);
      builder.addItem(section, item);
      items++;
    });
  }
  if (sectionsInMessage > 0) flush();
  return out;
}

/**
 * Applies `maxMessages`, then lets the platform stamp each message (part i/n, the note
 * about left-out certificates). Builders reserve room for these stamps.
 */
export function finishMessages<P, R>(
  packed: PackedMessage<P>[],
  maxMessages: number | undefined,
  stamp: (payload: P, part: { index: number; count: number; omitted: number }) => R,
): R[] {
  let kept = packed;
  let omitted = 0;
  if (maxMessages !== undefined && maxMessages >= 1 && packed.length > maxMessages) {
    kept = packed.slice(0, maxMessages);
    omitted = packed.slice(maxMessages).reduce((sum, m) => sum + m.items, 0);
  }
  return kept.map((m, i) =>
    stamp(m.payload, { index: i + 1, count: kept.length, omitted: i === kept.length - 1 ? omitted : 0 }),
  );
}

export function omittedNote(omitted: number): string {
  return `…and ${omitted} more ${omitted === 1 ? 'certificate' : 'certificates'} not shown (message limit reached)`;
}
