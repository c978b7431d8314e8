/**
 * One HTTP POST with a timeout, and the mapping of its outcome to a `SendResult`:
 * 2xx ok; 429 retryable (Retry-After honoured); 408, 5xx, network errors and timeouts
 * retryable; every other status permanent.
 *
 * Redirects are not followed blindly: only a 307/308 to the same origin (method and body
 * kept) is followed, a few times at most, and each hop goes through `fetch` again (with a
 * `resolveTarget`, checked again). Error texts never contain the URL, which is a
 * credential for Discord, Slack and Teams.
 */
import { DEFAULT_TIMEOUT_MS, DEFAULT_USER_AGENT, type SendContext, type SendResult, type SenderDeps } from '../channel.types.js';
import type { Digest } from '../notification.model.js';
import { clean, truncate } from '../notification.render.js';
import { TargetNotAllowedError } from '../target-guard.js';
import { pinnedFetch } from './pinned-fetch.js';

export interface ResolvedDeps {
  now: () => Date;
  timeoutMs: number;
  fetch: typeof fetch;
  userAgent: string;
  resolveTarget?: (host: string) => Promise<string[]>;
}

export function resolveDeps(deps: SenderDeps = {}): ResolvedDeps {
  return {
    now: deps.now ?? (() => new Date()),
    timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    fetch: deps.fetch ?? (deps.resolveTarget ? pinnedFetch(deps.resolveTarget) : globalThis.fetch),
    userAgent: deps.userAgent ?? DEFAULT_USER_AGENT,
    resolveTarget: deps.resolveTarget,
  };
}

export interface HttpResponseInfo {
  status: number;
  headers: Headers;
  /** At most `MAX_BODY_BYTES` of the response body. */
  body: string;
  /** Where a redirect pointed, when it was not followed. */
  location?: URL;
}

type Failure = Extract<SendResult, { ok: false }>;
export type HttpAttempt = { kind: 'response'; response: HttpResponseInfo } | { kind: 'failure'; result: Failure };

const MAX_REDIRECTS = 3;
const MAX_BODY_BYTES = 64 * 1024;
const BODY_IN_RESULT = 2000;
const BODY_IN_ERROR = 300;

/** POSTs `body` as JSON. Never throws. */
export async function postJson(
  target: string,
  body: string,
  headers: Record<string, string>,
  deps: ResolvedDeps,
  signal?: AbortSignal,
): Promise<HttpAttempt> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return failure(false, 'invalid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return failure(false, `unsupported URL scheme ${url.protocol}`);

  const timeout = AbortSignal.timeout(deps.timeoutMs);
  const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await deps.fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'user-agent': deps.userAgent, ...headers },
        redirect: 'manual',
        signal: combined,
      });
    } catch (err) {
      // A target refused by the guard stays refused until its DNS or the deployment changes.
      if (err instanceof TargetNotAllowedError) return failure(false, err.message);
      return failure(true, describeFetchError(err, timeout, signal, deps.timeoutMs));
    }
    let location: URL | undefined;
    if (res.status >= 300 && res.status < 400) {
      try {
        location = new URL(res.headers.get('location') ?? '', url);
      } catch {
        location = undefined;
      }
      if ((res.status === 307 || res.status === 308) && location && location.origin === url.origin && hop < MAX_REDIRECTS) {
        await res.body?.cancel().catch(() => undefined);
        url = location;
        continue;
      }
    }
    let text = '';
    try {
      text = await readBody(res);
    } catch {
      // The status is what counts; a body cut by the timeout does not change it.
    }
    return { kind: 'response', response: { status: res.status, headers: res.headers, body: text, location } };
  }
}

async function readBody(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
}

function describeFetchError(err: unknown, timeout: AbortSignal, signal: AbortSignal | undefined, timeoutMs: number): string {
  if (timeout.aborted) return `timeout after ${timeoutMs} ms`;
  if (signal?.aborted) return 'aborted';
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err);
  return `network error: ${code ?? truncate(clean(message), 200)}`;
}

function failure(retryable: boolean, error: string, status?: number, retryAfterMs?: number): HttpAttempt {
  return { kind: 'failure', result: failureResult(retryable, error, status, retryAfterMs) };
}

function failureResult(retryable: boolean, error: string, status?: number, retryAfterMs?: number): Failure {
  return {
    ok: false,
    retryable,
    error,
    ...(status !== undefined ? { status } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/**
 * Retry-After as milliseconds from `now`: delay-seconds (decimals tolerated, as some
 * platforms send them) or an HTTP-date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  // An HTTP-date always names a weekday and a GMT zone; refuse other loose Date.parse inputs.
  if (!/^[A-Za-z]{3},/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/** Maps an HTTP response to a `SendResult` (see the module comment). */
export function classifyHttpResponse(res: HttpResponseInfo, now: Date): SendResult {
  const { status } = res;
  if (status >= 200 && status < 300) {
    return { ok: true, status, ...(res.body ? { body: res.body.slice(0, BODY_IN_RESULT) } : {}) };
  }
  const snippet = res.body ? `: ${truncate(clean(res.body), BODY_IN_ERROR)}` : '';
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now);
  if (status === 429) return failureResult(true, `HTTP 429 rate limited${snippet}`, status, retryAfterMs);
  if (status === 408 || status >= 500) return failureResult(true, `HTTP ${status}${snippet}`, status, retryAfterMs);
  if (status >= 300 && status < 400) {
    const where = res.location ? ` to ${res.location.host}` : '';
    return failureResult(false, `HTTP ${status}: redirect${where} not followed`, status);
  }
  return failureResult(false, `HTTP ${status}${snippet}`, status);
}

/** POST + classification in one step; `classify` lets a platform read its own error bodies. */
export async function sendJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  deps: ResolvedDeps,
  signal: AbortSignal | undefined,
  classify: (res: HttpResponseInfo, now: Date) => SendResult = classifyHttpResponse,
): Promise<SendResult> {
  const attempt = await postJson(url, body, headers, deps, signal);
  return attempt.kind === 'failure' ? attempt.result : classify(attempt.response, deps.now());
}

/** The failure returned when a sender is handed another channel's message. */
export function wrongChannel(expected: string, got: string): SendResult {
  return failureResult(false, `message for channel ${got} handed to the ${expected} sender`);
}

/**
 * A chat webhook (Discord, Slack, Teams): a digest is formatted into the platform's JSON
 * payloads, each POSTed to the channel URL. Platforms differ only in their formatter and,
 * for Discord, in how error bodies are read.
 */
export class JsonWebhookSender<C extends string, P, O> {
  private readonly deps: ResolvedDeps;

  constructor(
    readonly type: C,
    private readonly url: string,
    private readonly formatDigest: (digest: Digest, options: O) => P[],
    private readonly formatOptions: O,
    deps?: SenderDeps,
    private readonly classify: (res: HttpResponseInfo, now: Date) => SendResult = classifyHttpResponse,
  ) {
    this.deps = resolveDeps(deps);
  }

  format(digest: Digest): Array<{ channel: C; payload: P }> {
    return this.formatDigest(digest, this.formatOptions).map((payload) => ({ channel: this.type, payload }));
  }

  async send(message: { channel: C; payload: P }, ctx: SendContext): Promise<SendResult> {
    if (message.channel !== this.type) return wrongChannel(this.type, String(message.channel));
    return sendJson(this.url, JSON.stringify(message.payload), {}, this.deps, ctx.signal, this.classify);
  }
}
