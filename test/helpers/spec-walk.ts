/** Helpers to walk every operation of the spec with concrete URLs. */
import { listOperations, type OperationInfo } from '../../src/spec.js';

export const DUMMY_ID = '01900000-0000-7000-8000-000000000000';

export function concretePath(op: OperationInfo, value = DUMMY_ID): string {
  return op.path.replace(/\{[^}]+\}/g, encodeURIComponent(value));
}

export const OPERATIONS = listOperations();
export const SECURED = OPERATIONS.filter((o) => !o.public);
export const WITH_PERMISSION = SECURED.filter((o) => o.permission);
