/**
 * In-process wake-up of the delivery worker when something was enqueued, so a sweep or an
 * event is sent at once instead of at the next poll. Only a latency optimisation: workers
 * poll the outbox anyway, and other replicas learn nothing from it.
 */
const listeners = new WeakMap<object, Set<() => void>>();

/** `key` is the database handle the outbox lives in (`svc.db`). */
export function onEnqueued(key: object, fn: () => void): () => void {
  const set = listeners.get(key) ?? new Set();
  set.add(fn);
  listeners.set(key, set);
  return () => set.delete(fn);
}

export function signalEnqueued(key: object): void {
  for (const fn of listeners.get(key) ?? []) fn();
}
