/**
 * Wires notifications into the App: event subscriptions and the two background jobs
 * (expiry sweep, delivery worker).
 */
import type { Services } from '../context.js';
import { DeliveryWorker } from './delivery.worker.js';
import { enqueueEventNotifications } from './events.usecases.js';
import { ExpirySweepJob } from './sweep.job.js';

export interface NotificationJobs {
  sweep: ExpirySweepJob;
  worker: DeliveryWorker;
}

export function setupNotifications(svc: Services): NotificationJobs {
  svc.events.on(async (e) => {
    await enqueueEventNotifications(svc, e);
  });
  return { sweep: new ExpirySweepJob(svc), worker: new DeliveryWorker(svc) };
}
