/**
 * The one place where errors become HTTP: DomainError codes map to statuses and an RFC 9457
 * problem+json body. A database that cannot be reached (store/db.ts `isDatabaseUnavailable`)
 * is a 503 `database_unavailable` with Retry-After. Anything else is a bug: a generic 500
 * with the request id, no internals.
 */
import { DomainError, type ErrorCode, type FieldError } from '../errors.js';
import { isDatabaseUnavailable } from '../store/db.js';

/** Retry-After of a 503 database_unavailable: long enough for a restart or a failover to progress, short enough to notice recovery. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  malformed_json: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_acceptable: 406,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  rate_limited: 429,
  invalid_credentials: 401,
  bad_csr: 400,
  bad_certificate: 400,
  bad_key: 400,
  weak_key: 400,
  policy_violation: 400,
  authority_unavailable: 409,
  name_constraint_violation: 400,
  target_not_allowed: 403,
  upstream_error: 502,
  internal_error: 500,
  not_ready: 503,
  database_unavailable: 503,
  overloaded: 503,
  request_timeout: 408,
  headers_too_large: 431,
};

const TITLE: Record<ErrorCode, string> = {
  bad_request: 'Bad request',
  validation_failed: 'Request validation failed',
  malformed_json: 'Malformed JSON body',
  payload_too_large: 'Request body too large',
  unsupported_media_type: 'Unsupported media type',
  not_acceptable: 'Not acceptable',
  unauthenticated: 'Authentication required',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  conflict: 'Conflict',
  rate_limited: 'Too many requests',
  invalid_credentials: 'Invalid credentials',
  bad_csr: 'Bad certificate signing request',
  bad_certificate: 'Bad certificate',
  bad_key: 'Bad key',
  weak_key: 'Weak or unsupported key',
  policy_violation: 'Request violates the issuance profile',
  authority_unavailable: 'Authority cannot issue',
  name_constraint_violation: 'Name constraint violation',
  target_not_allowed: 'Target not allowed',
  upstream_error: 'Upstream error',
  internal_error: 'Internal server error',
  not_ready: 'Service not ready',
  database_unavailable: 'Database unavailable',
  overloaded: 'Service overloaded',
  request_timeout: 'Request timeout',
  headers_too_large: 'Request headers or URL too large',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
}

export interface ProblemResponse {
  status: number;
  body: Problem;
  headers: Record<string, string>;
}

export function problem(code: ErrorCode, detail: string, opts: { errors?: FieldError[]; instance?: string; requestId?: string; headers?: Record<string, string> } = {}): ProblemResponse {
  const status = STATUS[code];
  const body: Problem = { type: `https://certa.dev/problems/${code}`, title: TITLE[code], status, code, detail };
  if (opts.instance) body.instance = opts.instance;
  if (opts.requestId) body.requestId = opts.requestId;
  if (opts.errors?.length) body.errors = opts.errors;
  return { status, body, headers: { ...opts.headers } };
}

/**
 * Map anything thrown to a problem. `unexpected` is true when it was neither a DomainError
 * nor a database outage (a bug).
 */
export function toProblem(err: unknown, ctx: { instance?: string; requestId?: string }): ProblemResponse & { unexpected: boolean } {
  if (err instanceof DomainError) {
    return { ...problem(err.code, err.message, { errors: err.errors, headers: err.headers, ...ctx }), unexpected: false };
  }
  if (isDatabaseUnavailable(err)) {
    const headers = { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) };
    return { ...problem('database_unavailable', 'the database is unreachable or cannot serve right now; retry shortly', { ...ctx, headers }), unexpected: false };
  }
  return { ...problem('internal_error', `an unexpected error occurred; quote request id ${ctx.requestId ?? ''} to the operators`, ctx), unexpected: true };
}
