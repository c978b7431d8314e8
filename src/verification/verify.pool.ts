/**
 * A small pool of worker threads for path building on untrusted input, so one costly
 * verification cannot stall the event loop that also answers health checks and OCSP.
 *
 * - `workers` threads, started on first use, one job each at a time; the rest wait in a
 *   queue of at most `queue` jobs; beyond that a job is refused at once with 503
 *   `overloaded` and Retry-After.
 * - A job that runs longer than `timeoutMs` gets 503 `overloaded`: its worker is terminated
 *   and a fresh one takes the next job. The engine's own budgets keep a job to tens of
 *   milliseconds, so only a starved machine gets there.
 * - A worker that dies (crash, out of memory) fails its job with 503 and is replaced; it
 *   never takes the process with it.
 * - Idle workers are unreferenced (they do not keep the process alive); `stop()` ends them.
 *
 * Revocation lookups (database reads) stay on this thread: a worker asks, the pool answers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DomainError, type ErrorCode, type FieldError } from '../errors.js';
import type { RevocationLookup, RevocationStatus } from '../pki/verify/index.js';
import type { VerifyJob, VerifyReport } from './verify.job.js';

export type ToWorker =
  | { type: 'run'; id: number; job: VerifyJob; lookup: boolean }
  | { type: 'lookupResult'; lookupId: number; status?: RevocationStatus; error?: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'lookup'; id: number; lookupId: number; issuerDer: Uint8Array; serialHex: string }
  | { type: 'done'; id: number; report: VerifyReport }
  | {
      type: 'failed';
      id: number;
      error: { domain: true; code: ErrorCode; message: string; errors?: FieldError[]; headers?: Record<string, string> } | { domain: false; message: string };
    };

export interface VerifyPoolOptions {
  workers: number;
  queue: number;
  timeoutMs: number;
  /** Told when a worker dies or is replaced. */
  onWorkerLost?: (reason: string) => void;
}

interface Task {
  id: number;
  job: VerifyJob;
  lookup?: RevocationLookup;
  resolve: (r: VerifyReport) => void;
  reject: (e: unknown) => void;
  /** A lookup failure on this thread, rethrown as is (e.g. the database is down). */
  lookupError?: unknown;
}

interface Slot {
  worker: Worker;
  /** Its modules are loaded: the time budget of a job starts from here, not from the spawn. */
  ready: boolean;
  task?: Task;
  timer?: NodeJS.Timeout;
}

/** A worker that has not loaded its modules by then is given up on. */
const STARTUP_LIMIT_MS = 30_000;

const RETRY_AFTER = { 'Retry-After': '1' };

type Entry = { file: URL } | { code: string; workerData: { api: string; entry: string } };

/**
 * The worker script: the compiled `.js` beside this module (dist/), else the TypeScript
 * source loaded through tsx's `tsImport` (npm start, tests; on Node 20 a loader passed in a
 * worker's execArgv does not apply to the worker's own entry), resolved from here so the
 * cwd does not matter.
 */
function workerEntry(): Entry {
  const js = new URL('./verify.worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { file: js };
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tsx/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = pathToFileURL(join(dirname(manifest), exports['./esm/api'].import.default)).href;
  return {
    code: `const { workerData } = require('node:worker_threads');
      import(workerData.api).then((tsx) => tsx.tsImport(workerData.entry, workerData.entry));`,
    workerData: { api, entry: new URL('./verify.worker.ts', import.meta.url).href },
  };
}

export class VerifyPool {
  readonly #opts: VerifyPoolOptions;
  readonly #slots = new Set<Slot>();
  readonly #idle: Slot[] = [];
  readonly #queue: Task[] = [];
  #nextId = 0;
  #stopped = false;
  #entry: Entry | undefined;

  constructor(opts: VerifyPoolOptions) {
    this.#opts = opts;
  }

  /** Jobs running and waiting (for tests and metrics). */
  get load(): { running: number; queued: number; workers: number } {
    return { running: [...this.#slots].filter((s) => s.task).length, queued: this.#queue.length, workers: this.#slots.size };
  }

  run(job: VerifyJob, lookup?: RevocationLookup): Promise<VerifyReport> {
    if (this.#stopped) return Promise.reject(new DomainError('overloaded', 'the service is shutting down', undefined, RETRY_AFTER));
    return new Promise<VerifyReport>((resolve, reject) => {
      const task: Task = { id: this.#nextId++, job, lookup, resolve, reject };
      const slot = this.#idle.pop() ?? (this.#slots.size < this.#opts.workers ? this.#spawn() : undefined);
      if (slot) this.#dispatch(slot, task);
      else if (this.#queue.length < this.#opts.queue) this.#queue.push(task);
      else reject(new DomainError('overloaded', `too many verifications in progress (${this.#opts.workers} running, ${this.#queue.length} waiting); retry shortly`, undefined, RETRY_AFTER));
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#queue.splice(0)) t.reject(new DomainError('overloaded', 'the service is shutting down', undefined, RETRY_AFTER));
    await Promise.all([...this.#slots].map((s) => this.#retire(s, new DomainError('overloaded', 'the service is shutting down', undefined, RETRY_AFTER))));
  }

  #spawn(): Slot {
    this.#entry ??= workerEntry();
    // Bounded like the work itself: a runaway job dies alone, not the process.
    const resourceLimits = { maxOldGenerationSizeMb: 256 };
    const e = this.#entry;
    const worker = 'file' in e ? new Worker(e.file, { resourceLimits }) : new Worker(e.code, { eval: true, workerData: e.workerData, resourceLimits });
    const slot: Slot = { worker, ready: false };
    this.#slots.add(slot);
    worker.on('message', (msg: FromWorker) => this.#onMessage(slot, msg));
    worker.on('error', (err) => this.#lost(slot, `verification worker failed: ${err.message}`));
    worker.on('exit', (code) => this.#lost(slot, `verification worker exited (code ${code})`));
    return slot;
  }

  #dispatch(slot: Slot, task: Task): void {
    slot.task = task;
    slot.worker.ref();
    this.#startTimer(slot);
    slot.worker.postMessage({ type: 'run', id: task.id, job: task.job, lookup: !!task.lookup } satisfies ToWorker);
  }

  #startTimer(slot: Slot): void {
    clearTimeout(slot.timer);
    const ms = slot.ready ? this.#opts.timeoutMs : STARTUP_LIMIT_MS;
    const reason = slot.ready ? `the verification exceeded its time budget of ${ms} ms` : `the verification worker did not start within ${ms} ms`;
    slot.timer = setTimeout(() => {
      this.#opts.onWorkerLost?.(reason);
      void this.#retire(slot, new DomainError('overloaded', `${reason}; retry later`, undefined, RETRY_AFTER));
    }, ms);
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    if (msg.type === 'ready') {
      slot.ready = true;
      if (slot.task) this.#startTimer(slot);
      return;
    }
    const task = slot.task;
    if (!task || msg.id !== task.id) return;
    if (msg.type === 'lookup') {
      Promise.resolve()
        .then(() => task.lookup!(msg.issuerDer, msg.serialHex))
        .then(
          (status) => ({ type: 'lookupResult' as const, lookupId: msg.lookupId, status }),
          (err: unknown) => {
            task.lookupError = err;
            return { type: 'lookupResult' as const, lookupId: msg.lookupId, error: err instanceof Error ? err.message : String(err) };
          },
        )
        .then((reply) => {
          if (slot.task === task) slot.worker.postMessage(reply satisfies ToWorker);
        });
      return;
    }
    this.#finish(slot);
    if (msg.type === 'done') task.resolve(msg.report);
    else if (task.lookupError !== undefined) task.reject(task.lookupError);
    else if (msg.error.domain) task.reject(new DomainError(msg.error.code, msg.error.message, msg.error.errors, msg.error.headers));
    else task.reject(new Error(msg.error.message));
    this.#next(slot);
  }

  #finish(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.task = undefined;
  }

  /** Gives the slot the next queued job, or parks it. */
  #next(slot: Slot): void {
    const task = this.#queue.shift();
    if (task) return this.#dispatch(slot, task);
    slot.worker.unref();
    this.#idle.push(slot);
  }

  /** Removes a worker from the pool, fails its job and ends it. */
  async #retire(slot: Slot, err: DomainError): Promise<void> {
    if (!this.#slots.delete(slot)) return;
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
    const task = slot.task;
    this.#finish(slot);
    task?.reject(err);
    this.#refill();
    await slot.worker.terminate().catch(() => {});
  }

  #lost(slot: Slot, reason: string): void {
    if (!this.#slots.has(slot)) return;
    this.#opts.onWorkerLost?.(reason);
    void this.#retire(slot, new DomainError('overloaded', `${reason}; retry later`, undefined, RETRY_AFTER));
  }

  /** After a worker is gone, a queued job gets a fresh one. */
  #refill(): void {
    if (this.#stopped || !this.#queue.length || this.#slots.size >= this.#opts.workers) return;
    this.#dispatch(this.#spawn(), this.#queue.shift()!);
  }
}
