/**
 * A `fetch` for the HTTP channels that connects only to addresses the target guard
 * checked: the host is resolved once through `resolveTarget`, and the socket's own lookup
 * answers with exactly those addresses (no second DNS query, so no rebinding between the
 * check and the connection). TLS still verifies the certificate for the name in the URL.
 *
 * Only what `postJson` uses is supported: a URL, method, string body, headers, a signal
 * and `redirect: 'manual'` (this fetch never follows a redirect; each hop postJson follows
 * is a new call, checked again).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { TargetNotAllowedError } from '../target-guard.js';

/** The checked addresses to connect to for `host`; rejects (e.g. `TargetNotAllowedError`) when there are none. */
export type ResolveTarget = (host: string) => Promise<string[]>;

/** Rejects with the signal's reason as soon as it aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function pinnedLookup(addresses: string[]): LookupFunction {
  const entries = addresses.map((address) => ({ address, family: isIP(address) }));
  return (_hostname, options, callback) => {
    if (options.all) process.nextTick(() => (callback as (e: null, a: typeof entries) => void)(null, entries));
    else process.nextTick(() => callback(null, entries[0].address, entries[0].family));
  };
}

const networkError = (cause: unknown) => new TypeError('fetch failed', { cause });

export function pinnedFetch(resolveTarget: ResolveTarget): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw networkError(new Error(`unsupported URL scheme ${url.protocol}`));
    const signal = init.signal ?? undefined;
    let addresses: string[];
    try {
      addresses = await abortable(resolveTarget(url.hostname.replace(/^\[|\]$/g, '')), signal);
    } catch (e) {
      // A refusal propagates as it is (the transport reports it); DNS failures look like fetch's own.
      throw e instanceof TargetNotAllowedError || signal?.aborted ? e : networkError(e);
    }
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    return new Promise<Response>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(url, {
        method: init.method ?? 'GET',
        headers,
        agent: false,
        lookup: pinnedLookup(addresses),
        signal,
      });
      req.once('error', (e) => reject(signal?.aborted ? signal.reason : networkError(e)));
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          res.destroy();
          reject(networkError(new Error(`invalid HTTP status ${status}`)));
          return;
        }
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          try {
            h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          } catch {
            // A header the Fetch API cannot hold is not one postJson reads.
          }
        }
        const nullBody = status === 204 || status === 205 || status === 304;
        if (nullBody) res.resume();
        resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage, headers: h }));
      });
      req.end(body);
    });
  }) as typeof fetch;
}
