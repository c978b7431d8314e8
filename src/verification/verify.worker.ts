/**
 * Worker-thread entry of the verification pool (`verify.pool.ts`): runs one job at a time
 * and asks the main thread for revocation records (the database lives there).
 */
import { parentPort } from 'node:worker_threads';
import { DomainError } from '../errors.js';
import type { RevocationStatus } from '../pki/verify/index.js';
import { runVerifyJob } from './verify.job.js';
import type { FromWorker, ToWorker } from './verify.pool.js';

const port = parentPort!;
const pending = new Map<number, { resolve: (s: RevocationStatus | undefined) => void; reject: (e: Error) => void }>();
let nextLookup = 0;

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'lookupResult') {
    const p = pending.get(msg.lookupId);
    pending.delete(msg.lookupId);
    if (msg.error !== undefined) p?.reject(new Error(msg.error));
    else p?.resolve(msg.status);
    return;
  }
  const { id, job, lookup } = msg;
  const revocationLookup = lookup
    ? (issuerDer: Uint8Array, serialHex: string) =>
        new Promise<RevocationStatus | undefined>((resolve, reject) => {
          const lookupId = nextLookup++;
          pending.set(lookupId, { resolve, reject });
          port.postMessage({ type: 'lookup', id, lookupId, issuerDer, serialHex } satisfies FromWorker);
        })
    : undefined;
  runVerifyJob(job, revocationLookup).then(
    (report) => port.postMessage({ type: 'done', id, report } satisfies FromWorker),
    (e: unknown) => {
      const error =
        e instanceof DomainError
          ? { domain: true as const, code: e.code, message: e.message, errors: e.errors, headers: e.headers }
          : { domain: false as const, message: e instanceof Error ? e.message : String(e) };
      port.postMessage({ type: 'failed', id, error } satisfies FromWorker);
    },
  );
});

port.postMessage({ type: 'ready' } satisfies FromWorker);
