/**
 * Email over SMTP (nodemailer): one message per digest, with a plain-text and an HTML
 * part, every value HTML-escaped.
 *
 * Transport security: `secure: true` is implicit TLS (port 465); otherwise the
 * connection is upgraded with STARTTLS when the server offers it, and required (no
 * password ever sent in clear) when credentials are configured, unless the deployment
 * opts out with `allowPlaintextAuth`.
 *
 * Results: SMTP 5xx replies are permanent (except 503, a session-state error); 4xx
 * replies, connection errors and timeouts are retryable.
 */
import type { ConnectionOptions } from 'node:tls';
import nodemailer from 'nodemailer';
import type { ChannelSender, EmailChannelConfig, EmailMessage, SendContext, SendResult, SenderDeps } from '../channel.types.js';
import type { Digest } from '../notification.model.js';
import {
  digestSummary,
  eventDescription,
  eventTitle,
  eventUrgency,
  certificateItem,
  clean,
  orderedCertificates,
  truncate,
  URGENCY_STYLE,
} from '../notification.render.js';
import { canonicalHost, TargetNotAllowedError } from '../target-guard.js';
import { resolveDeps, type ResolvedDeps } from './http.transport.js';

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Subject, text and HTML for a digest (emails have no size limit worth splitting for). */
export function formatEmailDigest(digest: Digest): EmailContent {
  const summary = digestSummary(digest);
  const text: string[] = [`Certa: ${summary}`, ''];
  const html: string[] = [
    '<!DOCTYPE html><html><head><meta charset="utf-8"></head>',
    '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#111827">',
    `<h2 style="margin:0 0 16px">Certa: ${escapeHtml(summary)}</h2>`,
  ];
  for (const event of digest.events) {
    const title = eventTitle(event);
    const style = URGENCY_STYLE[eventUrgency(event)];
    text.push(title, '='.repeat(Math.min(title.length, 72)), '');
    html.push(`<h3 style="margin:24px 0 8px;color:${style.css}">${escapeHtml(title)}</h3>`);
    const description = eventDescription(event);
    if (description) {
      text.push(description, '');
      html.push(`<p>${escapeHtml(description)}</p>`);
    }
    if (event.certificates.length === 0) continue;
    html.push('<table role="presentation" style="border-collapse:collapse;width:100%">');
    for (const cert of orderedCertificates(event)) {
      const item = certificateItem(event, cert);
      const color = URGENCY_STYLE[item.urgency].css;
      text.push(`* ${item.commonName}: ${item.status}`);
      for (const [k, v] of item.facts) text.push(`  ${k}: ${v}`);
      if (item.url) text.push(`  Link: ${item.url}`);
      text.push('');
      const name = item.url
        ? `<a href="${escapeHtml(item.url)}" style="color:#1d4ed8">${escapeHtml(item.commonName)}</a>`
        : escapeHtml(item.commonName);
      const facts = item.facts.map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(v)}`).join(' &middot; ');
      html.push(
        `<tr><td style="border-left:4px solid ${color};padding:6px 10px">` +
          `<strong>${name}</strong> &mdash; <span style="color:${color}">${escapeHtml(item.status)}</span><br>` +
          `<span style="color:#4b5563;font-size:12px">${facts}</span></td></tr>`,
      );
    }
    html.push('</table>');
  }
  text.push('--', 'Sent by Certa certificate notifications.');
  html.push('<p style="margin-top:24px;color:#6b7280;font-size:12px">Sent by Certa certificate notifications.</p></body></html>');
  return { subject: truncate(clean(`[Certa] ${summary}`), 200), text: text.join('\n'), html: html.join('\n') };
}

export interface EmailSenderOptions {
  /** TLS settings (e.g. `ca` of an internal relay). Certificates are always verified unless overridden here. */
  tls?: ConnectionOptions;
  /** Allow AUTH over a connection without TLS. Default false. */
  allowPlaintextAuth?: boolean;
  /** Name announced in EHLO. Default: nodemailer's (the machine's hostname). */
  ehloName?: string;
}

interface SmtpError {
  code?: string;
  responseCode?: number;
  response?: string;
  message?: string;
}

/** Connection-level problems that retrying will not fix. */
const PERMANENT_CODES = new Set(['ECONFIG', 'ENOAUTH', 'EAUTH', 'EENVELOPE', 'EMESSAGE']);

export function classifySmtpError(err: unknown, timedOut = false): SendResult {
  const e = (err ?? {}) as SmtpError;
  const detail = truncate(clean(e.response ?? e.message ?? String(err)), 300);
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
    const permanent = e.responseCode >= 500 && e.responseCode !== 503;
    return { ok: false, status: e.responseCode, retryable: !permanent, error: `SMTP ${e.responseCode}: ${detail}` };
  }
  if (timedOut) return { ok: false, retryable: true, error: 'SMTP timeout' };
  const code = e.code ?? 'ERROR';
  return { ok: false, retryable: !PERMANENT_CODES.has(code), error: `SMTP ${code}: ${detail}` };
}

function messageId(deliveryId: string, from: string): string {
  const local = deliveryId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128) || 'delivery';
  const domain = /@([A-Za-z0-9.-]+)$/.exec(from)?.[1] ?? 'certa.invalid';
  return `<${local}.certa@${domain}>`;
}

export class EmailSender implements ChannelSender<EmailMessage> {
  readonly type = 'email' as const;
  private readonly deps: ResolvedDeps;

  constructor(
    private readonly config: EmailChannelConfig,
    deps?: SenderDeps,
    private readonly options: EmailSenderOptions = {},
  ) {
    this.deps = resolveDeps(deps);
  }

  format(digest: Digest): EmailMessage[] {
    if (digest.events.length === 0) return [];
    return [{ channel: 'email', payload: formatEmailDigest(digest) }];
  }

  async send(message: EmailMessage, ctx: SendContext): Promise<SendResult> {
    if (message.channel !== 'email') {
      return { ok: false, retryable: false, error: `message for channel ${String((message as { channel: unknown }).channel)} handed to the email sender` };
    }
    const { host, port, secure, username, password, from, to } = this.config;
    const auth = username !== undefined ? { user: username, pass: password ?? '' } : undefined;
    const timeoutMs = this.deps.timeoutMs;
    // With a target guard, connect to the address it checked (nodemailer would resolve the
    // name again, its own way); TLS still presents and verifies the configured name.
    let connectHost = host;
    if (this.deps.resolveTarget) {
      try {
        connectHost = (await this.deps.resolveTarget(host))[0];
      } catch (err) {
        if (err instanceof TargetNotAllowedError) return { ok: false, retryable: false, error: err.message };
        return { ok: false, retryable: true, error: `SMTP EDNS: ${truncate(clean((err as Error).message ?? String(err)), 300)}` };
      }
    }
    const transport = nodemailer.createTransport({
      host: connectHost,
      ...(connectHost !== host && canonicalHost(host).ip === null ? { servername: host } : {}),
      port,
      secure,
      requireTLS: !secure && auth !== undefined && !this.options.allowPlaintextAuth,
      auth,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      ...(this.options.tls ? { tls: this.options.tls } : {}),
      ...(this.options.ehloName ? { name: this.options.ehloName } : {}),
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    // The Mailer re-emits its transport's 'error' events (token refresh, pooled sockets):
    // an EventEmitter without a listener would turn one into a process crash. Failures of
    // this send reach sendMail's promise below either way.
    transport.on('error', () => {});
    // One deadline for the whole SMTP conversation, like the HTTP channels.
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = ctx.signal ? AbortSignal.any([deadline, ctx.signal]) : deadline;
    try {
      const info = await transport.sendMail({
        from,
        to,
        subject: message.payload.subject,
        text: message.payload.text,
        html: message.payload.html,
        date: this.deps.now(),
        messageId: messageId(ctx.deliveryId, from),
        headers: { 'X-Certa-Delivery': ctx.deliveryId },
        signal,
      });
      const status = Number(/^(\d{3})/.exec(info.response ?? '')?.[1] ?? 250);
      const rejected = info.rejected?.length ? ` (rejected: ${info.rejected.map(String).join(', ')})` : '';
      return { ok: true, status, body: truncate(clean(`${info.response ?? ''}${rejected}`), 2000) };
    } catch (err) {
      return classifySmtpError(err, deadline.aborted);
    } finally {
      transport.close();
    }
  }
}
