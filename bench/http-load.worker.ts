/**
 * HTTP load from a child process (forked with IPC), so the load generator does not share
 * the server's event loop (on a 2-core machine: one core each). Closed loop: `concurrency` workers,
 * each sending its next request when the previous answer arrived.
 */
import http from 'node:http';
import { load } from './lib.js';

export interface LoadJob {
  name: string;
  concurrency: number;
  durationMs: number;
  /** Cycled through in order. Bodies are base64. */
  requests: Array<{ method: 'GET' | 'POST'; url: string; body?: string; contentType?: string; headers?: Record<string, string> }>;
  /** Statuses counted as success (default: 200 only). */
  okStatuses?: number[];
}

const job = await new Promise<LoadJob>((resolve) => process.once('message', (m) => resolve(m as LoadJob)));
const agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency });
const bodies = job.requests.map((r) => (r.body ? Buffer.from(r.body, 'base64') : undefined));
const okStatuses = new Set(job.okStatuses ?? [200]);

function send(i: number): Promise<boolean> {
  const r = job.requests[i % job.requests.length];
  const body = bodies[i % job.requests.length];
  return new Promise((resolve, reject) => {
    const req = http.request(r.url, { method: r.method, agent, headers: { ...(r.headers ?? {}), ...(body ? { 'content-type': r.contentType ?? 'application/octet-stream', 'content-length': String(body.length) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(okStatuses.has(res.statusCode ?? 0)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const result = await load(job.name, { concurrency: job.concurrency, durationMs: job.durationMs }, send);
agent.destroy();
process.send!(result, () => process.exit(0));
