/**
 * The HTTP edge, over real sockets: bodies of a media type the operation does not take
 * (415 before any validation), `Expect: 100-continue` and bodies over the limit (the 413
 * reaches the client), what Node's parser refuses (400/408/431 as problem+json), and `GET /`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Socket } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_EMAIL, ADMIN_PASSWORD, forEachDialect, startTestApp } from '../helpers/harness.js';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';

interface RawResponse {
  /** Every status line received, interim (100) ones included. */
  statuses: number[];
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The connection was closed by the server (or reset). */
  closed: boolean;
}

/** Parse what a raw socket received: interim responses, then one final response. */
function parseResponses(data: Buffer): RawResponse | null {
  let rest = data.toString('latin1');
  const statuses: number[] = [];
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    statuses.push(status);
    rest = rest.slice(end + 4);
    if (status >= 200) {
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      const length = Number(headers['content-length'] ?? 0);
      if (Buffer.byteLength(rest, 'latin1') < length) return null;
      return { statuses, status, headers, body: rest.slice(0, length), closed: false };
    }
  }
}

/**
 * Send `head` on a raw connection, then (optionally) `afterHead(socket, received)`, and
 * collect until a final response is complete (and, with waitClose, the connection closed).
 */
function rawRequest(url: string, head: string | Buffer, opts: { afterHead?: (s: Socket) => void; waitClose?: boolean; timeoutMs?: number } = {}): Promise<RawResponse & { received: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let parsed: RawResponse | null = null;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete response within ${opts.timeoutMs ?? 10_000} ms; received: ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`));
    }, opts.timeoutMs ?? 10_000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      const received = Buffer.concat(chunks);
      parsed ??= parseResponses(received);
      if (!parsed) reject(new Error(`incomplete response (closed: ${closed}): ${received.toString('latin1').slice(0, 300)}`));
      else resolve({ ...parsed, closed, received });
    };
    s.on('data', (d) => {
      chunks.push(d);
      parsed = parseResponses(Buffer.concat(chunks));
      if (parsed && !opts.waitClose) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.write(head);
    opts.afterHead?.(s);
  });
}

const loginBody = JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });

forEachDialect('media types of request bodies', (env) => {
  const auth = () => ({ authorization: `Bearer ${env().adminToken}` });

  it('error/a text body to a JSON operation -> 415 before validation, even on anonymous login', async () => {
    const r = await env().fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'email=admin&password=x' });
    expect(r.status).toBe(415);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.headers.get('accept-post')).toBe('application/json');
    const p: any = await r.json();
    expect(p.code).toBe('unsupported_media_type');
    expect(p.detail).toBe('this operation takes application/json, not text/plain');
    expect(p.errors).toEqual([{ field: '/headers/content-type', message: 'must be application/json' }]);
  });

  it('error/a 200 KB text body -> 415, not a 500 from validating it byte by byte', async () => {
    const r = await env().fetch('/api/v1/roles', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'x'.repeat(200_000) });
    expect(r.status).toBe(415);
    expect(((await r.json()) as any).code).toBe('unsupported_media_type');
  });

  it('error/a form, or a body with no Content-Type at all -> 415', async () => {
    const form = await env().fetch('/api/v1/auth/login', { method: 'POST', body: new URLSearchParams({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }) });
    expect(form.status).toBe(415);
    // A byte array gets no Content-Type from fetch.
    const none = await env().fetch('/api/v1/auth/login', { method: 'POST', body: new TextEncoder().encode(loginBody) });
    expect(none.status).toBe(415);
    expect(((await none.json()) as any).detail).toBe('the body has no Content-Type; this operation takes application/json');
    const patch = await env().fetch('/api/v1/roles/whatever', { method: 'PATCH', headers: { ...auth(), 'content-type': 'text/plain' }, body: '{}' });
    expect(patch.status).toBe(415);
    expect(patch.headers.get('accept-patch')).toBe('application/json');
  });

  it('ok/JSON with a charset parameter, and application/*+json, where JSON is taken', async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/vnd.certa+json']) {
      const r = await env().fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': type }, body: loginBody });
      expect(r.status, type).toBe(200);
    }
    const latin1 = await env().fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json; charset=iso-8859-1' }, body: loginBody });
    expect(latin1.status).toBe(415);
    expect(((await latin1.json()) as any).detail).toBe('JSON bodies must be UTF-8, not iso-8859-1');
  });

  it('ok/operations without a body ignore the type of what is sent; OCSP takes only application/ocsp-request', async () => {
    const me = await env().login(ADMIN_EMAIL, ADMIN_PASSWORD);
    const logout = await env().fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${me}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(logout.status).toBe(204);
    const ocspJson = await env().fetch('/pki/ocsp/00000000-0000-7000-8000-000000000000', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ocspJson.status).toBe(415);
    expect(ocspJson.headers.get('accept-post')).toBe('application/ocsp-request');
    // The declared type goes through to the responder (an unknown authority: 404 or an OCSP answer, never 415).
    const ocsp = await env().fetch('/pki/ocsp/00000000-0000-7000-8000-000000000000', { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: new Uint8Array([0x30, 0x00]) });
    expect(ocsp.status).not.toBe(415);
    expect(ocsp.status).toBeLessThan(500);
  });
});

forEachDialect('GET /', (env) => {
  it('ok/JSON by default: name, version and links to the spec and the probes', async () => {
    const { data, response } = await env().client(null).GET('/');
    expect(response.status).toBe(200);
    expect(data).toEqual({
      name: 'Certa API',
      version: expect.any(String),
      links: { openapi: '/api/v1/openapi.json', health: '/healthz', readiness: '/readyz', metrics: '/metrics', login: '/api/v1/auth/login' },
    });
    expect(response.headers.get('vary')).toBe('Accept');
    const links: Record<string, string> = (data as { links: Record<string, string> }).links;
    for (const link of Object.values(links)) {
      const init = link.endsWith('login') ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody } : undefined;
      expect((await env().fetch(link, init)).status, link).toBe(200);
    }
  });

  it('ok/HTML for a browser', async () => {
    const r = await env().fetch('/', { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await r.text();
    expect(html).toContain('<a href="/api/v1/openapi.json">');
    expect(html).toContain('<a href="/healthz">');
    // curl and fetch send */*: JSON.
    expect((await env().fetch('/', { headers: { accept: '*/*' } })).headers.get('content-type')).toContain('application/json');
  });

  it('error/unknown paths stay 404 problem+json', async () => {
    for (const path of ['/index.html', '/favicon.ico', '/api', '/api/v1']) {
      const r = await env().fetch(path);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});

describe('the HTTP edge', () => {
  let url: string;
  let cleanup: () => Promise<void>;
  const limit = 64 * 1024;
  beforeAll(async () => {
    const started = await startTestApp('sqlite', { env: { CERTA_BODY_LIMIT: String(limit), CERTA_HEADERS_TIMEOUT_MS: '1000', CERTA_REQUEST_TIMEOUT_MS: '3000' } });
    url = started.app.url;
    cleanup = started.cleanup;
  });
  afterAll(async () => cleanup?.());

  const host = () => new URL(url).host;

  it('error/Expect: 100-continue with a Content-Length over the limit -> 413 at once, no 100 Continue, then close', async () => {
    const r = await rawRequest(
      url,
      `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: ${limit * 4}\r\nExpect: 100-continue\r\n\r\n`,
      { waitClose: true },
    );
    expect(r.statuses).toEqual([413]);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers.connection).toBe('close');
    expect(JSON.parse(r.body).code).toBe('payload_too_large');
    expect(r.closed).toBe(true);
  });

  it('ok/Expect: 100-continue with an acceptable body -> 100 Continue once the body is read, then the answer', async () => {
    const r = await rawRequest(url, `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: ${loginBody.length}\r\nExpect: 100-continue\r\n\r\n`, {
      afterHead: (s) => s.once('data', () => s.write(loginBody)),
    });
    expect(r.statuses).toEqual([100, 200]);
    expect(JSON.parse(r.body).token).toMatch(/^certa_/);
    expect(r.headers.connection).not.toBe('close');
  });

  it('error/Expect: 100-continue with the wrong media type -> 415 without 100 Continue', async () => {
    const r = await rawRequest(url, `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n`, { waitClose: true });
    expect(r.statuses).toEqual([415]);
    expect(r.closed).toBe(true);
  });

  it('error/curl uploading 16 MiB (curl sends Expect: 100-continue) always gets the 413', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certa-curl-'));
    try {
      const file = join(dir, 'big.json');
      writeFileSync(file, JSON.stringify({ email: 'x'.repeat(16 * 1024 * 1024), password: 'y' }));
      const outcomes: string[] = [];
      for (let i = 0; i < 10; i++) {
        // Not spawnSync: the service runs in this process and must keep answering.
        const r = await promisify(execFile)('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '-H', 'Content-Type: application/json', '--data-binary', `@${file}`, `${url}/api/v1/auth/login`], {
          encoding: 'utf8',
          timeout: 20_000,
        }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? String(e) }));
        outcomes.push(`${r.stdout.trim().split('\n').pop()} ${r.stderr.trim()}`.trim());
        if (!r.stderr) expect(JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n'))).code).toBe('payload_too_large');
      }
      expect(outcomes).toEqual(Array(10).fill('413'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('error/a Content-Length over the limit without Expect -> 413, the body drained, the connection still usable', async () => {
    const u = new URL(url);
    const s = connect(Number(u.port), u.hostname);
    let data = '';
    const done = new Promise<string>((resolve, reject) => {
      s.on('data', (d) => {
        data += d.toString('latin1');
        if (parseResponses(Buffer.from(data, 'latin1')) && !data.includes('GET-SENT')) {
          data += 'GET-SENT';
          s.write(`GET /healthz HTTP/1.1\r\nHost: ${host()}\r\n\r\n`);
        }
        if (/GET-SENT[\s\S]*HTTP\/1\.1 200[\s\S]*\{"status":"ok"\}/.test(data)) resolve(data);
      });
      s.on('error', reject);
      s.on('close', () => reject(new Error(`closed; received: ${data.slice(0, 400)}`)));
      setTimeout(() => reject(new Error(`timeout; received: ${data.slice(0, 400)}`)), 10_000).unref();
    });
    s.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: ${limit * 4}\r\n\r\n`);
    s.write(Buffer.alloc(limit * 4, 'a'));
    try {
      const all = await done;
      const first = parseResponses(Buffer.from(all, 'latin1'))!;
      expect(first.status).toBe(413);
      expect(JSON.parse(first.body).code).toBe('payload_too_large');
    } finally {
      s.destroy();
    }
  });

  it('error/a chunked body that grows over the limit while being sent -> the 413 problem arrives', async () => {
    for (let i = 0; i < 5; i++) {
      let sending = true;
      const r = await rawRequest(url, `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, {
        afterHead: (s) => {
          const chunk = Buffer.alloc(16 * 1024, 'a');
          const pump = () => {
            while (sending && !s.destroyed && s.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`));
            if (sending && !s.destroyed) s.once('drain', pump);
          };
          s.once('data', () => (sending = false));
          pump();
        },
      });
      expect(r.status).toBe(413);
      expect(JSON.parse(r.body).code).toBe('payload_too_large');
    }
  });

  it('error/a URL over the header limit -> 431 problem+json', async () => {
    const r = await fetch(`${url}/api/v1/users?q=${'x'.repeat(20_000)}`);
    expect(r.status).toBe(431);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    const p: any = await r.json();
    expect(p.code).toBe('headers_too_large');
    expect(p.status).toBe(431);
    expect(p.requestId).toBe(r.headers.get('x-request-id'));
  });

  it('error/headers over the limit -> 431 problem+json', async () => {
    const r = await rawRequest(url, `GET /healthz HTTP/1.1\r\nHost: ${host()}\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`, { waitClose: true });
    expect(r.status).toBe(431);
    expect(JSON.parse(r.body).code).toBe('headers_too_large');
    expect(r.closed).toBe(true);
  });

  it('error/a request line that is not HTTP -> 400 problem+json', async () => {
    const r = await rawRequest(url, 'HELLO THERE\r\n\r\n', { waitClose: true });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/problem+json');
    const p = JSON.parse(r.body);
    expect(p.code).toBe('bad_request');
    expect(p.detail).toMatch(/not valid HTTP\/1\.1/);
  });

  it('error/headers not finished within CERTA_HEADERS_TIMEOUT_MS -> 408 problem+json, connection closed', async () => {
    const started = Date.now();
    const r = await rawRequest(url, `GET /healthz HTTP/1.1\r\nHost: ${host()}\r\nX-Slow: 1\r\n`, { waitClose: true, timeoutMs: 8000 });
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body).code).toBe('request_timeout');
    expect(r.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('error/a body trickling past CERTA_REQUEST_TIMEOUT_MS -> 408 problem+json, connection closed', async () => {
    const started = Date.now();
    let drip: NodeJS.Timeout | undefined;
    try {
      const r = await rawRequest(url, `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`, {
        waitClose: true,
        timeoutMs: 10_000,
        afterHead: (s) => (drip = setInterval(() => !s.destroyed && s.write(' '), 200)),
      });
      expect(r.status).toBe(408);
      expect(JSON.parse(r.body).code).toBe('request_timeout');
      expect(r.closed).toBe(true);
      expect(Date.now() - started).toBeLessThan(3000 + 1000 + 2000);
    } finally {
      clearInterval(drip);
    }
  });

  it('ok/the service still answers after all of that', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});

describe('the connection cap', () => {
  let url: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await startTestApp('sqlite', { env: { CERTA_MAX_CONNECTIONS: '2' } });
    url = started.app.url;
    cleanup = started.cleanup;
  });
  afterAll(async () => cleanup?.());

  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const s = connect(Number(u.port), u.hostname, () => resolve(s));
      s.once('error', reject);
    });
  const closedWithin = (s: Socket, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (s.destroyed) return resolve(true);
      s.resume();
      s.once('close', () => resolve(true));
      setTimeout(() => resolve(false), ms).unref();
    });

  it('ok/at the cap an idle connection makes room; 503 overloaded only when every connection is busy', async () => {
    const host = new URL(url).host;
    // Two connections with a request in progress (headers done, body still coming).
    const busy = await Promise.all([open(), open()]);
    for (const s of busy) s.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    await new Promise((r) => setTimeout(r, 200));
    try {
      const refused = await rawRequest(url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { waitClose: true });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(JSON.parse(refused.body).code).toBe('overloaded');

      // One busy connection finishes; an idle one (nothing sent yet) takes its place, and
      // is closed when a newcomer needs the room.
      busy[0].destroy();
      const idle = await open();
      await new Promise((r) => setTimeout(r, 100));
      const served = await rawRequest(url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      expect(served.status).toBe(200);
      expect(await closedWithin(idle, 2000)).toBe(true);
      expect(busy[1].destroyed).toBe(false);
    } finally {
      for (const s of busy) s.destroy();
    }
  });
});

describe('starting', () => {
  it('ok/the port is bound before migrations: requests meanwhile get 503 not_ready', async () => {
    // A "database" that accepts connections and never answers: migrations wait on it.
    const held: Socket[] = [];
    const stall = createServer((s) => held.push(s));
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', () => r()));
    const dataDir = mkdtempSync(join(tmpdir(), 'certa-starting-'));
    const config = loadConfig({
      CERTA_PORT: '0',
      CERTA_HOST: '127.0.0.1',
      CERTA_DATA_DIR: dataDir,
      CERTA_JOBS: 'false',
      CERTA_DATABASE_URL: `postgres://certa@127.0.0.1:${(stall.address() as { port: number }).port}/certa`,
    });
    const app = new App({ config, logger: createLogger('silent') });
    const starting = app.start().then(
      () => 'started',
      (e: Error) => e.message,
    );
    try {
      let url: string | null = null;
      for (let i = 0; i < 100 && !url; i++) {
        try {
          url = app.url;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(url, 'listening while migrations wait').not.toBeNull();
      const r = await fetch(`${url}/healthz`);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      const p: any = await r.json();
      expect(p.code).toBe('not_ready');
      expect(p.requestId).toBe(r.headers.get('x-request-id'));
    } finally {
      for (const s of held) s.destroy();
      stall.close();
      expect(await starting).not.toBe('started');
      await app.stop().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
