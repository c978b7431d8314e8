/** Handlers for the verification tag. Named by operationId. */
import type { HandlerMap } from '../handler.js';
import { ok, principalOf } from '../handler.js';
import * as verification from '../../verification/verification.usecases.js';

/** `host:port`, with IPv6 literals bracketed. */
const target = (host: string, port: number | undefined) => `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port ?? 443}`;

/** Audit detail of a report: the verdict and its error codes. */
function verdict(r: verification.VerifyReport): string {
  return r.valid ? 'valid' : `invalid: ${[...new Set(r.errors.map((e) => e.code))].join(', ')}`;
}

export const verificationHandlers: HandlerMap = {
  async verifyChain(c) {
    const report = await verification.verifyChain(c.svc, principalOf(c), c.body);
    const leaf = report.path[0];
    c.audit(leaf ? `sha256:${leaf.fingerprintSha256}` : null, leaf ? `${leaf.subject}: ${verdict(report)}` : verdict(report));
    return ok(report);
  },
  async verifyEndpoint(c) {
    // Named before connecting, so refused and failed attempts are audited with their target too.
    c.audit(target(c.body.host, c.body.port));
    const report = await verification.verifyEndpoint(c.svc, principalOf(c), c.body);
    c.audit(target(c.body.host, c.body.port), `${report.endpoint?.address ?? ''} ${verdict(report)}`.trim());
    return ok(report);
  },
};
