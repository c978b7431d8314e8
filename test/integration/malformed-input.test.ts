/**
 * Malformed input of many kinds to EVERY operation, as an admin (so permission checks
 * pass and the input reaches validation and the handlers): the answer is always a 4xx
 * problem+json (or a success for operations that ignore the input), never a 5xx, and
 * the service keeps answering afterwards.
 */
import { expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { OPERATIONS, concretePath } from '../helpers/spec-walk.js';

const BODIES: Array<[string, string, string]> = [
  ['empty object', 'application/json', '{}'],
  ['array', 'application/json', '[1,2,3]'],
  ['string', 'application/json', '"hello"'],
  ['null', 'application/json', 'null'],
  ['truncated', 'application/json', '{"a": [1, 2'],
  ['wrong types', 'application/json', JSON.stringify({ name: 42, email: [], password: {}, permissions: 'all', roles: 7, limit: 'x', certificates: 5, csr: 12, profile: null, subject: 'x', config: [] })],
  ['deep nesting', 'application/json', '['.repeat(5000) + ']'.repeat(5000)],
  ['huge strings', 'application/json', JSON.stringify({ name: 'x'.repeat(100_000), email: 'a'.repeat(300) + '@x.y', description: 'y'.repeat(200_000) })],
  ['binary junk', 'application/octet-stream', '\u0000\u0001\u00ff\u00fe garbage'],
  ['form', 'application/x-www-form-urlencoded', 'a=1&b=2'],
  ['large text', 'text/plain', 'x'.repeat(200_000)],
  ['no content type', '', JSON.stringify({ name: 'x' })],
  ['prototype pollution', 'application/json', '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}'],
];

const PATH_VALUES = ['not-a-uuid', '../../etc/passwd', '%00', 'x'.repeat(2000), "' OR 1=1 --"];

const QUERIES = ['?limit=-1', '?limit=abc', '?limit=100000', '?cursor=%%%', '?since=yesterday', '?disabled=maybe', '?status=nope', '?format=exe'];

forEachDialect('malformed input never yields a 5xx', (env) => {
  it('bodies, path values and queries on every operation', async () => {
    const headers = { authorization: `Bearer ${env().adminToken}` };
    const failures: string[] = [];
    const check = async (label: string, res: Response) => {
      const text = await res.text();
      if (res.status >= 500) failures.push(`${label} -> ${res.status} ${text.slice(0, 200)}`);
      else if (res.status >= 400 && !res.headers.get('content-type')?.includes('problem+json') && !res.headers.get('content-type')?.includes('ocsp-response')) {
        failures.push(`${label} -> ${res.status} without problem+json`);
      }
    };
    for (const op of OPERATIONS) {
      if (op.operationId === 'logout') continue; // would end the admin session
      const method = op.method.toUpperCase();
      const hasBody = !['GET', 'HEAD', 'DELETE'].includes(method);
      if (hasBody) {
        for (const [name, type, body] of BODIES) {
          // Bytes, not a string, so that fetch adds no Content-Type of its own.
          const h: Record<string, string> = type ? { ...headers, 'content-type': type } : headers;
          await check(`${op.operationId} body=${name}`, await env().fetch(concretePath(op), { method, headers: h, body: new TextEncoder().encode(body) }));
        }
      }
      if (op.path.includes('{')) {
        for (const v of PATH_VALUES) {
          await check(`${op.operationId} path=${v.slice(0, 20)}`, await env().fetch(concretePath(op, v), { method, headers: { ...headers, 'content-type': 'application/json' }, body: hasBody ? '{}' : undefined }));
        }
      }
      if (method === 'GET') {
        for (const q of QUERIES) await check(`${op.operationId} ${q}`, await env().fetch(concretePath(op) + q, { headers }));
      }
    }
    expect(failures).toEqual([]);
    expect((await env().fetch('/readyz')).status).toBe(200);
    expect((await env().client().GET('/api/v1/auth/me')).response.status).toBe(200);
  }, 300_000);
});
