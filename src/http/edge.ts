/**
 * The HTTP edge: what happens to a connection outside the request pipeline. Node's parser
 * errors (bad request line, headers too large, slow headers) are answered as problem+json
 * like every other error; `100 Continue` is sent only when the body is actually read, so a
 * refusal (413, 415, 401...) reaches the client before it uploads; a refused body is
 * drained for a bounded time instead of resetting the connection under the answer; the
 * number of connections is capped below the open-files limit, idle ones giving way to new
 * ones; and a port that cannot be bound is one clear line, not a stack trace.
 */
import { STATUS_CODES, maxHeaderSize, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ErrorCode } from '../errors.js';
import { problem } from './problem.js';

/** After refusing a body, how long the client may go on sending it (discarded) before the connection is cut. */
const DRAIN_MS = 5_000;
/** After answering a parser error, how long before a client that keeps the connection open is cut. */
const LINGER_MS = 2_000;

type EdgeConfig = Pick<Config, 'maxConnections' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'dbPoolSize' | 'host' | 'port'>;

/** Options for `createServer`: Node checks the headers/request timeouts on this tick (default 30 s, longer than the timeouts). */
export function serverOptions(config: EdgeConfig): ServerOptions {
  return { connectionsCheckingInterval: Math.min(1000, Math.floor(config.headersTimeoutMs / 2)) };
}

/** Requests that asked for `100 Continue` and have not had it yet. */
const awaitingContinue = new WeakSet<IncomingMessage>();

/** Call before reading a body: sends the `100 Continue` the client may be waiting for. */
export function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (!awaitingContinue.delete(req)) return;
  res.removeHeader('Connection');
  res.writeContinue();
}

/**
 * A body is refused (413) before it was read. If the client was told to wait (no
 * `100 Continue` sent), it holds the body back and the connection closes after the answer.
 * Otherwise it may be sending right now: closing would reset the connection and the client
 * could lose the answer, so the rest is read and discarded for DRAIN_MS, then cut.
 */
export function drainAfterRefusal(req: IncomingMessage, res: ServerResponse): void {
  if (awaitingContinue.has(req)) return;
  res.once('finish', () => {
    if (req.complete) return;
    req.resume();
    const timer = setTimeout(() => {
      if (!req.complete) req.socket.destroy();
    }, DRAIN_MS);
    timer.unref();
    req.socket.once('close', () => clearTimeout(timer));
  });
}

/** A complete raw HTTP/1.1 problem+json response, for sockets with no request object. */
function rawProblem(code: ErrorCode, detail: string, extra: Record<string, string> = {}): { text: string; status: number; requestId: string } {
  const requestId = randomUUID();
  const p = problem(code, detail, { requestId });
  const body = JSON.stringify(p.body);
  const headers = { 'Content-Type': 'application/problem+json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', 'X-Request-Id': requestId, ...extra };
  const head = [`HTTP/1.1 ${p.status} ${STATUS_CODES[p.status]}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  return { text: `${head}\r\n\r\n${body}`, status: p.status, requestId };
}

/** Answer on a bare socket, then close; a client that keeps it open is cut after LINGER_MS. */
function answerAndClose(socket: Socket, code: ErrorCode, detail: string, extra?: Record<string, string>): { status: number; requestId: string } {
  const r = rawProblem(code, detail, extra);
  socket.end(r.text);
  // Keep reading (and dropping) what the client still sends, so the close is not a reset that loses the answer.
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  return r;
}

/** While start() migrates and bootstraps (the port is already bound): 503, try again shortly. */
export function notReady(res: ServerResponse): void {
  const requestId = randomUUID();
  const body = JSON.stringify(problem('not_ready', 'the service is starting (migrations, bootstrap); retry shortly', { requestId }).body);
  res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Content-Length': Buffer.byteLength(body), 'Retry-After': '1', 'X-Request-Id': requestId });
  res.end(body);
}

/** The open-files soft limit (Linux), or null when it cannot be read. */
function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}

/** CERTA_MAX_CONNECTIONS, or (0) the open-files limit less room for the database pool, files and logs. */
export function effectiveMaxConnections(config: Pick<Config, 'maxConnections' | 'dbPoolSize'>, limit: number | null = openFilesLimit()): number {
  if (config.maxConnections > 0) return config.maxConnections;
  if (limit === null) return 1000;
  if (limit === Infinity) return 10_000;
  const reserve = Math.max(64, Math.floor(limit / 8)) + config.dbPoolSize;
  return Math.max(16, Math.min(10_000, limit - reserve));
}

/**
 * Wire the edge into a server: timeouts, parser errors as problem+json, 100-continue on
 * demand, the connection cap. Call once, before listen.
 */
export function configureServer(server: Server, config: EdgeConfig, log: Logger): void {
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
  server.keepAliveTimeout = config.keepAliveTimeoutMs;

  const answered = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) => {
    try {
      const inProgress = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
      if (answered.has(socket)) return;
      // A reset, a dead socket or a response already on the wire: nothing can be said any more.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || socket.destroyed || !socket.writable || inProgress?.headersSent) {
        socket.destroy();
        return;
      }
      answered.add(socket);
      let code: ErrorCode;
      let detail: string;
      if (err.code === 'HPE_HEADER_OVERFLOW') {
        code = 'headers_too_large';
        detail = `the request line and headers exceed ${maxHeaderSize} bytes (a long URL or many or large headers)`;
      } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        code = 'request_timeout';
        detail = `the request was not received in time (headers within ${config.headersTimeoutMs} ms, the whole request within ${config.requestTimeoutMs} ms)`;
      } else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
        code = 'payload_too_large';
        detail = 'the chunk extensions are too large';
      } else {
        code = 'bad_request';
        detail = `the request is not valid HTTP/1.1: ${err.reason ?? err.code ?? 'unparsable'}`;
      }
      const r = answerAndClose(socket, code, detail);
      log.info({ requestId: r.requestId, status: r.status, code, parserError: err.code, ip: socket.remoteAddress }, 'request refused by the HTTP parser');
    } catch {
      socket.destroy();
    }
  });

  // Node answers `Expect: 100-continue` itself before the request is seen; take that over so
  // the client only sends the body once the pipeline starts reading it (see continueIfExpected).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    // Answered without reading: the client still holds the body, the connection cannot be reused.
    res.setHeader('Connection', 'close');
    server.emit('request', req, res);
  });

  const maxConnections = effectiveMaxConnections(config);
  capConnections(server, maxConnections, log);
  log.info({ maxConnections, headersTimeoutMs: config.headersTimeoutMs, requestTimeoutMs: config.requestTimeoutMs, keepAliveTimeoutMs: config.keepAliveTimeoutMs }, 'HTTP connection limits');
}

/**
 * At most `max` open connections. Node's own `maxConnections` refuses the newcomer, so a
 * few thousand slow-header connections would keep every real client out: here the
 * connection idle the longest (no request in progress: slow headers, or keep-alive
 * between requests) is closed to make room, and only when every connection is busy is the
 * newcomer refused with 503.
 */
function capConnections(server: Server, max: number, log: Logger): void {
  // Insertion order is idle order: a connection moves to the end when its request finishes.
  const open = new Map<Socket, boolean>();
  let refused = 0;
  server.on('connection', (socket: Socket) => {
    open.set(socket, false);
    socket.once('close', () => open.delete(socket));
    if (open.size <= max) return;
    for (const [s, busy] of open) {
      if (!busy && s !== socket) {
        open.delete(s);
        s.destroy();
        return;
      }
    }
    open.delete(socket);
    answerAndClose(socket, 'overloaded', `the service has ${max} connections, all with a request in progress; retry shortly`, { 'Retry-After': '1' });
    if (refused++ % 1000 === 0) log.warn({ maxConnections: max }, 'connection refused: every connection is busy (CERTA_MAX_CONNECTIONS)');
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (!open.has(socket)) return;
    open.set(socket, true);
    res.once('close', () => {
      if (!open.has(socket)) return;
      open.delete(socket);
      open.set(socket, false);
    });
  });
}

/** Binding the port failed: the message names the variables to change. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenError';
  }
}

function explainListenError(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is already in use by another process (choose another with CERTA_PORT, or stop that process)`;
    case 'EACCES':
      return `cannot listen on ${where}: permission denied (ports below 1024 need privileges; set CERTA_PORT to 1024 or above)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${host} is not an address of this machine (set CERTA_HOST, e.g. 0.0.0.0 for every interface)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${where}: the host name ${host} does not resolve (set CERTA_HOST to an address of this machine)`;
    default:
      return `cannot listen on ${where}: ${err.code ?? err.message} (check CERTA_HOST and CERTA_PORT)`;
  }
}

/** listen(), with a failure turned into a ListenError that names CERTA_HOST/CERTA_PORT. */
export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(explainListenError(err, host, port)));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
