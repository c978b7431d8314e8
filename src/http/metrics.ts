/** Prometheus metrics: one registry per App (tests run several apps in one process). */
import { Counter, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

export interface HttpMetrics {
  registry: Registry;
  requests: Counter<'operation' | 'status'>;
  duration: Histogram<'operation' | 'status'>;
}

let defaultsRegistered: Registry | null = null;

/** Domain metrics defined next to their code, added to the App's registry. */
export function createMetrics(extra: Metric[] = []): HttpMetrics {
  const registry = new Registry();
  for (const m of extra) registry.registerMetric(m);
  // Process metrics are process-wide: collect them once, into the first registry.
  if (!defaultsRegistered) {
    collectDefaultMetrics({ register: registry, prefix: 'certa_' });
    defaultsRegistered = registry;
  }
  const requests = new Counter({
    name: 'certa_http_requests_total',
    help: 'HTTP requests by operationId and status',
    labelNames: ['operation', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'certa_http_request_duration_seconds',
    help: 'HTTP request latency by operationId and status',
    labelNames: ['operation', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, requests, duration };
}

export async function renderMetrics(m: HttpMetrics): Promise<string> {
  const own = await m.registry.metrics();
  if (defaultsRegistered && defaultsRegistered !== m.registry) return own + (await defaultsRegistered.getSingleMetricAsString('certa_process_cpu_seconds_total').catch(() => ''));
  return own;
}
