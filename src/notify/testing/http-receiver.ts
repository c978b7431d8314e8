/**
 * A real HTTP receiver on 127.0.0.1 for channel tests: records every request (raw body
 * included), optionally checks the payload like the platform would (400 with the list
 * of problems), and answers with scripted replies.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw body exactly as received. */
  body: string;
  /** Problems the `check` found (empty when the payload is valid). */
  problems: string[];
}

export type Reply =
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Never answer (the client must time out). */
  | 'hang';

export interface Receiver {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  origin: string;
  /** A webhook URL with a secret-looking path, as the platforms hand out. */
  url: string;
  requests: ReceivedRequest[];
  /** Replies for the next requests, in order; afterwards `fallback`. */
  script(...replies: Reply[]): void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** Platform rules; returns the problems found in a parsed JSON body. */
  check?: (json: unknown, raw: string) => string[];
  /** Reply when nothing is scripted. Default 204. */
  fallback?: Reply;
  /** Custom reply function, takes precedence over script/fallback when it returns a reply. */
  route?: (req: ReceivedRequest) => Reply | undefined;
}

export const SECRET_PATH = '/api/webhooks/123456/s3cr3t-t0ken-DO-NOT-LOG';

export async function startReceiver(opts: ReceiverOptions = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const queue: Reply[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let problems: string[] = [];
      if (opts.check) {
        try {
          problems = opts.check(JSON.parse(body), body);
        } catch (err) {
          problems = [`body is not JSON: ${(err as Error).message}`];
        }
      }
      const received: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, problems };
      requests.push(received);
      let reply = opts.route?.(received);
      if (!reply && problems.length > 0) reply = { status: 400, body: JSON.stringify({ problems }) };
      reply ??= queue.shift() ?? opts.fallback ?? { status: 204 };
      if (reply === 'hang') return;
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}${SECRET_PATH}`,
    requests,
    script: (...replies) => queue.push(...replies),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
