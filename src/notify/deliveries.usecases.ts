/** The delivery outbox as the API shows it: list with filters, and retry of failed ones. */
import type { Services } from '../context.js';
import { conflict, notFound } from '../errors.js';
import type { Page } from '../store/pagination.js';
import * as repo from '../store/notifications.repository.js';
import type { Schemas } from '../spec.js';
import { toDelivery } from './notify.mappers.js';
import { signalEnqueued } from './outbox.signal.js';

type Delivery = Schemas['Delivery'];

export async function listDeliveries(svc: Services, q: repo.DeliveryQuery): Promise<Page<Delivery>> {
  const page = await repo.listDeliveries(svc.db, q);
  const certs = await repo.certificateIdsOf(svc.db, page.items.map((d) => d.id));
  return { items: page.items.map((d) => toDelivery(d, certs.get(d.id) ?? [])), nextCursor: page.nextCursor };
}

export async function getDelivery(svc: Services, id: string): Promise<Delivery> {
  const d = await repo.findDelivery(svc.db, id);
  if (!d) throw notFound('notification delivery');
  return toDelivery(d, (await repo.certificateIdsOf(svc.db, [id])).get(id) ?? []);
}

/**
 * failed -> pending, due now, with a fresh attempt budget. Messages already accepted by
 * the receiver stay accepted: the retry resumes after them.
 */
export async function retryDelivery(svc: Services, id: string): Promise<Delivery> {
  const d = await repo.requeueFailed(svc.db, id, svc.clock.now().toISOString());
  if (!d) {
    const existing = await repo.findDelivery(svc.db, id);
    if (!existing) throw notFound('notification delivery');
    throw conflict(`only a failed delivery can be retried; this one is ${existing.status}`);
  }
  signalEnqueued(svc.db);
  return toDelivery(d, (await repo.certificateIdsOf(svc.db, [id])).get(id) ?? []);
}
