/**
 * Email sender against a real SMTP server (smtp-server) on 127.0.0.1: plain, STARTTLS
 * and implicit TLS, with and without AUTH, and the SMTP replies mapped to results.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailChannelConfig, SendResult } from '../channel.types.js';
import { cert, mixedDigest, NOW, OCCURRED_AT } from '../testing/fixtures.js';
import { TargetGuard } from '../target-guard.js';
import { classifySmtpError, EmailSender, formatEmailDigest, type EmailSenderOptions } from './email.channel.js';

interface Received {
  from: string;
  to: string[];
  raw: string;
  user?: string;
  secure: boolean;
}

interface SmtpOptions {
  /** Implicit TLS. */
  secure?: boolean;
  /** Offer STARTTLS (with the test certificate). */
  starttls?: boolean;
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
  allowInsecureAuth?: boolean;
  /** Reply to RCPT TO with this code. */
  rcptCode?: number;
}

let tls: { key: string; cert: string };
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'certa-smtp-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem'),
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  tls = { key: readFileSync(join(tmp, 'key.pem'), 'utf8'), cert: readFileSync(join(tmp, 'cert.pem'), 'utf8') };
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function startSmtp(opts: SmtpOptions): Promise<{ port: number; received: Received[]; authAttempts: string[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const authAttempts: string[] = [];
  const server = new SMTPServer({
    secure: opts.secure ?? false,
    ...(opts.secure || opts.starttls ? { key: tls.key, cert: tls.cert } : {}),
    disabledCommands: opts.starttls || opts.secure ? [] : ['STARTTLS'],
    authOptional: !opts.auth,
    allowInsecureAuth: opts.allowInsecureAuth ?? false,
    logger: false,
    onAuth(auth, _session, cb) {
      authAttempts.push(auth.username ?? '');
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username });
      cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(_address, _session, cb) {
      if (opts.rcptCode) return cb(Object.assign(new Error(`Recipient refused (${opts.rcptCode})`), { responseCode: opts.rcptCode }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mailFrom = session.envelope.mailFrom;
        received.push({
          from: mailFrom ? mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: typeof session.user === 'string' ? session.user : undefined,
          secure: session.secure,
        });
        cb();
      });
    },
  });
  // A client refusing our certificate makes the server emit 'error'; that is the expected outcome.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, received, authAttempts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const baseConfig = (port: number, extra: Partial<EmailChannelConfig> = {}): EmailChannelConfig => ({
  host: '127.0.0.1',
  port,
  secure: false,
  from: 'certa@example.com',
  to: ['ops@example.com', 'sec@example.com'],
  ...extra,
});

const trustTestCa: EmailSenderOptions = { tls: { ca: '' } };

async function send(config: EmailChannelConfig, options: EmailSenderOptions = {}, timeoutMs = 5000): Promise<SendResult> {
  const sender = new EmailSender(config, { now: () => NOW, timeoutMs }, options.tls?.ca === '' ? { ...options, tls: { ca: tls.cert } } : options);
  const [message] = sender.format(mixedDigest());
  return sender.send(message, { deliveryId: 'del-42' });
}

/** Quoted-printable soft breaks and escapes undone, enough to read the parts. */
function decodeQp(raw: string): string {
  const bytes = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

const CREDS = { user: 'certa', pass: 'correct horse battery staple' };

describe('email channel', () => {
  it.each([
    { name: 'ok/plain, no AUTH', smtp: {}, config: {}, options: {}, user: undefined, secure: false },
    { name: 'ok/AUTH over STARTTLS', smtp: { starttls: true, auth: CREDS }, config: { username: CREDS.user, password: CREDS.pass }, options: trustTestCa, user: 'certa', secure: true },
    { name: 'ok/STARTTLS used when offered even without AUTH', smtp: { starttls: true }, config: {}, options: trustTestCa, user: undefined, secure: true },
    { name: 'ok/implicit TLS with AUTH', smtp: { secure: true, auth: CREDS }, config: { secure: true, username: CREDS.user, password: CREDS.pass }, options: trustTestCa, user: 'certa', secure: true },
    {
      name: 'ok/plaintext AUTH only when explicitly allowed',
      smtp: { auth: CREDS, allowInsecureAuth: true },
      config: { username: CREDS.user, password: CREDS.pass },
      options: { allowPlaintextAuth: true },
      user: 'certa',
      secure: false,
    },
  ])('$name', async ({ smtp, config, options, user, secure }) => {
    const server = await startSmtp(smtp);
    try {
      const result = await send(baseConfig(server.port, config), options);
      expect(result).toMatchObject({ ok: true, status: 250 });
      expect(server.received).toHaveLength(1);
      const mail = server.received[0];
      expect(mail).toMatchObject({ from: 'certa@example.com', to: ['ops@example.com', 'sec@example.com'], user, secure });
      expect(mail.raw).toMatch(/^Subject: \[Certa\] 7 certificates: 3 expiring, 1 expired/m);
      expect(mail.raw).toMatch(/^X-Certa-Delivery: del-42$/m);
      expect(mail.raw).toMatch(/^Message-ID: <del-42\.certa@example\.com>$/m);
      expect(mail.raw).toMatch(/^Date: Sun, 01 Jun 2025 00:05:00 \+0000$/m);
      expect(mail.raw).toContain('Content-Type: text/plain');
      expect(mail.raw).toContain('Content-Type: text/html');
      expect(decodeQp(mail.raw)).toContain('svc-0101.internal.example.com: revoked (keyCompromise)');
    } finally {
      await server.close();
    }
  });

  it.each([
    { name: 'error/wrong password is permanent (535)', smtp: { starttls: true, auth: CREDS }, config: { username: CREDS.user, password: 'nope' }, options: trustTestCa, expected: { ok: false, status: 535, retryable: false } },
    { name: 'error/recipient refused is permanent (550)', smtp: { rcptCode: 550 }, config: {}, options: {}, expected: { ok: false, status: 550, retryable: false } },
    { name: 'retry/recipient greylisted is retryable (451)', smtp: { rcptCode: 451 }, config: {}, options: {}, expected: { ok: false, status: 451, retryable: true } },
    { name: 'retry/untrusted server certificate', smtp: { secure: true }, config: { secure: true }, options: {}, expected: { ok: false, retryable: true } },
  ])('$name', async ({ smtp, config, options, expected }) => {
    const server = await startSmtp(smtp);
    try {
      const result = await send(baseConfig(server.port, config), options);
      expect(result).toMatchObject(expected);
      expect(server.received).toHaveLength(0);
      if (!result.ok) expect(result.error).not.toContain('nope');
    } finally {
      await server.close();
    }
  });

  it('error/credentials are never sent over a connection without TLS', async () => {
    const server = await startSmtp({ auth: CREDS, allowInsecureAuth: true });
    try {
      const result = await send(baseConfig(server.port, { username: CREDS.user, password: CREDS.pass }));
      // nodemailer insists on STARTTLS, the server does not know it: a config mismatch, not worth retrying.
      expect(result).toMatchObject({ ok: false, retryable: false });
      expect(server.authAttempts).toEqual([]);
      expect(server.received).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('retry/connection refused', async () => {
    const server = await startSmtp({});
    const { port } = server;
    await server.close();
    expect(await send(baseConfig(port))).toMatchObject({ ok: false, retryable: true });
  });

  it('retry/server that never greets times out', async () => {
    const sockets = new Set<Socket>();
    const silent: NetServer = createNetServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      // Our deadline or nodemailer's own greeting timeout, whichever fires first on a loaded machine.
      const r = await send(baseConfig(port), {}, 200);
      expect(r).toMatchObject({ ok: false, retryable: true });
      expect((r as { error: string }).error).toMatch(/^SMTP (timeout|ETIMEDOUT: Greeting never received)$/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('email channel behind the target guard', () => {
  // `smtp.invalid` resolves only through the guard's table: mail that arrives proves nodemailer did not resolve it again.
  const guard = (open: string[]) =>
    new TargetGuard([], async (host) => ({ 'smtp.invalid': ['127.0.0.1'], localhost: ['127.0.0.1'] })[host] ?? [], { open });
  const sendVia = (g: TargetGuard, config: EmailChannelConfig, options: EmailSenderOptions = {}) => {
    const sender = new EmailSender(config, { now: () => NOW, timeoutMs: 5000, resolveTarget: (h) => g.connectAddresses(h) }, options);
    return sender.send(sender.format(mixedDigest())[0], { deliveryId: 'del-43' });
  };

  it('ok/connects to the checked address; STARTTLS still verifies the configured name', async () => {
    const plain = await startSmtp({});
    const starttls = await startSmtp({ starttls: true });
    try {
      expect(await sendVia(guard(['127.0.0.0/8']), baseConfig(plain.port, { host: 'smtp.invalid' }))).toMatchObject({ ok: true, status: 250 });
      expect(plain.received).toHaveLength(1);
      expect(await sendVia(guard(['127.0.0.0/8']), baseConfig(starttls.port, { host: 'localhost' }), { tls: { ca: tls.cert } })).toMatchObject({ ok: true });
      expect(starttls.received).toMatchObject([{ secure: true }]);
    } finally {
      await plain.close();
      await starttls.close();
    }
  });

  it.each([
    ['error/a name resolving to loopback', 'smtp.invalid', /resolves to 127\.0\.0\.1, which is a loopback address/],
    ['error/loopback in decimal', '2130706433', /127\.0\.0\.1 is a loopback address/],
    ['error/unspecified', '0.0.0.0', /unspecified address \(never a valid target\)/],
  ])('%s (%s) is refused before connecting, permanently', async (_name, host, message) => {
    const server = await startSmtp({});
    try {
      expect(await sendVia(guard([]), baseConfig(server.port, { host }))).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(message) });
      expect(server.received).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});

describe('formatEmailDigest', () => {
  it('escapes certificate data in the HTML part and drops unsafe links', () => {
    const content = formatEmailDigest({
      events: [
        {
          type: 'issued',
          occurredAt: OCCURRED_AT,
          certificates: [cert(1, { commonName: '<script>alert("x")</script>', owner: `O'Brien & co`, url: 'javascript:alert(1)' })],
        },
      ],
    });
    expect(content.html).not.toContain('<script>');
    expect(content.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(content.html).toContain('O&#39;Brien &amp; co');
    expect(content.html).not.toContain('javascript:');
    expect(content.text).toContain('<script>alert("x")</script>: issued');
    expect(content.subject).toBe('[Certa] 1 certificate issued');
  });

  it('subject cannot carry a line break', () => {
    const { subject } = formatEmailDigest({ events: [{ type: 'revoked', occurredAt: OCCURRED_AT, reason: 'x\r\nBcc: a@b.c', certificates: [cert(1)] }] });
    expect(subject).not.toMatch(/[\r\n]/);
  });
});

describe('classifySmtpError', () => {
  it.each([
    { name: 'permanent/550', err: { code: 'EENVELOPE', responseCode: 550, response: '550 no such user' }, expected: { retryable: false, status: 550 } },
    { name: 'retryable/503 bad sequence', err: { code: 'EPROTOCOL', responseCode: 503, response: '503 bad sequence' }, expected: { retryable: true, status: 503 } },
    { name: 'retryable/421 shutting down', err: { code: 'EPROTOCOL', responseCode: 421 }, expected: { retryable: true, status: 421 } },
    { name: 'retryable/454 temporary auth failure', err: { code: 'EAUTH', responseCode: 454 }, expected: { retryable: true, status: 454 } },
    { name: 'retryable/socket error', err: { code: 'ESOCKET', message: 'connect ECONNREFUSED' }, expected: { retryable: true } },
    { name: 'retryable/timeout', err: { code: 'ETIMEDOUT' }, expected: { retryable: true } },
    { name: 'permanent/missing credentials', err: { code: 'ENOAUTH' }, expected: { retryable: false } },
  ])('$name', ({ err, expected }) => {
    expect(classifySmtpError(err)).toMatchObject({ ok: false, ...expected });
  });
});
