/**
 * The request pipeline, driven by the spec: openapi-backend routes by operationId; here we
 * authenticate, authorize from `x-certa-permission`, validate and coerce the input against
 * the spec, call the handler, and write the audit event for every mutation.
 * Order matters: 404/405 first, then 401, then 403, then 400, so an anonymous caller
 * learns nothing about what a valid request would look like. One exception: a body of a
 * media type the operation does not take is 415 before authentication, on headers alone
 * (the types are in the public spec, and the body is then never read).
 */
import { OpenAPIBackend, type Context as OasContext } from 'openapi-backend';
import type { Context as KoaContext } from 'koa';
import addFormatsModule from 'ajv-formats';
import type { Principal, Services } from '../context.js';
import { DomainError, type FieldError } from '../errors.js';
import { listOperations, openapiDocument } from '../spec.js';
import type { HandlerContext, HandlerMap, HandlerResult } from './handler.js';
import { acceptedMediaTypes, mediaType, parseJson, readBody, requireAcceptedMediaType } from './body.js';
import { unstorableText } from './text-guard.js';
import { authenticate } from '../rights/sessions.usecases.js';
import { recordAuditEvent } from '../rights/audit.usecases.js';
import type { Permission } from '../auth/permissions.js';

export interface RequestState {
  requestId: string;
  ip: string | null;
  operationId?: string;
  principal?: Principal | null;
  auditTarget?: string | null;
  auditDetail?: string;
}

const addFormats = addFormatsModule as unknown as (ajv: unknown) => void;

type Dispatch = (ctx: KoaContext, state: RequestState) => Promise<HandlerResult>;

function ajvErrorsToFields(errors: any[] | null | undefined): FieldError[] {
  return (errors ?? []).map((e) => {
    let field = String(e.instancePath ?? '').replace(/^\/requestBody/, '/body');
    if (e.keyword === 'required' && e.params?.missingProperty) field = `${field}/${e.params.missingProperty}`;
    if (e.keyword === 'additionalProperties' && e.params?.additionalProperty) {
      return { field: `${field}/${e.params.additionalProperty}`, message: 'is not allowed here' };
    }
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'enum' && e.params?.allowedValues) message = `must be one of: ${e.params.allowedValues.join(', ')}`;
    return { field: field || '/', message };
  });
}

export async function createDispatcher(svc: Services, handlers: HandlerMap): Promise<Dispatch> {
  const api = new OpenAPIBackend({
    definition: structuredClone(openapiDocument),
    // The spec is linted by redocly (3.1-aware); openapi-backend's own definition check is 3.0-only.
    quick: true,
    // Validation is called explicitly after authentication (see wrap), never implicitly.
    validate: () => false,
    coerceTypes: true,
    ajvOpts: { strict: false, allErrors: true },
    customizeAjv: (ajv) => {
      addFormats(ajv as any);
      return ajv;
    },
  });

  // Every operation in the spec has a handler, or the service does not start (a test
  // checks it too): a published operation never answers "not implemented".
  const missing = listOperations().filter((op) => !(handlers as Record<string, unknown>)[op.operationId]).map((op) => op.operationId);
  if (missing.length) throw new Error(`operations without a handler: ${missing.join(', ')}`);

  const wrap =
    (operationId: string, fn: (c: HandlerContext<any>) => Promise<HandlerResult> | HandlerResult) =>
    async (c: OasContext, ctx: KoaContext, state: RequestState, rawBody: Buffer | undefined, body: unknown): Promise<HandlerResult> => {
      state.operationId = operationId;
      const op: any = c.operation;
      // Step 1: authentication, unless the operation is public.
      const security = op.security ?? openapiDocument.security ?? [];
      const isPublic = Array.isArray(security) && security.length === 0;
      let principal: Principal | null = null;
      if (!isPublic) {
        const header = ctx.get('authorization');
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        principal = m ? await authenticate(svc, m[1]) : null;
        if (!principal) {
          throw new DomainError('unauthenticated', header ? 'the token is invalid, expired or revoked' : 'this operation needs a bearer token', undefined, {
            'WWW-Authenticate': 'Bearer realm="certa"',
          });
        }
        state.principal = principal;
        // Step 2: authorization from the spec's declaration.
        const needed: Permission | undefined = op['x-certa-permission'];
        if (needed && !principal.permissions.has(needed)) {
          const self = op['x-certa-self-allowed'] === true && c.request.params?.userId === principal.userId;
          if (!self) throw new DomainError('forbidden', `this operation needs the permission ${needed}`);
        }
      }
      // Step 3: validate and coerce the input against the spec. Text no column can hold
      // (NUL, lone surrogates) is refused first, whatever the field's schema; OCSP answers
      // its own malformed requests in OCSP terms.
      if (!operationId.startsWith('ocsp')) {
        const bad = unstorableText(body, '/body', unstorableText(c.request.query, '/query', unstorableText(c.request.params, '/path')));
        if (bad.length) throw new DomainError('validation_failed', 'the request contains text that cannot be stored', bad);
      }
      const req = { ...c.request, body };
      const v = api.validator.validateRequest(req as any, op);
      if (!v.valid) throw new DomainError('validation_failed', 'the request does not match the API specification', ajvErrorsToFields(v.errors));
      return fn({
        svc,
        body: body as any,
        rawBody,
        params: (v.coerced?.params ?? {}) as any,
        query: (v.coerced?.query ?? {}) as any,
        principal,
        requestId: state.requestId,
        ip: state.ip,
        koa: ctx,
        audit(target, detail) {
          state.auditTarget = target;
          if (detail !== undefined) state.auditDetail = detail;
        },
      });
    };

  const registered: Record<string, any> = {};
  for (const [id, fn] of Object.entries(handlers)) registered[id] = wrap(id, fn as any);
  api.register({
    ...registered,
    notFound: async () => {
      throw new DomainError('not_found', 'no such route');
    },
    methodNotAllowed: async (c: OasContext, ctx: KoaContext) => {
      const allowed = api.router
        .getOperations()
        .filter((o) => api.router.matchOperation({ method: o.method, path: ctx.path, headers: {} } as any)?.operationId === o.operationId)
        .map((o) => o.method.toUpperCase());
      throw new DomainError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}`, undefined, allowed.length ? { Allow: [...new Set(allowed)].join(', ') } : undefined);
    },
  });
  // Authentication is done in wrap(); this only keeps openapi-backend from warning.
  api.registerSecurityHandler('bearerAuth', () => true);
  await api.init();
  precompileRoutes(api);
  const bodyTypes = new Map<string, string[] | null>(api.router.getOperations().map((o: any) => [o.operationId, acceptedMediaTypes(o)]));

  return async (ctx, state) => {
    // Step 0: a path that is not valid percent-encoding is the client's error, not ours.
    try {
      decodeURIComponent(ctx.path);
    } catch {
      throw new DomainError('bad_request', 'the request path is not valid percent-encoding');
    }
    // Step 1: body: its media type checked against the operation's (415), then read
    // (size-limited) and parsed by media type.
    const matched = api.router.matchOperation({ method: ctx.method, path: ctx.path, query: ctx.query as any, headers: ctx.headers as any } as any);
    if (matched) requireAcceptedMediaType(ctx, bodyTypes.get(matched.operationId!) ?? null);
    const raw = await readBody(ctx, svc.config.bodyLimit);
    let body: unknown = undefined;
    if (raw && raw.length) {
      const type = mediaType(ctx);
      if (type === 'application/json' || type.endsWith('+json') || type === '') body = parseJson(raw);
      else body = raw;
    }
    return api.handleRequest(
      { method: ctx.method, path: ctx.path, query: ctx.query as any, headers: ctx.headers as any, body: body as any },
      ctx,
      state,
      raw,
      body,
    );
  };
}

/** Mutations are audited (and every login attempt); GETs and `x-certa-audit: false` ones are not. */
export function shouldAudit(operationId: string | undefined, method: string): boolean {
  if (!operationId) return false;
  const op = findOperation(operationId);
  if (!op) return false;
  if (op['x-certa-audit'] === false) return false;
  return method !== 'GET' && method !== 'HEAD';
}

const opIndex = new Map<string, any>();
for (const item of Object.values<any>(openapiDocument.paths)) {
  for (const m of ['get', 'put', 'post', 'delete', 'patch']) if (item[m]) opIndex.set(item[m].operationId, item[m]);
}
function findOperation(id: string): any {
  return opIndex.get(id);
}

export async function writeAudit(svc: Services, state: RequestState, status: number, error?: { code: string; detail?: string }): Promise<void> {
  // "denied" is an access-control refusal; a wrong password is a failed attempt (and counts for rate limiting).
  const outcome = status < 400 ? 'success' : error?.code === 'unauthenticated' || error?.code === 'forbidden' ? 'denied' : 'failure';
  const errorDetail = error?.detail;
  const p = state.principal;
  await recordAuditEvent(svc, {
    actor: p ? { userId: p.userId, email: p.email, tokenId: p.tokenId } : null,
    action: state.operationId!,
    target: state.auditTarget ?? null,
    outcome,
    status,
    requestId: state.requestId,
    ip: state.ip,
    detail: status >= 400 ? (errorDetail ?? null) : (state.auditDetail ?? null),
  });
}

/**
 * openapi-backend rebuilds its operation list (lodash deep copies) and compiles one RegExp
 * per operation on every request: 40 % of the CPU of a small request in the profile. The
 * definition never changes after init, so build both once; matching keeps its rules
 * (exact path first, then templates by specificity, method last; misses go to the
 * original for its 404/405 answers).
 */
function precompileRoutes(api: OpenAPIBackend): void {
  const router = api.router as any;
  const ops = router.getOperations();
  router.getOperations = () => ops;
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const templates = ops
    .map((op: any) => ({ op, re: new RegExp(`^${op.path.replace(/\{[^}]+\}/g, '\0').split('\0').map(escape).join('[^/]+')}$`), literal: op.path.replace(/\{.*?\}/g, '').length }))
    .sort((a: any, b: any) => b.literal - a.literal);
  const exact = new Map<string, any>(ops.map((op: any) => [`${op.method} ${op.path}`, op]));
  const original = router.matchOperation.bind(router);
  router.matchOperation = (req: any, strict?: boolean) => {
    const n = router.normalizeRequest(req);
    if (!router.isUnderApiRoot(n.path)) return original(req, strict);
    const path = router.normalizePath(n.path);
    const hit = exact.get(`${n.method} ${path}`) ?? templates.find((t: any) => t.op.method === n.method && t.re.test(path))?.op;
    return hit ?? original(req, strict);
  };
}

