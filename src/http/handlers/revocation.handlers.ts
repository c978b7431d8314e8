/** Handlers for the revocation and pki-public tags. Named by operationId. */
import { createHash } from 'node:crypto';
import type { HandlerMap, HandlerResult } from '../handler.js';
import type { Services } from '../../context.js';
import { ok } from '../handler.js';
import * as revocation from '../../revocation/revocation.usecases.js';
import { crlToPem } from '../../pki/crl.js';
import { pemEncode } from '../../pki/x509.js';
import { ocspRequestFromGetPath, buildOcspErrorResponse } from '../../pki/ocsp.js';

/** Cache-Control for relying-party artefacts: until nextUpdate, at most an hour. */
function cacheFor(untilIso: string, nowMs: number, capSeconds = 3600): string {
  const s = Math.max(0, Math.min(capSeconds, Math.floor((new Date(untilIso).getTime() - nowMs) / 1000)));
  return `public, max-age=${s}, no-transform`;
}

/** 304 when the client already holds these bytes (If-None-Match wins over If-Modified-Since). */
function notModified(headers: Record<string, string | string[] | undefined>, etag: string, lastModified: string): boolean {
  const inm = headers['if-none-match'];
  if (typeof inm === 'string') return inm.split(',').some((t) => t.trim() === etag || t.trim() === '*');
  const ims = headers['if-modified-since'];
  if (typeof ims === 'string') {
    const t = Date.parse(ims);
    return !Number.isNaN(t) && Math.floor(new Date(lastModified).getTime() / 1000) <= Math.floor(t / 1000);
  }
  return false;
}

function ocspReply(der: Buffer, nowMs: number, cacheable: boolean, validity: number): HandlerResult {
  const headers: Record<string, string> = cacheable
    ? { 'Cache-Control': `public, max-age=${Math.min(validity, 300)}, no-transform`, ETag: `"${createHash('sha1').update(der).digest('hex')}"`, 'Last-Modified': new Date(nowMs).toUTCString() }
    : { 'Cache-Control': 'no-store' };
  return { status: 200, body: der, contentType: 'application/ocsp-response', headers };
}

/** `tryLater` during a database outage: never cached, and says when to come back. */
function ocspTryLater(der: Buffer): HandlerResult {
  const r = ocspReply(der, 0, false, 0);
  return { ...r, headers: { ...r.headers, 'Retry-After': '5' } };
}

/**
 * The hot path of every TLS client: an OCSP GET whose answer is already pre-signed is
 * served before routing and validation (nothing in it needs them). Null: take the
 * normal path.
 */
export function ocspGetFastPath(svc: Services, method: string, path: string): HandlerResult | null {
  if (method !== 'GET') return null;
  const m = /^\/pki\/ocsp\/([0-9a-f-]{36})\/([^/]+)$/.exec(path);
  if (!m) return null;
  let der: Buffer | null = null;
  try {
    der = svc.ocsp.cached(m[1], ocspRequestFromGetPath(m[2]));
  } catch {
    return null;
  }
  return der ? ocspReply(der, svc.clock.now().getTime(), true, svc.config.ocspValiditySeconds) : null;
}

export const revocationHandlers: HandlerMap = {
  async revokeCertificate(c) {
    c.audit(c.params.certificateId, c.body?.reason ?? 'unspecified');
    return ok(await revocation.revokeCertificate(c.svc, c.params.certificateId, c.body ?? {}));
  },
  async removeFromCrl(c) {
    c.audit(c.params.certificateId);
    return ok(await revocation.removeFromCrl(c.svc, c.params.certificateId));
  },
  async revokeCertificateBySerial(c) {
    const r = await revocation.revokeCertificateBySerial(c.svc, c.body);
    c.audit(r.certificateId, `${c.body.serialNumber} ${c.body.reason ?? 'unspecified'}`);
    return ok(r);
  },
  async revokeAuthority(c) {
    c.audit(c.params.authorityId, c.body?.reason ?? 'unspecified');
    return ok((await revocation.revokeAuthority(c.svc, c.params.authorityId, c.body ?? {})).authority);
  },
  async getCrlInfo(c) {
    return ok(await revocation.getCrlInfo(c.svc, c.params.authorityId));
  },

  async getCrl(c) {
    const crl = await revocation.publicCrl(c.svc, c.params.crlFile);
    const etag = `"${crl.crlNumber}${crl.pem ? '-pem' : ''}"`;
    const headers = { ETag: etag, 'Last-Modified': new Date(crl.thisUpdate).toUTCString(), 'Cache-Control': cacheFor(crl.nextUpdate, c.svc.clock.now().getTime()), Expires: new Date(crl.nextUpdate).toUTCString() };
    if (notModified(c.koa.headers, etag, crl.thisUpdate)) return { status: 304, headers };
    return crl.pem
      ? { status: 200, body: crlToPem(crl.der), contentType: 'application/x-pem-file', headers }
      : { status: 200, body: crl.der, contentType: 'application/pkix-crl', headers };
  },
  async getCaCertificate(c) {
    const ca = await revocation.publicCaCertificate(c.svc, c.params.certFile);
    const headers = { 'Cache-Control': 'public, max-age=3600', 'Last-Modified': new Date(ca.updatedAt).toUTCString() };
    return ca.pem
      ? { status: 200, body: pemEncode(ca.der, 'CERTIFICATE'), contentType: 'application/x-pem-file', headers }
      : { status: 200, body: ca.der, contentType: 'application/pkix-cert', headers };
  },
  async ocspPost(c) {
    const body = Buffer.isBuffer(c.body) ? c.body : (c.rawBody ?? Buffer.alloc(0));
    const { der, tryLater } = await c.svc.ocsp.answer(c.params.authorityId, body);
    if (tryLater) return ocspTryLater(der);
    // POST responses are not cached by HTTP caches (RFC 5019 prefers GET for that).
    return ocspReply(der, c.svc.clock.now().getTime(), false, c.svc.config.ocspValiditySeconds);
  },
  async ocspGet(c) {
    let request: Buffer;
    try {
      request = ocspRequestFromGetPath(c.params.request);
    } catch {
      return ocspReply(buildOcspErrorResponse('malformedRequest'), 0, false, 0);
    }
    const { der, tryLater } = await c.svc.ocsp.answer(c.params.authorityId, request);
    if (tryLater) return ocspTryLater(der);
    return ocspReply(der, c.svc.clock.now().getTime(), true, c.svc.config.ocspValiditySeconds);
  },
};
