/**
 * The bundled OpenAPI document (generated/openapi.json), loaded once. The spec is the
 * source of truth: the permission catalogue, each operation's required permission and
 * the request/response validation all come from here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { components, operations } from '../generated/api.js';

export type { components, operations };
export type Schemas = components['schemas'];
export type OperationId = keyof operations;

const specPath = fileURLToPath(new URL('../generated/openapi.json', import.meta.url));
export const openapiDocument: any = JSON.parse(readFileSync(specPath, 'utf8'));

export interface OperationInfo {
  operationId: string;
  method: string;
  path: string;
  /** Permission from `x-certa-permission`; null when a valid token suffices. */
  permission: string | null;
  /** Public operations (`security: []`) need no token at all. */
  public: boolean;
  /** `x-certa-self-allowed`: allowed without the permission when acting on oneself. */
  selfAllowed: boolean;
}

export function listOperations(doc: any = openapiDocument): OperationInfo[] {
  const out: OperationInfo[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']) {
      const op = item[method];
      if (!op) continue;
      const security = op.security ?? doc.security ?? [];
      out.push({
        operationId: op.operationId,
        method,
        path,
        permission: op['x-certa-permission'] ?? null,
        public: Array.isArray(security) && security.length === 0,
        selfAllowed: op['x-certa-self-allowed'] === true,
      });
    }
  }
  return out;
}

export const operationsById: ReadonlyMap<string, OperationInfo> = new Map(listOperations().map((o) => [o.operationId, o]));
