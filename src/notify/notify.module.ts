/**
 * Wires notifications into the App: the two background jobs (expiry sweep, delivery
 * worker; the worker also dispatches the events of the transactional outbox).
 */
import type { Services } from '../context.js';
import { DeliveryWorker } from './delivery.worker.js';
import { ExpirySweepJob } from './sweep.job.js';

export interface NotificationJobs {
  sweep: ExpirySweepJob;
  worker: DeliveryWorker;
}

export function setupNotifications(svc: Services): NotificationJobs {
  return { sweep: new ExpirySweepJob(svc), worker: new DeliveryWorker(svc) };
}
