/**
 * Notification metrics. Counters live for the process (registered into the App's registry
 * by src/http/metrics.ts); the expiry gauges are read from the database at scrape time,
 * so every replica reports the same numbers.
 */
import { Counter, Gauge } from 'prom-client';
import { sql } from 'kysely';
import type { Db } from '../store/types.js';
import { isDatabaseUnavailable } from '../store/db.js';

/** Final outcomes of notification deliveries, by channel type (bounded: five types). */
export const deliveryOutcomes = new Counter({
  name: 'certa_notification_deliveries_total',
  help: 'Notification deliveries that reached a final state (sent or failed), by channel type',
  labelNames: ['channel_type', 'outcome'],
  registers: [],
});

/** Retries scheduled, by channel type. */
export const deliveryRetries = new Counter({
  name: 'certa_notification_delivery_retries_total',
  help: 'Notification delivery attempts that failed and were scheduled again, by channel type',
  labelNames: ['channel_type'],
  registers: [],
});

/** The `authority` label of imported certificates (an inline literal: SELECT and GROUP BY must be the same expression). */
export const EXTERNAL_AUTHORITY = '(external)';

/**
 * Active certificates expiring within 7 and 30 days, per authority (labels bounded by
 * the number of authorities). One indexed range query per scrape.
 */
export function expiringGauge(db: () => Db | null, now: () => Date): Gauge<'authority' | 'within_days'> {
  return new Gauge({
    name: 'certa_certificates_expiring',
    help: 'Active (not revoked, not archived, not renewed) certificates whose notAfter is within the window, by authority',
    labelNames: ['authority', 'within_days'],
    registers: [],
    async collect() {
      const d = db();
      if (!d) return;
      const t = now();
      const in7 = new Date(t.getTime() + 7 * 86_400_000).toISOString();
      const in30 = new Date(t.getTime() + 30 * 86_400_000).toISOString();
      const rows = await d
        .selectFrom('certificates as c')
        // Imported certificates have no authority here; they count under EXTERNAL_AUTHORITY.
        .leftJoin('authorities as a', 'a.id', 'c.authority_id')
        .select([
          sql<string>`coalesce(a.name, ${sql.lit(EXTERNAL_AUTHORITY)})`.as('authority'),
          sql<number>`sum(case when c.not_after <= ${in7} then 1 else 0 end)`.as('d7'),
          sql<number>`count(*)`.as('d30'),
        ])
        .where('c.not_after', '>', t.toISOString())
        .where('c.not_after', '<=', in30)
        .where('c.revoked_at', 'is', null)
        .where('c.archived_at', 'is', null)
        .where('c.successor_id', 'is', null)
        .groupBy(sql`coalesce(a.name, ${sql.lit(EXTERNAL_AUTHORITY)})`)
        .execute()
        .catch((err) => {
          // /metrics keeps answering during a database outage (it is how one watches it):
          // the gauge is just absent until the database is back.
          if (isDatabaseUnavailable(err)) return [];
          throw err;
        });
      this.reset();
      for (const r of rows) {
        this.set({ authority: r.authority, within_days: '7' }, Number(r.d7));
        this.set({ authority: r.authority, within_days: '30' }, Number(r.d30));
      }
    },
  });
}
