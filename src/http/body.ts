/**
 * Request bodies: the media type checked against what the operation declares (415 before
 * a byte is read), read raw with a size limit (413 beyond it), JSON parsed here so a syntax
 * error is a 400 that says where, and binary types (OCSP requests, DER) kept as Buffers.
 */
import type { Context } from 'koa';
import { DomainError } from '../errors.js';
import { continueIfExpected, drainAfterRefusal } from './edge.js';

export async function readBody(ctx: Context, limit: number): Promise<Buffer | undefined> {
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    // Refuse before reading: nothing of it is buffered.
    drainAfterRefusal(req, ctx.res);
    throw new DomainError('payload_too_large', `request body is ${declared} bytes; the limit is ${limit}`);
  }
  if (!hasBody(ctx)) return undefined;
  continueIfExpected(req, ctx.res);
  // Events rather than async iteration: leaving a for-await early destroys the socket, and
  // the 413 would be lost under the reset.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        chunks.length = 0;
        drainAfterRefusal(req, ctx.res);
        reject(new DomainError('payload_too_large', `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => {
      done();
      reject(new DomainError('bad_request', 'the connection closed before the whole body was received'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/** The request carries a body (a length above 0, or chunked). */
function hasBody(ctx: Context): boolean {
  const req = ctx.req;
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  const declared = req.headers['content-length'];
  if (declared !== undefined) return Number(declared) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

export function mediaType(ctx: Context): string {
  return String(ctx.get('content-type') || '').split(';')[0].trim().toLowerCase();
}

const isJson = (type: string) => type === 'application/json' || /^application\/[\w.!#$&^-]+\+json$/.test(type);

/**
 * Media types a request body may have, from the operation's `requestBody.content` in the
 * spec; null when the operation takes no body (whatever is sent is then ignored).
 */
export function acceptedMediaTypes(operation: { requestBody?: { content?: Record<string, unknown> } }): string[] | null {
  const content = operation.requestBody?.content;
  return content ? Object.keys(content).map((t) => t.toLowerCase()) : null;
}

/**
 * 415 unless the body's Content-Type is one the operation declares (a JSON operation also
 * takes `application/*+json`; JSON must be UTF-8). Checked on headers alone, before the
 * body is read or validated: a text or form body never reaches the JSON validator. A body
 * with no Content-Type is refused too, rather than guessed.
 */
export function requireAcceptedMediaType(ctx: Context, accepted: string[] | null): void {
  if (!accepted || !hasBody(ctx)) return;
  const header = ctx.get('content-type');
  const type = mediaType(ctx);
  const ok = accepted.includes(type) || (isJson(type) && accepted.some(isJson));
  const list = accepted.join(', ');
  const advertise: Record<string, string> = ctx.method === 'PATCH' ? { 'Accept-Patch': list } : ctx.method === 'POST' ? { 'Accept-Post': list } : {};
  if (!ok) {
    throw new DomainError(
      'unsupported_media_type',
      header ? `this operation takes ${list}, not ${type || header}` : `the body has no Content-Type; this operation takes ${list}`,
      [{ field: '/headers/content-type', message: `must be ${list}` }],
      advertise,
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(header)?.[1]?.toLowerCase();
  if (isJson(type) && charset && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
    throw new DomainError('unsupported_media_type', `JSON bodies must be UTF-8, not ${charset}`, [{ field: '/headers/content-type', message: 'charset must be utf-8' }], advertise);
  }
}

export function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DomainError('malformed_json', `the body is not valid JSON: ${(e as Error).message}`, [{ field: '/body', message: 'invalid JSON' }]);
  }
}
