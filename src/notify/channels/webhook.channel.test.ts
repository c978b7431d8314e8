/**
 * Generic webhook: stable JSON body, signature checked by a reference implementation
 * written here independently (node:crypto), tampering and replay rejected.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cert, expiringEvent, mixedDigest, NOW, OCCURRED_AT } from '../testing/fixtures.js';
import { startReceiver, type Receiver } from '../testing/http-receiver.js';
import { formatWebhookDigest, WebhookSender, type WebhookBody } from './webhook.channel.js';
import { signWebhook, verifyWebhookSignature } from './webhook.signature.js';

const SECRET = 'whsec_0123456789abcdef0123';

/** What a receiver would write from the documentation alone. */
function independentVerify(secret: string, headers: IncomingHttpHeaders, rawBody: string, nowSeconds: number): boolean {
  const ts = headers['x-certa-timestamp'];
  const sig = headers['x-certa-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string' || !sig.startsWith('v1=')) return false;
  if (Math.abs(nowSeconds - Number(ts)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest();
  const given = Buffer.from(sig.slice(3), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const nowSeconds = Math.floor(NOW.getTime() / 1000);

describe('webhook channel', () => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver({ fallback: { status: 200, body: '{"received":true}' } });
  });
  afterAll(() => rx.close());

  const sendAll = async (secret: string | undefined) => {
    const sender = new WebhookSender({ url: rx.url, ...(secret ? { secret } : {}) }, { now: () => NOW, timeoutMs: 2000 });
    const before = rx.requests.length;
    const messages = sender.format(mixedDigest());
    const results = [];
    for (const [i, m] of messages.entries()) results.push(await sender.send(m, { deliveryId: `del-${i}` }));
    return { results, requests: rx.requests.slice(before), messages };
  };

  it('ok/signed delivery verifies with an independent HMAC implementation', async () => {
    const { results, requests } = await sendAll(SECRET);
    expect(results.every((r) => r.ok)).toBe(true);
    for (const [i, req] of requests.entries()) {
      expect(req.headers['x-certa-timestamp']).toBe(String(nowSeconds));
      expect(req.headers['x-certa-delivery']).toBe(`del-${i}`);
      expect(independentVerify(SECRET, req.headers, req.body, nowSeconds)).toBe(true);
      // and with the exported reference helper
      expect(verifyWebhookSignature(SECRET, req.headers, req.body, { now: NOW })).toEqual({ ok: true, timestamp: nowSeconds, deliveryId: `del-${i}` });
    }
  });

  it.each([
    { name: 'error/tampered body', mutate: (b: string) => b.replace('keyCompromise', 'superseded'), now: nowSeconds, reason: 'bad_signature' },
    { name: 'error/appended whitespace', mutate: (b: string) => `${b} `, now: nowSeconds, reason: 'bad_signature' },
    { name: 'error/replayed 10 minutes later', mutate: (b: string) => b, now: nowSeconds + 600, reason: 'stale_timestamp' },
    { name: 'error/timestamp from the future', mutate: (b: string) => b, now: nowSeconds - 600, reason: 'stale_timestamp' },
  ])('$name fails both verifiers', async ({ mutate, now, reason }) => {
    const { requests } = await sendAll(SECRET);
    const req = requests.find((r) => r.body.includes('keyCompromise'))!;
    const body = mutate(req.body);
    expect(independentVerify(SECRET, req.headers, body, now)).toBe(false);
    expect(verifyWebhookSignature(SECRET, req.headers, body, { now: new Date(now * 1000) })).toEqual({ ok: false, reason });
  });

  it('error/wrong secret fails', async () => {
    const { requests } = await sendAll(SECRET);
    expect(verifyWebhookSignature('another-secret-value', requests[0].headers, requests[0].body, { now: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('ok/unsigned when no secret is configured', async () => {
    const { requests } = await sendAll(undefined);
    expect(requests[0].headers['x-certa-signature']).toBeUndefined();
    expect(requests[0].headers['x-certa-delivery']).toBe('del-0');
  });

  it('format/stable body: one message per event, fixed keys, deliveryId last', async () => {
    const { requests } = await sendAll(SECRET);
    const bodies = requests.map((r) => JSON.parse(r.body) as WebhookBody);
    expect(bodies.map((b) => b.event)).toEqual(['expiring', 'expired', 'revoked', 'issued', 'renewed', 'test']);
    expect(Object.keys(bodies[0])).toEqual(['event', 'occurredAt', 'thresholdDays', 'batch', 'certificates', 'deliveryId']);
    expect(bodies[0]).toMatchObject({ occurredAt: OCCURRED_AT, thresholdDays: 30, batch: { index: 1, count: 1 }, deliveryId: 'del-0' });
    expect(Object.keys(bodies[0].certificates[0])).toEqual([
      'id', 'commonName', 'sans', 'serialNumber', 'notAfter', 'daysLeft', 'authorityName', 'profileName', 'owner', 'labels', 'url',
    ]);
    expect(bodies[0].certificates[0]).toMatchObject({ id: 'cert-0000', daysLeft: 1, labels: { env: 'prod', app: 'app-0' } });
    expect(bodies[1].certificates[0].daysLeft).toBe(-2);
    expect(bodies[2]).toMatchObject({ event: 'revoked', reason: 'keyCompromise' });
    expect(bodies[4].certificates[0].previous).toEqual({ id: 'cert-old', serialNumber: 'aa01', notAfter: '2025-06-04T00:00:00.000Z' });
    expect(bodies[5]).toMatchObject({ event: 'test', message: null, certificates: [] });
  });

  it('format/absent optional fields are null, unsafe links dropped', () => {
    const c = cert(1, { url: 'javascript:alert(1)' });
    delete c.owner;
    delete c.profileName;
    delete c.labels;
    const [payload] = formatWebhookDigest({ events: [{ type: 'issued', occurredAt: OCCURRED_AT, certificates: [c] }] });
    expect(payload.certificates[0]).toMatchObject({ owner: null, profileName: null, labels: {}, url: null });
  });

  it('split/large event is batched without losing certificates', () => {
    const payloads = formatWebhookDigest({ events: [expiringEvent(250)] }, { maxCertificatesPerMessage: 100 });
    expect(payloads.map((p) => [p.batch, p.certificates.length])).toEqual([
      [{ index: 1, count: 3 }, 100],
      [{ index: 2, count: 3 }, 100],
      [{ index: 3, count: 3 }, 50],
    ]);
    expect(new Set(payloads.flatMap((p) => p.certificates.map((c) => c.id))).size).toBe(250);
  });
});

describe('verifyWebhookSignature', () => {
  const body = '{"event":"test"}';
  const { timestamp, signature } = signWebhook(SECRET, body, nowSeconds);
  const other = signWebhook('old-secret-000000', body, nowSeconds).signature;
  it.each([
    { name: 'ok/plain headers object', headers: { 'x-certa-timestamp': timestamp, 'x-certa-signature': signature }, ok: true },
    { name: 'ok/Headers instance, any case', headers: new Headers({ 'X-Certa-Timestamp': timestamp, 'X-Certa-Signature': signature }), ok: true },
    { name: 'ok/rotation: several signatures, one matches', headers: { 'x-certa-timestamp': timestamp, 'x-certa-signature': `${other}, ${signature}` }, ok: true },
    { name: 'error/missing signature', headers: { 'x-certa-timestamp': timestamp }, reason: 'missing_headers' },
    { name: 'error/non-numeric timestamp', headers: { 'x-certa-timestamp': '12a', 'x-certa-signature': signature }, reason: 'bad_timestamp' },
    { name: 'error/unknown version', headers: { 'x-certa-timestamp': timestamp, 'x-certa-signature': signature.replace('v1=', 'v0=') }, reason: 'bad_signature' },
    { name: 'error/truncated hex', headers: { 'x-certa-timestamp': timestamp, 'x-certa-signature': signature.slice(0, -2) }, reason: 'bad_signature' },
  ])('$name', ({ headers, ok, reason }) => {
    const result = verifyWebhookSignature(SECRET, headers, body, { now: NOW, toleranceSeconds: 300 });
    if (ok) expect(result).toMatchObject({ ok: true, timestamp: nowSeconds });
    else expect(result).toEqual({ ok: false, reason });
  });

  it('ok/raw bytes verify like the string', () => {
    expect(verifyWebhookSignature(SECRET, { 'x-certa-timestamp': timestamp, 'x-certa-signature': signature }, Buffer.from(body), { now: NOW }).ok).toBe(true);
  });
});
