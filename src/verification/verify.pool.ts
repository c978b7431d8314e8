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
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DomainError, type ErrorCode, type FieldError } from '../errors.js';
import type { RevocationLookup, RevocationStatus } from '../pki/verify/index.js';
import type { VerifyJob, VerifyReport } from './verify.job.js';

export type ToWorker =
  | { type: 'run'; id: number; job: VerifyJob; lookup: boolean }
  | { type: 'lookupResult'; lookupId: number; status?: RevocationStatus; error?: string };

export type FromWorker =
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
  task?: Task;
  timer?: NodeJS.Timeout;
}

const RETRY_AFTER = { 'Retry-After': '1' };

/**
 * The worker script: the compiled `.js` beside this module (dist/), else the TypeScript
 * source with tsx's loader (npm start, tests), resolved from here so the cwd does not matter.
 */
function workerEntry(): { url: URL; execArgv?: string[] } {
  const js = new URL('./verify.worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { url: new URL('./verify.worker.ts', import.meta.url), execArgv: ['--import', tsx] };
}

export class VerifyPool {
  readonly #opts: VerifyPoolOptions;
  readonly #slots = new Set<Slot>();
  readonly #idle: Slot[] = [];
  readonly #queue: Task[] = [];
  #nextId = 0;
  #stopped = false;
  #entry: { url: URL; execArgv?: string[] } | undefined;

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
    const worker = new Worker(this.#entry.url, {
      execArgv: this.#entry.execArgv,
      // Bounded like the work itself: a runaway job dies alone, not the process.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const slot: Slot = { worker };
    this.#slots.add(slot);
    worker.on('message', (msg: FromWorker) => this.#onMessage(slot, msg));
    worker.on('error', (err) => this.#lost(slot, `verification worker failed: ${err.message}`));
    worker.on('exit', (code) => this.#lost(slot, `verification worker exited (code ${code})`));
    return slot;
  }

  #dispatch(slot: Slot, task: Task): void {
    slot.task = task;
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      void this.#retire(slot, new DomainError('overloaded', `the verification exceeded its time budget of ${this.#opts.timeoutMs} ms; retry later`, undefined, RETRY_AFTER));
      this.#opts.onWorkerLost?.('time budget exceeded');
    }, this.#opts.timeoutMs);
    slot.worker.postMessage({ type: 'run', id: task.id, job: task.job, lookup: !!task.lookup } satisfies ToWorker);
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
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
