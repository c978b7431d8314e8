/**
 * Discord, Slack and Teams senders against real receivers on 127.0.0.1 that check the
 * payload as the platform documents it and answer as the platform would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelMessage, ChannelSender, SendResult, SenderDeps } from '../channel.types.js';
import type { Digest } from '../notification.model.js';
import { bigDigest, cert, expiringEvent, mixedDigest, NOW, OCCURRED_AT } from '../testing/fixtures.js';
import { SECRET_PATH, startReceiver, type Receiver, type Reply } from '../testing/http-receiver.js';
import { allText, checkDiscord, checkSlack, checkTeams } from '../testing/platform-checks.js';
import { DiscordSender, type DiscordPayload } from './discord.channel.js';
import { SlackSender, type SlackPayload } from './slack.channel.js';
import { TeamsSender, type TeamsPayload } from './teams.channel.js';

interface Platform {
  name: 'discord' | 'slack' | 'teams';
  check: (json: unknown, raw: string) => string[];
  make: (url: string, deps: SenderDeps, opts?: { maxMessages?: number }) => ChannelSender<ChannelMessage>;
  /** Whether a non-final message of a split digest is full: the next item could not have fitted. */
  isFull: (payload: unknown) => boolean;
  /** Upper bound of messages for the 500-certificate digest. */
  maxMessagesFor500: number;
}

const deps = (extra: SenderDeps = {}): SenderDeps => ({ now: () => NOW, timeoutMs: 2000, ...extra });

const PLATFORMS: Platform[] = [
  {
    name: 'discord',
    check: checkDiscord,
    make: (url, d, o) => new DiscordSender({ url }, d, o),
    isFull: (p) => {
      const embeds = (p as DiscordPayload).embeds ?? [];
      const total = embeds.reduce((n, e) => n + (e.title?.length ?? 0) + (e.description?.length ?? 0), 0);
      return embeds.length === 10 || total > 6000 - 200;
    },
    maxMessagesFor500: 12,
  },
  {
    name: 'slack',
    check: checkSlack,
    make: (url, d, o) => new SlackSender({ url }, d, o),
    isFull: (p) => {
      const blocks = (p as SlackPayload).blocks;
      return blocks.length >= 49 || allText(blocks).length > 12_000 - 400 - 200;
    },
    maxMessagesFor500: 12,
  },
  {
    name: 'teams',
    check: checkTeams,
    make: (url, d, o) => new TeamsSender({ url }, d, o),
    isFull: (p) => Buffer.byteLength(JSON.stringify(p as TeamsPayload)) > 25_000 - 1200 - 400,
    maxMessagesFor500: 6,
  },
];

const RETRY_DATE = new Date(NOW.getTime() + 90_000).toUTCString();

const RESPONSES: Array<{ name: string; reply: Reply; expected: Partial<SendResult> & Record<string, unknown> }> = [
  { name: 'ok/204 no content', reply: { status: 204 }, expected: { ok: true, status: 204 } },
  { name: 'ok/200 with body', reply: { status: 200, body: 'ok' }, expected: { ok: true, status: 200, body: 'ok' } },
  { name: 'ok/202 accepted', reply: { status: 202 }, expected: { ok: true, status: 202 } },
  {
    name: 'retry/429 Retry-After seconds',
    reply: { status: 429, headers: { 'retry-after': '7' } },
    expected: { ok: false, status: 429, retryable: true, retryAfterMs: 7000 },
  },
  {
    name: 'retry/429 Retry-After HTTP-date',
    reply: { status: 429, headers: { 'retry-after': RETRY_DATE } },
    expected: { ok: false, status: 429, retryable: true, retryAfterMs: 90_000 },
  },
  { name: 'retry/408 request timeout', reply: { status: 408 }, expected: { ok: false, status: 408, retryable: true } },
  { name: 'retry/500', reply: { status: 500, body: 'rollup_error' }, expected: { ok: false, status: 500, retryable: true } },
  {
    name: 'retry/503 with Retry-After',
    reply: { status: 503, headers: { 'retry-after': '30' } },
    expected: { ok: false, status: 503, retryable: true, retryAfterMs: 30_000 },
  },
  { name: 'error/400 permanent', reply: { status: 400, body: 'invalid_payload' }, expected: { ok: false, status: 400, retryable: false } },
  { name: 'error/404 webhook deleted', reply: { status: 404 }, expected: { ok: false, status: 404, retryable: false } },
  {
    name: 'error/302 to another host not followed',
    reply: { status: 302, headers: { location: 'http://elsewhere.example/hook' } },
    expected: { ok: false, status: 302, retryable: false },
  },
];

function countOccurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describe.each(PLATFORMS)('$name channel', (platform) => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver({ check: platform.check });
  });
  afterAll(() => rx.close());

  const sendOne = async (digest: Digest, extra?: SenderDeps) => {
    const sender = platform.make(rx.url, deps(extra));
    const [message] = sender.format(digest);
    const before = rx.requests.length;
    const result = await sender.send(message, { deliveryId: 'd-1' });
    return { result, request: rx.requests[before] };
  };

  it.each(RESPONSES)('$name', async ({ reply, expected }) => {
    rx.script(reply);
    const { result, request } = await sendOne(mixedDigest());
    expect(request.problems).toEqual([]);
    expect(request.method).toBe('POST');
    expect(request.path).toBe(SECRET_PATH);
    expect(request.headers['content-type']).toBe('application/json');
    expect(result).toMatchObject(expected);
  });

  it('retry/hanging receiver times out', async () => {
    rx.script('hang');
    const { result } = await sendOne(mixedDigest(), { timeoutMs: 150 });
    expect(result).toMatchObject({ ok: false, retryable: true, error: 'timeout after 150 ms' });
  });

  it('retry/connection refused, error text keeps the URL secret', async () => {
    const closed = await startReceiver();
    await closed.close();
    const sender = platform.make(closed.url, deps());
    const result = await sender.send(sender.format(mixedDigest())[0], { deliveryId: 'd-1' });
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(JSON.stringify(result)).not.toContain('s3cr3t');
  });

  it('error/message of another channel is refused', async () => {
    const sender = platform.make(rx.url, deps());
    const other = { channel: platform.name === 'slack' ? 'discord' : 'slack', payload: {} } as unknown as ChannelMessage;
    expect(await sender.send(other, { deliveryId: 'd-1' })).toMatchObject({ ok: false, retryable: false });
  });

  it('format/every event type renders valid payloads that name each certificate', () => {
    const digest = mixedDigest();
    const messages = platform.make(rx.url, deps()).format(digest);
    expect(messages).toHaveLength(1);
    expect(platform.check(messages[0].payload, JSON.stringify(messages[0].payload))).toEqual([]);
    const text = allText(messages[0].payload);
    for (const e of digest.events) for (const c of e.certificates) expect(text).toContain(c.commonName);
    expect(text).toContain('keyCompromise');
    expect(text).toContain('expires in 1 day');
    expect(text).toContain('expired 2 days ago');
    expect(text).toContain('Test notification from Certa');
  });

  it('split/500 certificates: every message within limits, none dropped, few messages', async () => {
    const digest = bigDigest(500);
    const messages = platform.make(rx.url, deps()).format(digest);
    expect(messages.length).toBeGreaterThan(1);
    expect(messages.length).toBeLessThanOrEqual(platform.maxMessagesFor500);
    messages.forEach((m, i) => {
      const raw = JSON.stringify(m.payload);
      expect(platform.check(m.payload, raw), `message ${i + 1}`).toEqual([]);
      if (i < messages.length - 1) expect(platform.isFull(m.payload), `message ${i + 1} is not full`).toBe(true);
      expect(allText(m.payload)).toContain(`(${i + 1}/${messages.length})`);
    });
    const all = messages.map((m) => allText(m.payload)).join('\n');
    for (const c of digest.events[0].certificates) expect(countOccurrences(all, c.commonName), c.commonName).toBe(1);
    expect(all).not.toContain('more certificates not shown');

    // The receiver accepts every one of them.
    const sender = platform.make(rx.url, deps());
    const before = rx.requests.length;
    for (const m of messages) expect(await sender.send(m, { deliveryId: 'd-big' })).toMatchObject({ ok: true });
    expect(rx.requests.slice(before).flatMap((r) => r.problems)).toEqual([]);
  });

  it('split/soonest expiry first and coloured by urgency', () => {
    const digest: Digest = {
      events: [{ ...expiringEvent(0), certificates: [cert(1, { notAfter: '2025-06-25T00:00:00Z' }), cert(2, { notAfter: '2025-06-03T00:00:00Z' })] }],
    };
    const text = allText(platform.make(rx.url, deps()).format(digest)[0].payload);
    expect(text.indexOf(cert(2).commonName)).toBeLessThan(text.indexOf(cert(1).commonName));
  });

  it('split/maxMessages cuts the list and says how many were left out', () => {
    const digest = bigDigest(500);
    const messages = platform.make(rx.url, deps(), { maxMessages: 2 }).format(digest);
    expect(messages).toHaveLength(2);
    const all = messages.map((m) => allText(m.payload)).join('\n');
    const listed = digest.events[0].certificates.filter((c) => all.includes(c.commonName)).length;
    expect(listed).toBeLessThan(500);
    expect(allText(messages[1].payload)).toContain(`…and ${500 - listed} more certificates not shown`);
    expect(allText(messages[0].payload)).not.toContain('not shown');
    for (const m of messages) expect(platform.check(m.payload, JSON.stringify(m.payload))).toEqual([]);
  });

  it('escape/markup in certificate data renders literally', () => {
    const digest: Digest = {
      events: [
        {
          type: 'issued',
          occurredAt: OCCURRED_AT,
          certificates: [cert(1, { commonName: '**@everyone** <!channel> [x](javascript:alert(1))', owner: 'a\nb', url: 'javascript:alert(1)' })],
        },
      ],
    };
    const payload = platform.make(rx.url, deps()).format(digest)[0].payload;
    const raw = JSON.stringify(payload);
    // Markdown link syntax is live on Discord and Teams; Slack links are <url|text>.
    if (platform.name !== 'slack') expect(allText(payload)).not.toMatch(/(?<!\\)\]\(javascript:/);
    expect(raw).not.toContain('<javascript:'); // Slack link
    expect(raw).not.toContain('<!channel>');
    expect(raw).not.toMatch(/a\\nb/); // a newline in data cannot break the layout
    if (platform.name === 'discord') {
      expect((payload as DiscordPayload).allowed_mentions).toEqual({ parse: [] });
      expect(raw).toContain('\\\\*\\\\*@everyone\\\\*\\\\*');
    }
    if (platform.name === 'slack') expect(raw).toContain('&lt;!channel&gt;');
  });
});

describe('discord specifics', () => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver({ check: checkDiscord });
  });
  afterAll(() => rx.close());

  it.each<{ name: string; reply: Reply; retryAfterMs: number }>([
    {
      name: 'retry/429 JSON retry_after wins over the header',
      reply: { status: 429, headers: { 'retry-after': '2', 'content-type': 'application/json' }, body: '{"message":"You are being rate limited.","retry_after":1.25,"global":false}' },
      retryAfterMs: 1250,
    },
    {
      name: 'retry/429 JSON retry_after alone',
      reply: { status: 429, body: '{"retry_after":64.57,"global":true}' },
      retryAfterMs: 64_570,
    },
    { name: 'retry/429 header only, body not JSON', reply: { status: 429, headers: { 'retry-after': '3' }, body: 'slow down' }, retryAfterMs: 3000 },
  ])('$name', async ({ reply, retryAfterMs }) => {
    rx.script(reply);
    const sender = new DiscordSender({ url: rx.url }, deps());
    const result = await sender.send(sender.format(mixedDigest())[0], { deliveryId: 'd-1' });
    expect(result).toMatchObject({ ok: false, status: 429, retryable: true, retryAfterMs });
  });

  it('format/colour follows the most urgent certificate of each embed', () => {
    const digest: Digest = {
      events: [
        { ...expiringEvent(0), certificates: [cert(1, { notAfter: '2025-06-03T00:00:00Z' })] },
        { ...expiringEvent(0), certificates: [cert(2, { notAfter: '2025-06-20T00:00:00Z' })] },
        { type: 'issued', occurredAt: OCCURRED_AT, certificates: [cert(3)] },
      ],
    };
    const embeds = new DiscordSender({ url: rx.url }).format(digest)[0].payload.embeds!;
    expect(embeds.map((e) => e.color)).toEqual([0xdc2626, 0xf59e0b, 0x16a34a]);
  });
});
