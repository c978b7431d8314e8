/**
 * Runs the expiry sweep every `notifyIntervalSeconds` (and shortly after start). Every
 * replica may run it: the sweep itself is exactly-once through the database.
 */
import type { Services } from '../context.js';
import { runExpirySweep } from './sweep.usecases.js';
import { isDatabaseUnavailable } from '../store/db.js';

export class ExpirySweepJob {
  readonly name = 'notify-sweep';
  #timer: NodeJS.Timeout | null = null;
  #first: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(
    private readonly svc: Services,
    private readonly intervalMs = svc.config.notifyIntervalSeconds * 1000,
  ) {}

  start(): void {
    this.#first = setTimeout(() => this.tick(), Math.min(5000, this.intervalMs));
    this.#first.unref();
    this.#timer = setInterval(() => this.tick(), this.intervalMs);
    this.#timer.unref();
  }

  /** One sweep, unless the previous one is still running in this process. */
  tick(): Promise<void> {
    this.#running ??= runExpirySweep(this.svc)
      .then(() => undefined)
      .catch((err) => this.svc.log[isDatabaseUnavailable(err) ? 'warn' : 'error']({ err }, 'expiry sweep failed; retried at the next interval'))
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#first) clearTimeout(this.#first);
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
