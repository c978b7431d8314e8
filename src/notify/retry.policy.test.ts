import { describe, expect, it } from 'vitest';
import type { SendResult } from './channel.types.js';
import { decide, nextAttemptDelay, type BackoffOptions } from './retry.policy.js';

const backoff = (random: number, extra: Partial<BackoffOptions> = {}): BackoffOptions => ({ baseMs: 1000, maxMs: 60_000, random: () => random, ...extra });

describe('nextAttemptDelay', () => {
  it.each([
    { name: 'first retry, top of the range', attempt: 1, random: 0.999, ms: 999 },
    { name: 'first retry, bottom of the range', attempt: 1, random: 0, ms: 0 },
    { name: 'third retry doubles twice', attempt: 3, random: 0.5, ms: 2000 },
    { name: 'capped at maxMs', attempt: 10, random: 0.5, ms: 30_000 },
    { name: 'huge attempt stays finite', attempt: 5000, random: 0.5, ms: 30_000 },
    { name: 'attempt 0 treated as first', attempt: 0, random: 0.5, ms: 500 },
    { name: 'random out of range is clamped', attempt: 1, random: 7, ms: 1000 },
  ])('$name', ({ attempt, random, ms }) => {
    expect(nextAttemptDelay(attempt, backoff(random))).toBe(ms);
  });

  it('full jitter spreads delays over [0, cap]', () => {
    const values = [0, 0.25, 0.5, 0.75, 0.99].map((r) => nextAttemptDelay(4, backoff(r)));
    expect(values).toEqual([0, 2000, 4000, 6000, 7920]);
  });
});

describe('decide', () => {
  const ok: SendResult = { ok: true, status: 204 };
  const retryable: SendResult = { ok: false, status: 500, retryable: true, error: 'HTTP 500' };
  const permanent: SendResult = { ok: false, status: 400, retryable: false, error: 'HTTP 400' };
  const rateLimited = (ms: number): SendResult => ({ ok: false, status: 429, retryable: true, retryAfterMs: ms, error: 'HTTP 429' });

  it.each([
    { name: 'sent', result: ok, attempt: 1, expected: { state: 'sent', delayMs: 0 } },
    { name: 'failed/permanent on first attempt', result: permanent, attempt: 1, expected: { state: 'failed', delayMs: 0, reason: 'permanent' } },
    { name: 'failed/attempts exhausted', result: retryable, attempt: 5, expected: { state: 'failed', delayMs: 0, reason: 'exhausted' } },
    { name: 'retry/backoff with jitter', result: retryable, attempt: 2, expected: { state: 'retry', delayMs: 1000 } },
    { name: 'retry/Retry-After wins over backoff', result: rateLimited(42_000), attempt: 1, expected: { state: 'retry', delayMs: 42_000 } },
    { name: 'retry/Retry-After of 0', result: rateLimited(0), attempt: 1, expected: { state: 'retry', delayMs: 0 } },
    { name: 'retry/Retry-After capped at maxMs', result: rateLimited(86_400_000), attempt: 1, expected: { state: 'retry', delayMs: 60_000 } },
    { name: 'failed/Retry-After does not extend maxAttempts', result: rateLimited(1000), attempt: 5, expected: { state: 'failed', reason: 'exhausted' } },
  ])('$name', ({ result, attempt, expected }) => {
    expect(decide(result, attempt, 5, backoff(0.5))).toMatchObject(expected);
  });
});
