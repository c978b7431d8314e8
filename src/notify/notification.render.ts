/**
 * Platform-neutral presentation shared by every formatter: titles, per-certificate status
 * lines, urgency (colour) and the small text utilities. Formatters add only their own
 * markup and escaping on top, so all channels say the same thing.
 */
import type { CertificateRef, Digest, NotificationEvent, NotificationEventType, RenewedCertificateRef } from './notification.model.js';

const DAY_MS = 86_400_000;

/** How alarming an item is; drives colours and markers on every platform. */
export type Urgency = 'expired' | 'critical' | 'warning' | 'notice' | 'info' | 'ok';

const SEVERITY: Record<Urgency, number> = { ok: 0, info: 1, notice: 2, warning: 3, critical: 4, expired: 5 };

/** Days of validity in which an expiring certificate is `critical` / `warning`. */
export const URGENCY_DAYS = { critical: 7, warning: 30 } as const;

export interface UrgencyStyle {
  /** RGB colour as an integer (Discord embed colour). */
  color: number;
  /** Unicode marker for platforms without colour per line. */
  marker: string;
  /** Slack emoji short code. */
  slackEmoji: string;
  /** Adaptive Card TextBlock colour. */
  teamsColor: 'Attention' | 'Warning' | 'Accent' | 'Good' | 'Default';
  /** CSS colour for email. */
  css: string;
}

export const URGENCY_STYLE: Record<Urgency, UrgencyStyle> = {
  expired: { color: 0x991b1b, marker: '⛔', slackEmoji: ':no_entry:', teamsColor: 'Attention', css: '#991b1b' },
  critical: { color: 0xdc2626, marker: '🔴', slackEmoji: ':red_circle:', teamsColor: 'Attention', css: '#dc2626' },
  warning: { color: 0xf59e0b, marker: '🟠', slackEmoji: ':large_orange_circle:', teamsColor: 'Warning', css: '#b45309' },
  notice: { color: 0x2563eb, marker: '🔵', slackEmoji: ':large_blue_circle:', teamsColor: 'Accent', css: '#2563eb' },
  info: { color: 0x6b7280, marker: 'ℹ️', slackEmoji: ':information_source:', teamsColor: 'Default', css: '#4b5563' },
  ok: { color: 0x16a34a, marker: '🟢', slackEmoji: ':large_green_circle:', teamsColor: 'Good', css: '#15803d' },
};

/** Whole days from `at` until `notAfter`, rounded down (negative once expired); NaN for bad dates. */
export function daysLeft(notAfter: string, at: string): number {
  return Math.floor(msLeft(notAfter, at) / DAY_MS);
}

function msLeft(notAfter: string, at: string): number {
  return Date.parse(notAfter) - Date.parse(at);
}

export function urgencyForExpiry(notAfter: string, at: string): Urgency {
  const ms = msLeft(notAfter, at);
  if (Number.isNaN(ms)) return 'warning';
  if (ms <= 0) return 'expired';
  const days = Math.floor(ms / DAY_MS);
  if (days <= URGENCY_DAYS.critical) return 'critical';
  if (days <= URGENCY_DAYS.warning) return 'warning';
  return 'notice';
}

export function certificateUrgency(event: NotificationEvent, cert: CertificateRef): Urgency {
  switch (event.type) {
    case 'expiring':
    case 'expired':
      return urgencyForExpiry(cert.notAfter, event.occurredAt);
    case 'revoked':
      return 'critical';
    case 'issued':
    case 'renewed':
      return 'ok';
    case 'test':
      return 'info';
  }
}

export function mostUrgent(levels: Iterable<Urgency>, fallback: Urgency): Urgency {
  let best: Urgency | undefined;
  for (const u of levels) if (best === undefined || SEVERITY[u] > SEVERITY[best]) best = u;
  return best ?? fallback;
}

export function eventUrgency(event: NotificationEvent): Urgency {
  const fallback: Record<NotificationEventType, Urgency> = {
    expiring: 'warning',
    expired: 'expired',
    revoked: 'critical',
    issued: 'ok',
    renewed: 'ok',
    test: 'info',
  };
  return mostUrgent(
    event.certificates.map((c) => certificateUrgency(event, c)),
    fallback[event.type],
  );
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `2025-01-04 12:00 UTC`; the raw text when it is not a date. */
export function formatInstant(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return clean(iso);
  return `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Title of one event, e.g. "3 certificates expire within 30 days". */
export function eventTitle(event: NotificationEvent): string {
  const n = event.certificates.length;
  switch (event.type) {
    case 'expiring':
      return `${plural(n, 'certificate')} ${n === 1 ? 'expires' : 'expire'} within ${plural(event.thresholdDays, 'day')}`;
    case 'expired':
      return `${plural(n, 'certificate')} expired`;
    case 'issued':
      return `${plural(n, 'certificate')} issued`;
    case 'revoked':
      return `${plural(n, 'certificate')} revoked (${reasonText(event.reason)})`;
    case 'renewed':
      return `${plural(n, 'certificate')} renewed`;
    case 'test':
      return 'Test notification from Certa';
  }
}

function reasonText(reason: string): string {
  return truncate(clean(reason), 100);
}

/** Free text shown under an event's title, if any. */
export function eventDescription(event: NotificationEvent): string | undefined {
  if (event.type !== 'test') return undefined;
  return truncate(clean(event.message ?? 'This is a test notification from Certa: this channel is configured correctly.'), DISPLAY.description);
}

/** One line summing up a digest, e.g. "5 expiring, 2 expired, 1 revoked". */
export function digestSummary(digest: Digest): string {
  if (digest.events.length === 1) return eventTitle(digest.events[0]);
  const counts = new Map<NotificationEventType, number>();
  for (const e of digest.events) counts.set(e.type, (counts.get(e.type) ?? 0) + e.certificates.length);
  if (counts.size === 0) return 'no notifications';
  const parts = [...counts].map(([type, n]) => (type === 'test' ? 'test' : `${n} ${type}`));
  const total = digest.events.reduce((sum, e) => sum + e.certificates.length, 0);
  return `${plural(total, 'certificate')}: ${parts.join(', ')}`;
}

/** The status of one certificate within an event, e.g. "expires in 3 days". */
export function certificateStatus(event: NotificationEvent, cert: CertificateRef): string {
  switch (event.type) {
    case 'expiring':
    case 'expired':
    case 'test':
      return expiryStatus(cert.notAfter, event.occurredAt);
    case 'issued':
      return `issued, valid until ${formatInstant(cert.notAfter)}`;
    case 'revoked':
      return `revoked (${reasonText(event.reason)})`;
    case 'renewed':
      return `renewed, valid until ${formatInstant(cert.notAfter)}`;
  }
}

export function expiryStatus(notAfter: string, at: string): string {
  const ms = msLeft(notAfter, at);
  if (Number.isNaN(ms)) return `expires ${clean(notAfter)}`;
  if (ms <= 0) {
    const ago = Math.floor(-ms / DAY_MS);
    return ago === 0 ? 'expired today' : `expired ${plural(ago, 'day')} ago`;
  }
  const days = Math.floor(ms / DAY_MS);
  return days === 0 ? 'expires in less than a day' : `expires in ${plural(days, 'day')}`;
}

/** A certificate ready to render: the same facts on every platform. */
export interface CertificateItem {
  urgency: Urgency;
  commonName: string;
  /** Safe http(s) link, if any. */
  url?: string;
  status: string;
  /** `notAfter`, formatted. */
  notAfter: string;
  /** `notAfter` as a date only (compact lines). */
  notAfterDate: string;
  authorityName: string;
  /** Label/value pairs for the detailed view, values already shortened for display. */
  facts: Array<[label: string, value: string]>;
}

/** Display caps; anything longer is shortened with a visible count or ellipsis. */
export const DISPLAY = { name: 128, value: 256, listItems: 5, description: 1000 } as const;

export function certificateItem(event: NotificationEvent, cert: CertificateRef): CertificateItem {
  const facts: Array<[string, string]> = [];
  if (cert.sans.length > 0) facts.push(['SANs', listWithMore(cert.sans, DISPLAY.listItems)]);
  facts.push(['Authority', truncate(clean(cert.authorityName), DISPLAY.value)]);
  if (cert.profileName) facts.push(['Profile', truncate(clean(cert.profileName), DISPLAY.value)]);
  if (cert.owner) facts.push(['Owner', truncate(clean(cert.owner), DISPLAY.value)]);
  facts.push(['Serial', truncate(clean(cert.serialNumber), DISPLAY.value)]);
  facts.push(['Not after', formatInstant(cert.notAfter)]);
  const labels = Object.entries(cert.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) facts.push(['Labels', listWithMore(labels, DISPLAY.listItems)]);
  if (event.type === 'renewed') {
    const prev = (cert as Partial<RenewedCertificateRef>).previous;
    if (prev) facts.push(['Replaces', `serial ${truncate(clean(prev.serialNumber), DISPLAY.value)} (valid until ${formatInstant(prev.notAfter)})`]);
  }
  return {
    urgency: certificateUrgency(event, cert),
    commonName: truncate(clean(cert.commonName) || '(no common name)', DISPLAY.name),
    url: safeHttpUrl(cert.url),
    status: certificateStatus(event, cert),
    notAfter: formatInstant(cert.notAfter),
    notAfterDate: formatInstant(cert.notAfter).slice(0, 10),
    authorityName: truncate(clean(cert.authorityName), DISPLAY.value),
    facts,
  };
}

/** The event's certificates in display order: soonest expiry first for expiry events. */
export function orderedCertificates(event: NotificationEvent): CertificateRef[] {
  const certs = [...event.certificates];
  if (event.type === 'expiring' || event.type === 'expired') {
    certs.sort((a, b) => (Date.parse(a.notAfter) || 0) - (Date.parse(b.notAfter) || 0));
  }
  return certs;
}

/** "a, b, c (+4 more)" — never drops items without saying how many. */
export function listWithMore(values: string[], max: number): string {
  const shown = values.slice(0, max).map((v) => truncate(clean(v), DISPLAY.value));
  const rest = values.length - shown.length;
  return rest > 0 ? `${shown.join(', ')} (+${rest} more)` : shown.join(', ');
}

/** Replaces control characters (newlines included) so user data cannot break a line-based layout. */
export function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
}

/** Shortens to `max` characters with an ellipsis, without splitting a surrogate pair. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = Math.max(0, max - 1);
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${s.slice(0, end)}…`;
}

/** The URL if it is an absolute http(s) URL (so no `javascript:` link reaches a client). */
export function safeHttpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}
