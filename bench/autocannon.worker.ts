/**
 * autocannon in a forked child (its own core): a far cheaper HTTP client than node:http,
 * with optional pipelining, for endpoints fast enough that the load generator is the limit.
 * Receives { name, url, connections, pipelining, seconds, method?, body?(base64), headers? }
 * over IPC and answers with a LoadResult-shaped summary.
 */
import autocannon from 'autocannon';

interface Job {
  name: string;
  url: string;
  connections: number;
  pipelining: number;
  seconds: number;
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
}

const job = await new Promise<Job>((resolve) => process.once('message', (m) => resolve(m as Job)));
const r = await autocannon({
  url: job.url,
  connections: job.connections,
  pipelining: job.pipelining,
  duration: job.seconds,
  method: job.method ?? 'GET',
  body: job.body ? Buffer.from(job.body, 'base64') : undefined,
  headers: job.headers,
});
process.send!(
  {
    name: job.name,
    requests: r.requests.total,
    errors: r.errors + r.non2xx,
    seconds: job.seconds,
    throughput: Math.round(r.requests.average),
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
  },
  () => process.exit(0),
);
