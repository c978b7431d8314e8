/**
 * Text no field may carry, whatever its schema: U+0000 (PostgreSQL text cannot hold it,
 * so the insert failed with a 500 on one engine and stored it on the other) and lone UTF-16
 * surrogates (not encodable as UTF-8: both engines silently stored U+FFFD instead). JSON
 * allows both (`"\u0000"`, `"\ud800"`), so the spec's types do not stop them.
 */
import type { FieldError } from '../errors.js';
import { unstorableReason as problem } from '../lib/text.js';

const MAX_REPORTED = 20;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Every string (and object key) under `value` that cannot be stored, as field errors under `base`. */
export function unstorableText(value: unknown, base: string, out: FieldError[] = []): FieldError[] {
  // Iterative walk: a deeply nested body must not overflow the stack.
  const stack: Array<[unknown, string]> = [[value, base]];
  while (stack.length && out.length < MAX_REPORTED) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      const p = problem(v);
      if (p) out.push({ field: path, message: p });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}/${i}`]);
    } else if (isPlainObject(v)) {
      for (const [k, child] of Object.entries(v)) {
        const key = k.replace(/~/g, '~0').replace(/\//g, '~1');
        const p = problem(k);
        if (p) out.push({ field: `${path}/${key}`, message: `the property name ${p}` });
        stack.push([child, `${path}/${key}`]);
      }
    }
  }
  return out;
}
