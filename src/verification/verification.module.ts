/**
 * Wires the verification worker pool into the App: one pool per Services, created on
 * first use, ended by the App's stop (as a job with nothing to start).
 */
import type { Job } from '../app.js';
import type { Services } from '../context.js';
import { VerifyPool } from './verify.pool.js';

const pools = new WeakMap<Services, VerifyPool>();

/** The pool of these services (created with their config on first use). */
export function verifyPool(svc: Services): VerifyPool {
  let pool = pools.get(svc);
  if (!pool) {
    pool = new VerifyPool({
      workers: svc.config.verifyWorkers,
      queue: svc.config.verifyQueue,
      timeoutMs: svc.config.verifyTimeoutMs,
      onWorkerLost: (reason) => svc.log.warn({ reason }, 'verification worker replaced'),
    });
    pools.set(svc, pool);
  }
  return pool;
}

export function setupVerification(svc: Services): Job {
  return {
    name: 'verify-pool',
    start() {},
    stop: () => pools.get(svc)?.stop() ?? Promise.resolve(),
  };
}
