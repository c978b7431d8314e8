/**
 * Request bodies: read raw with a size limit (413 beyond it), JSON parsed here so a syntax
 * error is a 400 that says where, and binary types (OCSP requests, DER) kept as Buffers.
 */
import type { Context } from 'koa';
import { DomainError } from '../errors.js';

export async function readBody(ctx: Context, limit: number): Promise<Buffer | undefined> {
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    // Drain nothing: refuse early and close, so a client cannot make us buffer it.
    ctx.set('Connection', 'close');
    throw new DomainError('payload_too_large', `request body is ${declared} bytes; the limit is ${limit}`);
  }
  if (req.method === 'GET' || req.method === 'HEAD' || (declared === undefined && !req.headers['transfer-encoding'])) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      ctx.set('Connection', 'close');
      throw new DomainError('payload_too_large', `request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function mediaType(ctx: Context): string {
  return String(ctx.get('content-type') || '').split(';')[0].trim().toLowerCase();
}

export function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DomainError('malformed_json', `the body is not valid JSON: ${(e as Error).message}`, [{ field: '/body', message: 'invalid JSON' }]);
  }
}
