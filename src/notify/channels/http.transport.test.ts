import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOW } from '../testing/fixtures.js';
import { startReceiver, type Receiver } from '../testing/http-receiver.js';
import { classifyHttpResponse, parseRetryAfter, resolveDeps, sendJson, type HttpResponseInfo } from './http.transport.js';

describe('parseRetryAfter', () => {
  it.each([
    { name: 'seconds', value: '120', ms: 120_000 },
    { name: 'zero', value: '0', ms: 0 },
    { name: 'fractional seconds', value: '1.5', ms: 1500 },
    { name: 'padded', value: ' 5 ', ms: 5000 },
    { name: 'HTTP-date in the future', value: new Date(NOW.getTime() + 45_000).toUTCString(), ms: 45_000 },
    { name: 'HTTP-date in the past is no wait', value: new Date(NOW.getTime() - 45_000).toUTCString(), ms: 0 },
    { name: 'absent', value: null, ms: undefined },
    { name: 'garbage', value: 'soon', ms: undefined },
    { name: 'negative', value: '-5', ms: undefined },
    { name: 'loose date text refused', value: '2025-06-01', ms: undefined },
  ])('$name', ({ value, ms }) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });
});

describe('classifyHttpResponse', () => {
  const res = (status: number, headers: Record<string, string> = {}, body = ''): HttpResponseInfo => ({ status, headers: new Headers(headers), body });
  it.each([
    { name: 'ok/200', res: res(200, {}, 'ok'), expected: { ok: true, status: 200, body: 'ok' } },
    { name: 'ok/204 no body key', res: res(204), expected: { ok: true, status: 204 } },
    { name: 'retry/429 without header', res: res(429), expected: { ok: false, retryable: true, status: 429 } },
    { name: 'retry/429 with header', res: res(429, { 'retry-after': '9' }), expected: { ok: false, retryable: true, retryAfterMs: 9000 } },
    { name: 'retry/408', res: res(408), expected: { ok: false, retryable: true } },
    { name: 'retry/502', res: res(502), expected: { ok: false, retryable: true } },
    { name: 'error/401', res: res(401), expected: { ok: false, retryable: false } },
    { name: 'error/410 archived channel', res: res(410, {}, 'channel_is_archived'), expected: { ok: false, retryable: false, error: 'HTTP 410: channel_is_archived' } },
    { name: 'error/301', res: res(301), expected: { ok: false, retryable: false } },
  ])('$name', ({ res, expected }) => {
    const result = classifyHttpResponse(res, NOW);
    expect(result).toMatchObject(expected);
    if (res.status === 204) expect(result).not.toHaveProperty('body');
  });
});

describe('sendJson', () => {
  let rx: Receiver;
  let other: Receiver;
  beforeAll(async () => {
    other = await startReceiver({ fallback: { status: 204 } });
    rx = await startReceiver({
      route: (req) => {
        if (req.path === '/same-origin-307') return { status: 307, headers: { location: '/final' } };
        if (req.path === '/other-origin-307') return { status: 307, headers: { location: `${other.origin}/stolen` } };
        if (req.path === '/loop') return { status: 308, headers: { location: '/loop' } };
        if (req.path === '/303') return { status: 303, headers: { location: '/final' } };
        if (req.path === '/final') return { status: 200, body: 'done' };
        return undefined;
      },
    });
  });
  afterAll(async () => {
    await rx.close();
    await other.close();
  });
  const deps = resolveDeps({ now: () => NOW, timeoutMs: 2000 });

  it.each([
    { name: 'ok/same-origin 307 followed with method and body', path: '/same-origin-307', expected: { ok: true, status: 200, body: 'done' }, finalHits: 1 },
    { name: 'error/307 to another origin not followed', path: '/other-origin-307', expected: { ok: false, retryable: false, status: 307 }, finalHits: 0 },
    { name: 'error/redirect loop stops', path: '/loop', expected: { ok: false, retryable: false, status: 308 }, finalHits: 0 },
    { name: 'error/303 (would turn POST into GET) not followed', path: '/303', expected: { ok: false, retryable: false, status: 303 }, finalHits: 0 },
  ])('$name', async ({ path, expected, finalHits }) => {
    const before = rx.requests.length;
    const otherBefore = other.requests.length;
    const result = await sendJson(`${rx.origin}${path}`, '{"a":1}', {}, deps, undefined);
    expect(result).toMatchObject(expected);
    const seen = rx.requests.slice(before);
    expect(seen.filter((r) => r.path === '/final')).toHaveLength(finalHits);
    for (const r of seen) expect(r).toMatchObject({ method: 'POST', body: '{"a":1}' });
    expect(other.requests.length).toBe(otherBefore);
  });

  it.each([
    { name: 'error/invalid URL, not echoed', url: 'not a url/secret-token', error: 'invalid URL' },
    { name: 'error/unsupported scheme', url: 'ftp://example.com/x', error: 'unsupported URL scheme ftp:' },
  ])('$name', async ({ url, error }) => {
    expect(await sendJson(url, '{}', {}, deps, undefined)).toEqual({ ok: false, retryable: false, error });
  });

  it('retry/caller abort is retryable', async () => {
    const hang = await startReceiver({ fallback: 'hang' });
    const ctl = new AbortController();
    const pending = sendJson(hang.url, '{}', {}, deps, ctl.signal);
    setTimeout(() => ctl.abort(), 20);
    expect(await pending).toEqual({ ok: false, retryable: true, error: 'aborted' });
    await hang.close();
  });
});
