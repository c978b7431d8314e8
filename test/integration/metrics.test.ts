/**
 * Domain metrics on GET /metrics: certificates expiring within 7 and 30 days per
 * authority (read from the database at scrape time) and notification delivery outcomes by
 * channel type (a real webhook receiver on 127.0.0.1, the real delivery worker).
 */
import { afterAll, expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { startReceiver, type Receiver } from '../../src/notify/testing/http-receiver.js';
import { DeliveryWorker } from '../../src/notify/delivery.worker.js';

function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    if (want.every((w) => inside.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

forEachDialect(
  'domain metrics',
  (env) => {
    let receiver: Receiver | undefined;
    afterAll(async () => {
      await receiver?.close();
    });

    it('ok/expiring certificates per authority (7 and 30 days); revoked ones are not counted', async () => {
      const api = env().client();
      const root = await api.POST('/api/v1/authorities', { body: { name: 'metrics-root', kind: 'root', subject: { commonName: 'Metrics Root' } } });
      await api.POST('/api/v1/profiles', { body: { name: 'metrics-web', authorityId: root.data!.id, allowedDomains: ['m.example.test'], allowSubdomains: true, usage: 'server' } });
      const issue = async (cn: string, days: number) =>
        (await api.POST('/api/v1/certificates', { body: { profile: 'metrics-web', subject: { commonName: cn }, sans: { dns: [cn] }, validityDays: days } })).data!;
      await issue('a.m.example.test', 5);
      await issue('b.m.example.test', 20);
      await issue('c.m.example.test', 25);
      await issue('d.m.example.test', 90);
      const gone = await issue('e.m.example.test', 3);
      await api.POST('/api/v1/certificates/{certificateId}/revoke', { params: { path: { certificateId: gone.id } }, body: { reason: 'superseded' } });
      const text = await (await env().fetch('/metrics')).text();
      expect(metric(text, 'certa_certificates_expiring', { authority: 'metrics-root', within_days: '7' })).toBe(1);
      expect(metric(text, 'certa_certificates_expiring', { authority: 'metrics-root', within_days: '30' })).toBe(3);
    });

    it('ok/delivery outcomes by channel type', async () => {
      receiver = await startReceiver();
      const api = env().client();
      const before = metric(await (await env().fetch('/metrics')).text(), 'certa_notification_deliveries_total', { channel_type: 'webhook', outcome: 'sent' }) ?? 0;
      const ch = await api.POST('/api/v1/notification-channels', { body: { name: 'metrics-hook', type: 'webhook', config: { url: receiver.url } } });
      expect(ch.response.status, JSON.stringify(ch.error)).toBe(201);
      const rule = await api.POST('/api/v1/notification-rules', { body: { name: 'metrics-issued', channelIds: [ch.data!.id], events: ['issued'] } });
      expect(rule.response.status, JSON.stringify(rule.error)).toBe(201);
      const issued = await api.POST('/api/v1/certificates', { body: { profile: 'metrics-web', subject: { commonName: 'f.m.example.test' }, sans: { dns: ['f.m.example.test'] } } });
      expect(issued.response.status).toBe(201);
      const worker = new DeliveryWorker(env().app.services);
      for (let i = 0; i < 50 && receiver.requests.length === 0; i++) {
        await worker.runOnce();
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(receiver.requests.length).toBe(1);
      const after = metric(await (await env().fetch('/metrics')).text(), 'certa_notification_deliveries_total', { channel_type: 'webhook', outcome: 'sent' });
      expect(after).toBe(before + 1);
    });
  },
  { env: { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true' } },
);
