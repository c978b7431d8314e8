/**
 * Handler types. A handler is a function named after its operationId: it receives the
 * validated, coerced input, calls one use-case and returns the response to send.
 */
import type { Context as KoaContext } from 'koa';
import type { operations } from '../../generated/api.js';
import type { Principal, Services } from '../context.js';
import { DomainError } from '../errors.js';

export type OperationId = keyof operations;
type Op<K extends OperationId> = operations[K];

type JsonBody<K extends OperationId> = Op<K> extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : Op<K> extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B | undefined
    : unknown;
type PathParams<K extends OperationId> = Op<K> extends { parameters: { path: infer P } } ? (P extends undefined ? Record<string, never> : NonNullable<P>) : Record<string, never>;
type QueryParams<K extends OperationId> = Op<K> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : Record<string, never>;

export interface HandlerContext<K extends OperationId> {
  svc: Services;
  /** Parsed JSON body (validated), or a Buffer for binary media types. */
  body: JsonBody<K>;
  rawBody: Buffer | undefined;
  params: PathParams<K>;
  query: QueryParams<K>;
  /** Null only on public operations. */
  principal: Principal | null;
  requestId: string;
  ip: string | null;
  koa: KoaContext;
  /** Name what this request acted on, for the audit trail. */
  audit(target: string | null, detail?: string): void;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Defaults to application/json for object bodies. */
  contentType?: string;
}

export type Handler<K extends OperationId> = (c: HandlerContext<K>) => Promise<HandlerResult> | HandlerResult;
export type HandlerMap = { [K in OperationId]?: Handler<K> };

/** Principal of a secured operation (the dispatcher guarantees it is there). */
export function principalOf(c: { principal: Principal | null }): Principal {
  if (!c.principal) throw new DomainError('unauthenticated', 'authentication required');
  return c.principal;
}

export const ok = (body: unknown, headers?: Record<string, string>): HandlerResult => ({ status: 200, body, headers });
export const created = (body: unknown, headers?: Record<string, string>): HandlerResult => ({ status: 201, body, headers });
export const noContent = (): HandlerResult => ({ status: 204 });
