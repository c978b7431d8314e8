/** Handlers for the authorities, profiles and certificates tags. Named by operationId. */
import type { HandlerMap } from '../handler.js';
import { created, noContent, ok, principalOf } from '../handler.js';
import { DomainError } from '../../errors.js';
import * as authorities from '../../authority/authorities.usecases.js';
import * as profiles from '../../authority/profiles.usecases.js';
import * as certificates from '../../authority/certificates.usecases.js';
import * as imports from '../../authority/imports.usecases.js';

const DEFAULT_LIMIT = 50;

/** `format` wins; otherwise the Accept header picks PEM or DER; JSON by default. */
function downloadFormat(format: string | undefined, accept: string): 'json' | 'pem' | 'der' | 'chain' {
  if (format) return format as 'json' | 'pem' | 'der' | 'chain';
  const a = accept.toLowerCase();
  if (!a || a.includes('application/json') || a.includes('*/*')) return 'json';
  if (a.includes('application/pkix-cert')) return 'der';
  if (a.includes('application/x-pem-file')) return 'pem';
  throw new DomainError('not_acceptable', 'acceptable types: application/json, application/x-pem-file, application/pkix-cert');
}

export const pkiHandlers: HandlerMap = {
  async listAuthorities(c) {
    return ok(await authorities.listAuthorities(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createAuthority(c) {
    const a = await authorities.createAuthority(c.svc, c.body);
    c.audit(a.id, `${a.kind} ${a.name}`);
    return created(a, { Location: `/api/v1/authorities/${a.id}` });
  },
  async getAuthority(c) {
    return ok(await authorities.getAuthority(c.svc, c.params.authorityId));
  },
  async updateAuthority(c) {
    c.audit(c.params.authorityId);
    return ok(await authorities.updateAuthority(c.svc, c.params.authorityId, c.body));
  },
  async getAuthorityCsr(c) {
    return { status: 200, body: await authorities.getAuthorityCsr(c.svc, c.params.authorityId), contentType: 'application/pkcs10' };
  },
  async activateAuthority(c) {
    c.audit(c.params.authorityId);
    return ok(await authorities.activateAuthority(c.svc, c.params.authorityId, c.body));
  },
  async getAuthorityChain(c) {
    return { status: 200, body: await authorities.getAuthorityChain(c.svc, c.params.authorityId), contentType: 'application/x-pem-file' };
  },

  async listProfiles(c) {
    return ok(await profiles.listProfiles(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createProfile(c) {
    const p = await profiles.createProfile(c.svc, c.body);
    c.audit(p.id, p.name);
    return created(p, { Location: `/api/v1/profiles/${p.id}` });
  },
  async getProfile(c) {
    return ok(await profiles.getProfile(c.svc, c.params.profileId));
  },
  async updateProfile(c) {
    c.audit(c.params.profileId);
    return ok(await profiles.updateProfile(c.svc, c.params.profileId, c.body));
  },
  async deleteProfile(c) {
    c.audit(c.params.profileId);
    await profiles.deleteProfile(c.svc, c.params.profileId);
    return noContent();
  },

  async issueCertificate(c) {
    const cert = await certificates.issueCertificate(c.svc, principalOf(c), c.body);
    c.audit(cert.id, `serial ${cert.serialNumber}`);
    return created(cert, { Location: `/api/v1/certificates/${cert.id}` });
  },
  async importCertificates(c) {
    const { result, single } = await imports.importCertificates(c.svc, principalOf(c), c.body);
    const first = result.results[0];
    if (single && first?.certificateId) {
      c.audit(first.certificateId, `external ${first.fingerprintSha256}`);
      return created(result, { Location: `/api/v1/certificates/${first.certificateId}` });
    }
    c.audit(null, `imported ${result.imported}, duplicates ${result.duplicates}, invalid ${result.invalid}`);
    return ok(result);
  },
  async listCertificates(c) {
    return ok(await certificates.listCertificates(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async getCertificate(c) {
    const format = downloadFormat(c.query.format, c.koa.get('accept'));
    if (format === 'json') return ok(await certificates.getCertificate(c.svc, c.params.certificateId));
    const d = await certificates.downloadCertificate(c.svc, c.params.certificateId, format);
    return { status: 200, body: d.body, contentType: d.contentType, headers: { 'Content-Disposition': `attachment; filename="${d.filename}"` } };
  },
  async updateCertificate(c) {
    c.audit(c.params.certificateId);
    return ok(await certificates.updateCertificate(c.svc, c.params.certificateId, c.body));
  },
  async archiveCertificate(c) {
    c.audit(c.params.certificateId);
    return ok(await certificates.archiveCertificate(c.svc, c.params.certificateId));
  },
  async renewCertificate(c) {
    c.audit(c.params.certificateId);
    const cert = await certificates.renewCertificate(c.svc, principalOf(c), c.params.certificateId, c.body ?? {});
    c.audit(c.params.certificateId, `renewed as ${cert.id}`);
    return created(cert, { Location: `/api/v1/certificates/${cert.id}` });
  },
};
