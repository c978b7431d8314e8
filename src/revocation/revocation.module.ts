/**
 * Wires revocation into the App: the CRL job, the OCSP responder, and the event
 * subscriptions that refresh both right after a revocation.
 */
import type { Services } from '../context.js';
import { CrlJob } from './crl.service.js';
import { OcspService } from './ocsp.service.js';

export interface Revocation {
  crlJob: CrlJob;
  ocsp: OcspService;
}

export function setupRevocation(svc: Services): Revocation {
  const crlJob = new CrlJob(svc);
  const ocsp = new OcspService(svc);
  svc.events.on((e) => {
    if (e.type === 'certificate.revoked' || e.type === 'certificate.hold-lifted') {
      ocsp.invalidate(e.authorityId);
      crlJob.poke();
    } else if (e.type === 'authority.revoked') {
      ocsp.invalidate(e.parentId);
      crlJob.poke();
    }
  });
  return { crlJob, ocsp };
}
