/**
 * HTTP channels with a target guard: the connection goes to the address the guard
 * checked (names below end in `.invalid`, which no resolver answers: a request that
 * arrives proves the name was not resolved again), refusals are permanent and send
 * nothing, same-origin redirects are checked again. Real receivers on 127.0.0.1 only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOW } from '../testing/fixtures.js';
import { startReceiver, type Receiver } from '../testing/http-receiver.js';
import { TargetGuard } from '../target-guard.js';
import { resolveDeps, sendJson } from './http.transport.js';
import { WebhookSender } from './webhook.channel.js';

const DNS: Record<string, string[]> = { 'receiver.invalid': ['127.0.0.1'], 'rebind.invalid': ['127.0.0.1'] };

function guarded(open: string[]) {
  const lookups: string[] = [];
  const guard = new TargetGuard([], async (host) => {
    lookups.push(host);
    if (!DNS[host]) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return DNS[host];
  }, { open });
  const deps = resolveDeps({ now: () => NOW, timeoutMs: 2000, resolveTarget: (h) => guard.connectAddresses(h) });
  return { deps, lookups };
}

describe('pinned fetch (HTTP channels behind the target guard)', () => {
  let receiver: Receiver;
  let port: number;
  beforeAll(async () => {
    receiver = await startReceiver();
    port = Number(new URL(receiver.origin).port);
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('ok/connects to the checked address; the name is resolved once and sent as Host', async () => {
    const { deps, lookups } = guarded(['127.0.0.0/8']);
    receiver.script({ status: 200, headers: { 'x-seen': 'yes' }, body: 'accepted' });
    const before = receiver.requests.length;
    const r = await sendJson(`http://receiver.invalid:${port}/hook?k=1`, '{"a":1}', { 'x-extra': 'v' }, deps, undefined);
    expect(r).toEqual({ ok: true, status: 200, body: 'accepted' });
    const got = receiver.requests[before];
    expect(got).toMatchObject({ method: 'POST', path: '/hook?k=1', body: '{"a":1}' });
    expect(got.headers).toMatchObject({ host: `receiver.invalid:${port}`, 'content-type': 'application/json', 'x-extra': 'v', 'content-length': '7' });
    expect(lookups).toEqual(['receiver.invalid']);
  });

  it.each([
    ['error/a name resolving to loopback', 'rebind.invalid', /rebind\.invalid is not an allowed notification target: it resolves to 127\.0\.0\.1, which is a loopback address/],
    ['error/a loopback literal in hex', '0x7f000001', /is a loopback address/],
    ['error/localhost', 'localhost', /localhost name is loopback/],
    ['error/the unspecified address', '0', /unspecified address \(never a valid target\)/],
    ['error/IPv4-mapped loopback', '[::ffff:127.0.0.1]', /loopback address \(it carries 127\.0\.0\.1\)/],
  ])('%s (%s) is refused at send time, permanently, and nothing is sent', async (_name, host, message) => {
    const { deps } = guarded([]);
    const before = receiver.requests.length;
    const r = await sendJson(`http://${host}:${port}/hook`, '{}', {}, deps, undefined);
    expect(r).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(message) });
    expect(receiver.requests.length).toBe(before);
  });

  it('ok/a same-origin redirect is followed through the guard again', async () => {
    const { deps, lookups } = guarded(['127.0.0.0/8']);
    receiver.script({ status: 307, headers: { location: '/moved' } }, { status: 204 });
    const before = receiver.requests.length;
    expect(await sendJson(`http://receiver.invalid:${port}/hook`, '{}', {}, deps, undefined)).toEqual({ ok: true, status: 204 });
    expect(receiver.requests.slice(before).map((r) => r.path)).toEqual(['/hook', '/moved']);
    expect(lookups).toEqual(['receiver.invalid', 'receiver.invalid']);
  });

  it('ok/statuses, Retry-After and bodies read as with fetch', async () => {
    const { deps } = guarded(['127.0.0.0/8']);
    receiver.script({ status: 429, headers: { 'retry-after': '7' }, body: 'slow down' }, { status: 410, body: 'gone' });
    expect(await sendJson(`${receiver.origin}/x`, '{}', {}, deps, undefined)).toEqual({ ok: false, retryable: true, status: 429, retryAfterMs: 7000, error: 'HTTP 429 rate limited: slow down' });
    expect(await sendJson(`${receiver.origin}/x`, '{}', {}, deps, undefined)).toMatchObject({ ok: false, retryable: false, status: 410, error: 'HTTP 410: gone' });
  });

  it('retry/a name that does not resolve, a closed port and a receiver that never answers are retryable', async () => {
    const { deps } = guarded(['127.0.0.0/8']);
    expect(await sendJson(`http://nowhere.invalid:${port}/x`, '{}', {}, deps, undefined)).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/network error/) });
    const closed = await startReceiver();
    await closed.close();
    expect(await sendJson(`${closed.origin}/x`, '{}', {}, deps, undefined)).toMatchObject({ ok: false, retryable: true, error: 'network error: ECONNREFUSED' });
    receiver.script('hang');
    const short = resolveDeps({ ...deps, timeoutMs: 200 });
    expect(await sendJson(`${receiver.origin}/x`, '{}', {}, short, undefined)).toEqual({ ok: false, retryable: true, error: 'timeout after 200 ms' });
  });

  it('ok/a webhook sender built with resolveTarget uses the pinned connection', async () => {
    const { deps } = guarded([]);
    const sender = new WebhookSender({ url: `http://rebind.invalid:${port}/hook`, secret: 'x'.repeat(32) }, { now: () => NOW, resolveTarget: deps.resolveTarget });
    const [message] = sender.format({ events: [{ type: 'test', occurredAt: NOW.toISOString(), message: 'hello', certificates: [] }] });
    const before = receiver.requests.length;
    expect(await sender.send(message, { deliveryId: 'd-1' })).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(/loopback/) });
    expect(receiver.requests.length).toBe(before);
  });
});
