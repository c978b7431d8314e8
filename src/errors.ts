/**
 * Domain errors. Every layer below http/ throws these; `src/http/problem.ts` is the
 * only place that turns them into HTTP statuses and problem+json bodies.
 *
 * `ErrorCode` mirrors the `ProblemCode` enum in `openapi/schemas/problem.yaml`.
 */
export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'malformed_json'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_acceptable'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'rate_limited'
  | 'invalid_credentials'
  | 'bad_csr'
  | 'bad_certificate'
  | 'bad_key'
  | 'weak_key'
  | 'policy_violation'
  | 'authority_unavailable'
  | 'name_constraint_violation'
  | 'target_not_allowed'
  | 'upstream_error'
  | 'internal_error'
  | 'not_ready'
  | 'database_unavailable'
  | 'overloaded'
  | 'request_timeout'
  | 'headers_too_large';

export interface FieldError {
  /** JSON pointer or dotted path of the offending field, e.g. `/body/sans/dns/0`. */
  field: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors?: FieldError[],
    /** Extra headers the HTTP layer should set (e.g. Retry-After). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const badRequest = (message: string, errors?: FieldError[]) => new DomainError('bad_request', message, errors);
export const notFound = (what: string) => new DomainError('not_found', `${what} not found`);
export const conflict = (message: string) => new DomainError('conflict', message);
export const forbidden = (message: string) => new DomainError('forbidden', message);
export const badCsr = (message: string) => new DomainError('bad_csr', message);
export const badCertificate = (message: string) => new DomainError('bad_certificate', message);
export const badKey = (message: string) => new DomainError('bad_key', message);
export const weakKey = (message: string) => new DomainError('weak_key', message);
export const policyViolation = (message: string, errors: FieldError[]) => new DomainError('policy_violation', message, errors);
