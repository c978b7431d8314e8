/**
 * @certa/client: a typed client for the Certa API. Types come from the same OpenAPI
 * document the server validates against (`npm run generate` in the Certa repo).
 *
 *   const certa = createCertaClient({ baseUrl: 'https://certa.internal', token });
 *   const { data, error } = await certa.GET('/api/v1/certificates', { params: { query: { status: 'active' } } });
 */
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { paths, components, operations } from './api.js';

export type { paths, components, operations };
export type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type CertaClient = Client<paths>;

export interface CertaClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Base URL of the Certa server, e.g. http://localhost:8080 */
  baseUrl: string;
  /** A session token (from login) or an API token. */
  token?: string;
  /** Extra middleware (logging, retries, response validation...). */
  middleware?: Middleware[];
}

export function createCertaClient(opts: CertaClientOptions): CertaClient {
  const { token, middleware = [], baseUrl, ...rest } = opts;
  const client = createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ''), ...rest });
  if (token) {
    client.use({
      onRequest({ request }) {
        request.headers.set('Authorization', `Bearer ${token}`);
        return request;
      },
    });
  }
  for (const m of middleware) client.use(m);
  return client;
}

/** Log in and return a client carrying the session token. */
export async function loginClient(opts: Omit<CertaClientOptions, 'token'> & { email: string; password: string }): Promise<{ client: CertaClient; token: string; user: Schemas['User'] }> {
  const anon = createCertaClient(opts);
  const { data, error } = await anon.POST('/api/v1/auth/login', { body: { email: opts.email, password: opts.password } });
  if (!data) throw new CertaError(error as Problem | undefined, 'login failed');
  return { client: createCertaClient({ ...opts, token: data.token }), token: data.token, user: data.user };
}

/** A problem+json answer turned into an exception, for callers that prefer throwing. */
export class CertaError extends Error {
  constructor(
    readonly problem: Problem | undefined,
    fallback = 'request failed',
  ) {
    super(problem ? `${problem.status} ${problem.code}: ${problem.detail ?? problem.title}` : fallback);
    this.name = 'CertaError';
  }
}

/** Unwrap an openapi-fetch result: the data, or a CertaError carrying the problem. */
export function unwrap<T>(r: { data?: T; error?: unknown }): T {
  if (r.error !== undefined) throw new CertaError(r.error as Problem | undefined);
  return r.data as T;
}
