/**
 * Retry policy for deliveries: exponential backoff with full jitter, and the decision
 * the outbox takes after each attempt. Pure: randomness is a parameter, no clock needed.
 */
import type { SendResult } from './channel.types.js';

export interface BackoffOptions {
  /** Delay cap of the first retry, in ms; doubles with each attempt. */
  baseMs: number;
  /** Upper bound of any delay, in ms (also caps a server's Retry-After). */
  maxMs: number;
  /** Uniform random number in [0, 1). Tests pin it. */
  random: () => number;
}

export const DEFAULT_BACKOFF: Omit<BackoffOptions, 'random'> = { baseMs: 30_000, maxMs: 6 * 60 * 60_000 };

/**
 * Delay before the next attempt after `attempt` failed attempts (1 = the first one
 * failed): uniform in [0, min(maxMs, baseMs * 2^(attempt-1))] ("full jitter"), so many
 * deliveries failing together do not retry in lockstep.
 */
export function nextAttemptDelay(attempt: number, opts: BackoffOptions): number {
  const exp = Math.max(0, Math.floor(attempt) - 1);
  // 2 ** 1024 is Infinity; min() keeps the cap finite.
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(exp, 1023));
  const r = Math.min(Math.max(opts.random(), 0), 1);
  return Math.floor(r * cap);
}

export type DeliveryDecision =
  | { state: 'sent'; delayMs: 0 }
  | { state: 'failed'; delayMs: 0; reason: 'permanent' | 'exhausted' }
  | { state: 'retry'; delayMs: number };

/**
 * What to do after attempt number `attempt` (1-based) produced `result`.
 * A server's `retryAfterMs` wins over the backoff (it says when it will accept again),
 * capped at `backoff.maxMs` so a hostile header cannot park a delivery forever.
 */
export function decide(result: SendResult, attempt: number, maxAttempts: number, backoff: BackoffOptions): DeliveryDecision {
  if (result.ok) return { state: 'sent', delayMs: 0 };
  if (!result.retryable) return { state: 'failed', delayMs: 0, reason: 'permanent' };
  if (attempt >= maxAttempts) return { state: 'failed', delayMs: 0, reason: 'exhausted' };
  if (result.retryAfterMs !== undefined && Number.isFinite(result.retryAfterMs)) {
    return { state: 'retry', delayMs: Math.min(Math.max(0, Math.ceil(result.retryAfterMs)), backoff.maxMs) };
  }
  return { state: 'retry', delayMs: nextAttemptDelay(attempt, backoff) };
}
