/**
 * The App owns everything with a lifecycle: the store, the Koa server, the request
 * pipeline and the background jobs. `start()` migrates, seeds and listens; `stop()` stops
 * accepting, lets in-flight requests finish, stops jobs and closes the database.
 */
import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { EventBus, type Services } from './context.js';
import { openStore, type Store } from './store/db.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createLogger, throttled } from './log.js';
import { createDispatcher, shouldAudit, writeAudit, type RequestState } from './http/dispatch.js';
import { toProblem } from './http/problem.js';
import { configureServer, listen, notReady, serverOptions } from './http/edge.js';
import { createMetrics, renderMetrics } from './http/metrics.js';
import { allHandlers } from './http/handlers/index.js';
import { bootstrapAdmin } from './rights/users.usecases.js';
import { syncBuiltinRoles } from './rights/roles.usecases.js';
import { SecretStore } from './secrets/secret-store.js';
import { Keyring } from './authority/keyring.js';
import { legacyDnsConstraintWarnings } from './authority/authorities.usecases.js';
import { LocalKek, loadOrCreateKek } from './crypto/envelope.js';
import { setupNotifications } from './notify/notify.module.js';
import { setupRevocation } from './revocation/revocation.module.js';
import { setupVerification } from './verification/verification.module.js';
import { deliveryOutcomes, deliveryRetries, expiringGauge } from './notify/notify.metrics.js';
import { ocspGetFastPath } from './http/handlers/revocation.handlers.js';
import type { OcspService } from './revocation/ocsp.service.js';

export interface AppOptions {
  config: Readonly<Config>;
  logger?: Logger;
  clock?: Clock;
  /** PostgreSQL schema to use (tests isolate themselves this way). */
  pgSchema?: string;
}

/** A background job: started after listen, stopped before the database closes. */
export interface Job {
  name: string;
  start(): void;
  stop(): Promise<void>;
}

export class App {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly store: Store;
  readonly services: Services;
  readonly jobs: Job[] = [];
  #server: Server | null = null;
  #inflight = 0;
  #idle: (() => void) | null = null;
  #stopping = false;

  constructor(opts: AppOptions) {
    this.config = opts.config;
    this.log = opts.logger ?? createLogger(opts.config.logLevel);
    const connectionErrors = throttled(1000);
    this.store = openStore({
      databaseUrl: opts.config.databaseUrl,
      dataDir: opts.config.dataDir,
      poolSize: opts.config.dbPoolSize,
      pgSchema: opts.pgSchema,
      connectTimeoutMs: opts.config.dbConnectTimeoutMs,
      queryTimeoutMs: opts.config.dbQueryTimeoutMs,
      applicationName: opts.config.dbApplicationName,
      // The queries on that connection fail on their own; the pool replaces it.
      onConnectionError: (err) => connectionErrors((suppressed) => this.log.warn({ err, suppressed }, 'database connection lost')),
    });
    const clock = opts.clock ?? systemClock;
    const kek = loadOrCreateKek({
      masterKeyBase64: opts.config.masterKey,
      dataDir: opts.config.dataDir,
      log: (msg, path) => this.log.warn({ path }, msg),
    });
    const previous = opts.config.previousMasterKeys.map((k) => new LocalKek(Buffer.from(k, 'base64')));
    const secrets = new SecretStore(this.store.db, kek, clock, previous);
    this.services = {
      config: opts.config,
      store: this.store,
      db: this.store.db,
      secrets,
      keyring: new Keyring(secrets),
      clock,
      log: this.log,
      events: new EventBus(this.log),
      ocsp: undefined as unknown as OcspService,
    };
    const revocation = setupRevocation(this.services);
    this.services.ocsp = revocation.ocsp;
    this.jobs.push(revocation.crlJob);
    const notify = setupNotifications(this.services);
    this.jobs.push(notify.sweep, notify.worker);
    // Its workers start on first use; stopping it ends them.
    this.jobs.push(setupVerification(this.services));
  }

  get url(): string {
    const a = this.#server?.address() as AddressInfo | null;
    if (!a) throw new Error('not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return `http://${host}:${a.port}`;
  }

  /** Requests being served right now. */
  get inflightRequests(): number {
    return this.#inflight;
  }

  async start(): Promise<void> {
    // Bind first: a taken port fails here, before the first start creates the admin and
    // prints its one-time password. Until the pipeline is built, requests get 503.
    let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
    this.#server = createServer(serverOptions(this.config), (req, res) => (handler ? handler(req, res) : notReady(res)));
    configureServer(this.#server, this.config, this.log);
    await listen(this.#server, this.config.host, this.config.port);
    // After listen, a server error (e.g. accept() failing with EMFILE) is logged, never fatal.
    this.#server.on('error', (err) => this.log.error({ err }, 'HTTP server error'));

    const migrated = await this.store.migrate();
    if (migrated.length) this.log.info({ migrations: migrated, dialect: this.store.dialect }, 'applied migrations');
    await syncBuiltinRoles(this.services);
    await bootstrapAdmin(this.services);
    for (const warning of await legacyDnsConstraintWarnings(this.services)) this.log.warn({ check: 'name-constraints' }, warning);

    const services = this.services;
    const metrics = createMetrics([deliveryOutcomes, deliveryRetries, expiringGauge(() => (this.#stopping ? null : services.db), () => services.clock.now())]);
    const dispatch = await createDispatcher(this.services, allHandlers({ renderMetrics: () => renderMetrics(metrics) }));
    const koa = new Koa({ proxy: this.config.trustProxy });
    koa.silent = true;
    const databaseDown = throttled(5000);

    koa.use(async (ctx) => {
      const started = process.hrtime.bigint();
      const incoming = ctx.get('x-request-id');
      const requestId = /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
      const state: RequestState = { requestId, ip: ctx.ip || null };
      ctx.set('X-Request-Id', requestId);
      this.#inflight++;
      let error: { code: string; detail?: string } | undefined;
      try {
        // OCSP GET puts base64 in the path (RFC 6960 A.1) and clients do not escape its '/':
        // fold the tail into the one {request} segment the spec declares.
        const ocspGet = /^\/pki\/ocsp\/([^/]+)\/(.+\/.*)$/.exec(ctx.path);
        if (ocspGet && ctx.method === 'GET') ctx.path = `/pki/ocsp/${ocspGet[1]}/${ocspGet[2].replaceAll('/', '%2F')}`;
        const res = await dispatch(ctx, state);
        ctx.status = res.status;
        for (const [k, v] of Object.entries(res.headers ?? {})) ctx.set(k, v);
        if (res.body !== undefined) {
          ctx.body = res.body;
          if (res.contentType) ctx.type = res.contentType;
        }
      } catch (err) {
        const p = toProblem(err, { instance: ctx.path, requestId });
        if (p.unexpected) this.log.error({ err, requestId, operation: state.operationId }, 'unhandled error');
        else if (p.body.code === 'database_unavailable') {
          databaseDown((suppressed) => this.log.warn({ err, requestId, operation: state.operationId, suppressed }, 'database unavailable: answering 503'));
        }
        error = { code: p.body.code, detail: p.body.detail };
        ctx.status = p.status;
        for (const [k, v] of Object.entries(p.headers)) ctx.set(k, v);
        ctx.body = JSON.stringify(p.body);
        ctx.type = 'application/problem+json';
      } finally {
        const operation = state.operationId ?? 'unknown';
        const status = String(ctx.status);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.requests.inc({ operation, status });
        metrics.duration.observe({ operation, status }, seconds);
        if (shouldAudit(state.operationId, ctx.method)) {
          const audited = writeAudit(this.services, state, ctx.status, error).catch((err) =>
            this.log[error?.code === 'database_unavailable' ? 'warn' : 'error']({ err, requestId }, 'audit write failed'),
          );
          // A request refused for want of a database acknowledged nothing: its audit record is
          // written best-effort, without making the client wait a second connect timeout.
          if (error?.code !== 'database_unavailable') await audited;
        }
        this.log.info({ requestId, method: ctx.method, path: ctx.path, operation, status: ctx.status, ms: Math.round(seconds * 1e4) / 10, ip: state.ip }, 'request');
        if (--this.#inflight === 0) this.#idle?.();
      }
    });

    const koaHandler = koa.callback();
    handler = (req, res) => {
      // The hot path of every TLS client: an OCSP GET whose answer is already pre-signed is
      // answered before Koa, routing and validation (none of which it needs).
      if (req.method === 'GET' && req.url?.startsWith('/pki/ocsp/') && !this.#stopping) {
        const started = process.hrtime.bigint();
        const fast = ocspGetFastPath(this.services, req.method, req.url.split('?')[0]);
        if (fast) {
          res.writeHead(200, { 'content-type': fast.contentType!, 'content-length': (fast.body as Buffer).length, ...fast.headers });
          res.end(fast.body as Buffer);
          metrics.requests.inc({ operation: 'ocspGet', status: '200' });
          metrics.duration.observe({ operation: 'ocspGet', status: '200' }, Number(process.hrtime.bigint() - started) / 1e9);
          return;
        }
      }
      void koaHandler(req, res);
    };
    if (this.config.jobsEnabled) for (const j of this.jobs) j.start();
    this.log.info({ url: this.url, dialect: this.store.dialect, publicUrl: this.config.publicUrl }, 'certa listening');
  }

  /** Graceful: stop accepting, finish in-flight requests (within the budget), stop jobs, close the DB. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const server = this.#server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      if (this.#inflight > 0) {
        await Promise.race([new Promise<void>((r) => (this.#idle = r)), new Promise((r) => setTimeout(r, this.config.shutdownTimeoutMs).unref())]);
      }
      server.closeAllConnections();
      await closed;
    }
    await Promise.all(this.jobs.map((j) => j.stop().catch((err) => this.log.error({ err, job: j.name }, 'job stop failed'))));
    await this.store.close();
    this.log.info('certa stopped');
  }
}
