/**
 * The SSRF table through the API, on both dialects: every written form of a loopback,
 * unspecified, broadcast, multicast, link-local or metadata target is refused by
 * `verifyEndpoint` (403 target_not_allowed) and as a channel URL or SMTP host (400 on
 * /config/url, /config/host), with a message naming the rule; opening loopback with
 * CERTA_TARGET_ALLOW lets the loopback forms through (to servers on 127.0.0.1) and
 * nothing else. A channel whose target became refused is refused at send time, with
 * nothing sent; a failed handshake reads the same whether the port is closed, silent,
 * not TLS or resets.
 *
 * Only loopback is ever connected to: public and private addresses being allowed is a
 * decision, tested in src/notify/target-guard.test.ts.
 */
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDialect, type TestEnv } from '../helpers/harness.js';
import { Scratch } from '../helpers/openssl.js';
import { buildSender, loadChannelSpec, testChannel } from '../../src/notify/channels.usecases.js';
import { findChannel } from '../../src/store/notifications.repository.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import type { Services } from '../../src/context.js';
import { loadConfig } from '../../src/config/config.js';

const LOOPBACK = /is a loopback address.*allowed only when CERTA_TARGET_ALLOW lists it/;
const LOCALHOST = /a localhost name is loopback \(allowed only when CERTA_TARGET_ALLOW lists it\)/;
const LINK_LOCAL = /is a link-local address.*CERTA_TARGET_ALLOW/;
const METADATA = /cloud metadata (address|service name)/;
const never = (kind: string) => new RegExp(`is (an?|the) ${kind} address \\(never a valid target\\)`);

/**
 * [name, host as written (in brackets when IPv6), refusal with loopback closed, outcome with 127.0.0.0/8 opened:
 * reaches the server, still refused, or left to DNS (which does not answer for it here)]
 */
type Opened = 'reaches' | 'refused' | 'unresolved';
const TABLE: Array<[string, string, RegExp, Opened]> = [
  ['loopback', '127.0.0.1', LOOPBACK, 'reaches'],
  ['loopback, decimal', '2130706433', LOOPBACK, 'reaches'],
  ['loopback, hex', '0x7f000001', LOOPBACK, 'reaches'],
  ['loopback, octal', '0177.0.0.1', LOOPBACK, 'reaches'],
  ['loopback, short', '127.1', LOOPBACK, 'reaches'],
  ['loopback IPv6', '[::1]', LOOPBACK, 'refused'],
  ['loopback IPv6, long form', '[0:0:0:0:0:0:0:1]', LOOPBACK, 'refused'],
  ['loopback IPv4-mapped, dotted', '[::ffff:127.0.0.1]', LOOPBACK, 'reaches'],
  ['loopback IPv4-mapped, hex', '[::ffff:7f00:1]', LOOPBACK, 'reaches'],
  ['localhost', 'localhost', LOCALHOST, 'reaches'],
  ['LOCALHOST', 'LOCALHOST', LOCALHOST, 'reaches'],
  ['localhost with trailing dot', 'localhost.', LOCALHOST, 'reaches'],
  ['*.localhost (resolved nowhere: refused before DNS)', 'app.localhost', LOCALHOST, 'unresolved'],
  ['unspecified 0', '0', never('unspecified'), 'refused'],
  ['unspecified 0.0.0.0', '0.0.0.0', never('unspecified'), 'refused'],
  ['unspecified IPv6', '[::]', never('unspecified'), 'refused'],
  ['unspecified IPv4-mapped', '[::ffff:0.0.0.0]', never('unspecified'), 'refused'],
  ['broadcast', '255.255.255.255', never('broadcast'), 'refused'],
  ['multicast', '224.0.0.1', never('multicast'), 'refused'],
  ['multicast IPv6', '[ff02::1]', never('multicast'), 'refused'],
  ['link-local', '169.254.1.1', LINK_LOCAL, 'refused'],
  ['link-local IPv6', '[fe80::1]', LINK_LOCAL, 'refused'],
  ['metadata', '169.254.169.254', METADATA, 'refused'],
  ['metadata, decimal', '2852039166', METADATA, 'refused'],
  ['metadata IPv4-mapped', '[::ffff:169.254.169.254]', METADATA, 'refused'],
  ['metadata AWS IPv6', '[fd00:ec2::254]', METADATA, 'refused'],
  ['metadata name', 'metadata.google.internal', METADATA, 'refused'],
];

/** A TLS server on 127.0.0.1 with a throwaway self-signed certificate (the handshake is what counts here). */
async function tlsServer(s: Scratch): Promise<{ port: number; close: () => Promise<void> }> {
  s.ok('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key', '-out', 'srv.pem', '-days', '2', '-subj', '/CN=ssrf.example.test');
  const server = tls.createServer({ key: s.read('srv.key'), cert: s.read('srv.pem') }, (sock) => sock.end());
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

const verify = (env: TestEnv, host: string, port: number, timeoutMs = 3000) => env.client().POST('/api/v1/verify/endpoint', { body: { host, port, timeoutMs } });

let seq = 0;
const channel = (env: TestEnv, type: 'webhook' | 'slack', url: string) =>
  env.client().POST('/api/v1/notification-channels', { body: { name: `ssrf-${type}-${++seq}`, type, config: { url } } });
const smtpChannel = (env: TestEnv, host: string) =>
  env.client().POST('/api/v1/notification-channels', { body: { name: `ssrf-email-${++seq}`, type: 'email', config: { host, port: 2525, secure: false, from: 'c@example.test', to: ['o@example.test'] } } });

forEachDialect(
  'SSRF table, default rules',
  (env) => {
    describe.each(TABLE)('%s (%s)', (_name, host, refusal) => {
      it('error/verifyEndpoint -> 403 target_not_allowed naming the rule, without connecting', async () => {
        const r = await verify(env(), host, 9);
        expect(r.response.status, JSON.stringify(r.error)).toBe(403);
        expect(r.error!.code).toBe('target_not_allowed');
        expect(r.error!.detail).toMatch(/is not an allowed verification target: /);
        expect(r.error!.detail).toMatch(refusal);
      });

      it('error/webhook and slack channel URLs, SMTP host -> 400 on the field naming the rule', async () => {
        for (const type of ['webhook', 'slack'] as const) {
          const r = await channel(env(), type, `http://${host}:9/hook/${'k'.repeat(16)}`);
          expect(r.response.status, `${type} ${JSON.stringify(r.error)}`).toBe(400);
          expect(r.error!.errors).toEqual([{ field: '/config/url', message: expect.stringMatching(refusal) }]);
        }
        const e = await smtpChannel(env(), host);
        expect(e.response.status, JSON.stringify(e.error)).toBe(400);
        expect(e.error!.errors).toEqual([{ field: '/config/host', message: expect.stringMatching(refusal) }]);
      });
    });
  },
  { env: { CERTA_TARGET_ALLOW: '', CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);

forEachDialect(
  'SSRF table, loopback opened by CERTA_TARGET_ALLOW',
  (env) => {
    const s = new Scratch();
    let server: { port: number; close: () => Promise<void> };
    let receiver: Receiver;
    beforeAll(async () => {
      server = await tlsServer(s);
      receiver = await startReceiver();
    });
    afterAll(async () => {
      await server?.close();
      await receiver?.close();
      s.cleanup();
    });

    describe.each(TABLE)('%s (%s)', (_name, host, refusal, opened) => {
      if (opened === 'reaches') {
        it('ok/verifyEndpoint reaches the server on 127.0.0.1; channel URL accepted', async () => {
          const r = await verify(env(), host, server.port);
          expect(r.response.status, JSON.stringify(r.error)).toBe(200);
          expect(['127.0.0.1', '::ffff:7f00:1']).toContain(r.data!.endpoint!.address);
          const c = await channel(env(), 'webhook', `http://${host}:9/hook`);
          expect(c.response.status, JSON.stringify(c.error)).toBe(201);
        });
      } else if (opened === 'refused') {
        it('error/still refused: only 127.0.0.0/8 was opened', async () => {
          const r = await verify(env(), host, 9);
          expect(r.response.status, JSON.stringify(r.error)).toBe(403);
          expect(r.error!.detail).toMatch(refusal);
        });
      } else {
        it('error/past the guard, the name does not resolve -> 502', async () => {
          const r = await verify(env(), host, 9);
          expect(r.response.status, JSON.stringify(r.error)).toBe(502);
          expect(r.error!.detail).toMatch(/could not be resolved/);
        });
      }
    });

    it('error/a closed port, a silent server, a non-TLS server and a reset all read the same', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((sock) => sockets.add(sock)).listen(0, '127.0.0.1');
      const plain = net.createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n')).listen(0, '127.0.0.1');
      const reset = net.createServer((sock) => sock.resetAndDestroy()).listen(0, '127.0.0.1');
      const probe = net.createServer().listen(0, '127.0.0.1');
      await Promise.all([once(silent, 'listening'), once(plain, 'listening'), once(reset, 'listening'), once(probe, 'listening')]);
      const closedPort = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));
      try {
        const details: string[] = [];
        for (const port of [closedPort, ...[silent, plain, reset].map((x) => (x.address() as net.AddressInfo).port)]) {
          const r = await verify(env(), '127.0.0.1', port, 300);
          expect(r.response.status, JSON.stringify(r.error)).toBe(502);
          expect(r.error!.code).toBe('upstream_error');
          details.push(r.error!.detail!.replace(`:${port}`, ':PORT'));
        }
        expect(new Set(details)).toEqual(new Set(['could not complete a TLS handshake with 127.0.0.1:PORT']));
      } finally {
        for (const sock of sockets) sock.destroy();
        for (const x of [silent, plain, reset]) x.close();
      }
    });

    it('error/a channel whose target is refused at send time sends nothing (loopback closed after the channel was saved)', async () => {
      const url = `http://localhost:${new URL(receiver.origin).port}/hook`;
      const created = await channel(env(), 'webhook', url);
      expect(created.response.status, JSON.stringify(created.error)).toBe(201);
      const id = created.data!.id;
      const svc = env().app.services;
      const closed: Services = { ...svc, config: { ...svc.config, targetAllow: [] } };
      const before = receiver.requests.length;

      // Opened: the test event arrives, through the address the guard checked.
      expect(await testChannel(svc, id)).toMatchObject({ ok: true, status: 204 });
      expect(receiver.requests.length).toBe(before + 1);

      // Closed: refused by the check before the send, and by the sender's own connect-time check.
      expect(await testChannel(closed, id)).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(LOCALHOST) });
      const spec = await loadChannelSpec(closed, (await findChannel(svc.db, id))!);
      const sender = buildSender(closed, spec);
      const [message] = sender.format({ events: [{ type: 'test', occurredAt: new Date().toISOString(), message: 'x', certificates: [] }] });
      expect(await sender.send(message, { deliveryId: 'ssrf-1' })).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(LOCALHOST) });
      expect(receiver.requests.length).toBe(before + 1);
    });
  },
  { env: { CERTA_TARGET_ALLOW: '127.0.0.0/8', CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);

describe('CERTA_TARGET_ALLOW', () => {
  it('ok/empty by default; addresses, ranges and names accepted', () => {
    expect(loadConfig({}).targetAllow).toEqual([]);
    expect(loadConfig({ CERTA_TARGET_ALLOW: '127.0.0.0/8, ::1,dev.localhost' }).targetAllow).toEqual(['127.0.0.0/8', '::1', 'dev.localhost']);
  });

  it('error/a malformed entry stops the start, naming the variable', () => {
    expect(() => loadConfig({ CERTA_TARGET_ALLOW: '127.0.0.0/33' })).toThrow(/CERTA_TARGET_ALLOW/);
    expect(() => loadConfig({ CERTA_TARGET_ALLOW: 'not a host' })).toThrow(/CERTA_TARGET_ALLOW/);
  });
});
