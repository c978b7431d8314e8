/**
 * Validates every response an integration test receives against the spec: status must be
 * declared for the operation, and the body must match the declared schema. A mismatch
 * throws, failing the test. Used as openapi-fetch middleware on the test clients.
 */
import { OpenAPIBackend } from 'openapi-backend';
import addFormatsModule from 'ajv-formats';
import type { Middleware } from 'openapi-fetch';
import { openapiDocument } from '../../src/spec.js';

const addFormats = addFormatsModule as unknown as (ajv: unknown) => void;

let apiPromise: Promise<OpenAPIBackend> | null = null;
function backend(): Promise<OpenAPIBackend> {
  apiPromise ??= (async () => {
    const api = new OpenAPIBackend({
      definition: structuredClone(openapiDocument),
      quick: true,
      validate: () => false,
      ajvOpts: { strict: false, allErrors: true },
      customizeAjv: (ajv) => {
        addFormats(ajv);
        return ajv;
      },
    });
    await api.init();
    return api;
  })();
  return apiPromise;
}

export class ResponseMismatch extends Error {}

export async function validateResponse(method: string, url: string, status: number, contentType: string, body: unknown): Promise<void> {
  const api = await backend();
  const path = new URL(url).pathname;
  let op: any;
  try {
    op = api.router.matchOperation({ method, path, headers: {} } as any, true);
  } catch {
    // 404/405 for unknown routes: must still be a problem document.
    if (!contentType.startsWith('application/problem+json')) throw new ResponseMismatch(`${method} ${path} -> ${status} is not problem+json`);
    return;
  }
  const responses = op.responses ?? {};
  const declared = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
  if (!declared) throw new ResponseMismatch(`${op.operationId}: status ${status} is not declared in the spec (declared: ${Object.keys(responses).join(', ')})`);
  const media = contentType.split(';')[0].trim();
  const content = declared.content;
  if (!content) {
    if (body !== undefined && body !== '' && body !== null) throw new ResponseMismatch(`${op.operationId}: ${status} declares no body but got one`);
    return;
  }
  if (!content[media]) throw new ResponseMismatch(`${op.operationId}: ${status} content type ${media} is not declared (declared: ${Object.keys(content).join(', ')})`);
  if (media === 'application/json' || media.endsWith('+json')) {
    const r = api.validator.validateResponse(body, op, status);
    if (r.errors?.length) {
      throw new ResponseMismatch(`${op.operationId}: ${status} body does not match the spec: ${JSON.stringify(r.errors.slice(0, 5))}\nbody: ${JSON.stringify(body).slice(0, 2000)}`);
    }
  }
}

/** openapi-fetch middleware: validate each response; the original response is passed on untouched. */
export const responseValidation: Middleware = {
  async onResponse({ request, response }) {
    const type = response.headers.get('content-type') ?? '';
    let body: unknown = undefined;
    if (type.includes('json')) {
      const text = await response.clone().text();
      body = text ? JSON.parse(text) : undefined;
    } else if (response.status !== 204) {
      body = await response.clone().arrayBuffer();
    }
    await validateResponse(request.method, request.url, response.status, type, body);
    return response;
  },
};
