/**
 * PostgreSQL only: two replicas (separate pools on one schema) share the outbox. 1,000 due
 * deliveries worked by two workers at once are each delivered exactly once, and two
 * replicas sweeping at the same moment enqueue each announcement once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Services } from '../../src/context.js';
import { openStore, type Store } from '../../src/store/db.js';
import { startTestApp } from '../helpers/harness.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { addAuthority, addCertificate } from '../../src/notify/testing/inventory.js';
import { DeliveryWorker } from '../../src/notify/delivery.worker.js';
import { createChannel } from '../../src/notify/channels.usecases.js';
import { createRule } from '../../src/notify/rules.usecases.js';
import { runExpirySweep } from '../../src/notify/sweep.usecases.js';
import { insertDeliveries, type NewDelivery } from '../../src/store/notifications.repository.js';
import { newId } from '../../src/lib/ids.js';

describe('notification outbox shared by two replicas [postgres]', () => {
  let app: App;
  let cleanup: () => Promise<void>;
  let second: Store;
  let replica: Services;
  let receiver: Receiver;
  const counts = new Map<string, number>();

  beforeAll(async () => {
    const started = await startTestApp('postgres', { env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } });
    app = started.app;
    cleanup = started.cleanup;
    // The second replica: its own pool on the same schema.
    second = openStore({ databaseUrl: app.config.databaseUrl, dataDir: started.dataDir, poolSize: 5, pgSchema: started.pgSchema });
    replica = { ...app.services, store: second, db: second.db };
    receiver = await startReceiver({
      route: (req) => {
        const id = String(req.headers['x-certa-delivery']);
        counts.set(id, (counts.get(id) ?? 0) + 1);
        return undefined;
      },
    });
  });

  afterAll(async () => {
    await receiver?.close();
    await second?.close();
    await cleanup?.();
  });

  it('ok/1,000 due deliveries, two workers: each delivered exactly once', async () => {
    const ch = await createChannel(app.services, { name: 'shared', type: 'webhook', config: { url: receiver.url } });
    const now = app.services.clock.now().toISOString();
    const list: NewDelivery[] = Array.from({ length: 1000 }, () => ({
      id: newId(),
      channelId: ch.id,
      ruleId: null,
      kind: 'test',
      thresholdDays: null,
      occurredAt: now,
      certificateIds: [],
      nextAttemptAt: now,
      createdAt: now,
    }));
    await insertDeliveries(app.services.db, list);

    const a = new DeliveryWorker(app.services, { batchSize: 20 });
    const b = new DeliveryWorker(replica, { batchSize: 20 });
    const [ra, rb] = await Promise.all([a.runUntilIdle(), b.runUntilIdle()]);

    expect(ra.sent + rb.sent).toBe(1000);
    expect(ra.sent).toBeGreaterThan(0);
    expect(rb.sent).toBeGreaterThan(0);
    expect(ra.failed + rb.failed + ra.retried + rb.retried).toBe(0);
    expect(counts.size).toBe(1000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(list.map((d) => d.id))).toEqual(new Set(counts.keys()));
    const states = await app.services.db
      .selectFrom('notification_deliveries')
      .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
      .where('channel_id', '=', ch.id)
      .groupBy('status')
      .execute();
    expect(states.map((s) => [s.status, Number(s.n)])).toEqual([['sent', 1000]]);
  });

  it('ok/two replicas sweeping at once enqueue each announcement once', async () => {
    const ca = await addAuthority(app.services.db);
    const ch = await createChannel(app.services, { name: 'sweep-shared', type: 'webhook', config: { url: receiver.url } });
    await createRule(app.services, { name: 'sweep-shared', channelIds: [ch.id], selector: { authorityId: ca.id } });
    const now = app.services.clock.now();
    await app.services.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 500; i++) await addCertificate(trx, { authorityId: ca.id, daysLeft: (i % 40) - 5, now });
    });
    const results = await Promise.all([runExpirySweep(app.services), runExpirySweep(replica), runExpirySweep(app.services), runExpirySweep(replica)]);
    const matched = results.reduce((n, r) => n + r.certificatesMatched, 0);
    // daysLeft -5..34: all but those more than 30 days away are announced.
    const expected = Array.from({ length: 500 }, (_, i) => (i % 40) - 5).filter((d) => d <= 30).length;
    expect(matched).toBe(expected);
    const marks = await app.services.db
      .selectFrom('notification_delivery_certificates as dc')
      .innerJoin('notification_deliveries as d', 'd.id', 'dc.delivery_id')
      .select('dc.certificate_id')
      .where('d.channel_id', '=', ch.id)
      .execute();
    expect(marks).toHaveLength(matched);
    expect(new Set(marks.map((m) => m.certificate_id)).size).toBe(matched);
  });
});
