/**
 * Verification use-cases: validate a submitted chain (`verifyChain`) or the chain a live
 * TLS endpoint presents (`verifyEndpoint`) with the path-validation engine
 * (`src/pki/verify`), against Certa's own authorities, supplied anchors and/or Node's
 * bundled public roots, consulting Certa's revocation records.
 *
 * Unusable input (not a certificate, truncated DER, bad parameters) is a 400 problem; any
 * validation outcome, including "no anchor at all", is a 200 report.
 */
import { isIP } from 'node:net';
import type { Principal, Services } from '../context.js';
import { DomainError, badRequest } from '../errors.js';
import type { Schemas } from '../spec.js';
import { canonicalHost, TargetGuard } from '../notify/target-guard.js';
import type { PeerName } from '../pki/verify/index.js';
import { pemEncode } from '../pki/x509.js';
import { captureEndpoint } from './endpoint.js';
import { internalPki } from './internal-trust.js';
import { verifyPool } from './verification.module.js';
import { REQUEST_LIMITS, isSmall, parseCertificates, runVerifyJob, type VerifyJob } from './verify.job.js';

type VerifyChainRequest = Schemas['VerifyChainRequest'];
type VerifyEndpointRequest = Schemas['VerifyEndpointRequest'];
type TrustSource = Schemas['TrustSource'];
export type VerifyReport = Schemas['VerifyReport'];

const stripBrackets = (host: string) => host.trim().replace(/^\[(.*)\]$/, '$1');

function trustSources(requested: TrustSource[] | undefined, defaults: TrustSource[], trustAnchors: string | undefined): TrustSource[] {
  if (requested === undefined) return trustAnchors ? [...new Set<TrustSource>([...defaults, 'supplied'])] : defaults;
  if (trustAnchors && !requested.includes('supplied')) {
    throw badRequest('trustAnchors are only used when trust includes "supplied"', [{ field: '/body/trust', message: 'add "supplied" to use trustAnchors' }]);
  }
  return requested;
}

/**
 * Adds Certa's trust material to the job and runs it: a small input on the event loop (it
 * costs well under a millisecond, less than the hand-off), anything larger in the worker
 * pool, where a costly search cannot hold up other requests.
 */
async function run(svc: Services, job: VerifyJob): Promise<VerifyReport> {
  const internal = job.trust.includes('internal') || job.checkRevocation ? await internalPki(svc) : undefined;
  const full: VerifyJob = job.trust.includes('internal') ? { ...job, internal: { anchors: internal!.anchors, intermediates: internal!.intermediates } } : job;
  const lookup = job.checkRevocation ? internal!.revocation : undefined;
  return isSmall(job) ? runVerifyJob(full, lookup) : verifyPool(svc).run(full, lookup);
}

function nameOf(value: string, field: string): PeerName {
  const v = stripBrackets(value);
  if (isIP(v)) return { kind: 'ip', value: v };
  if (!v || /[\s/@]/.test(v)) throw badRequest(`"${value}" is not a host name`, [{ field, message: 'a DNS name or an IP address' }]);
  return { kind: 'dns', value: v };
}

// ---------------------------------------------------------------------------------------
// Use-cases

/** Validates a submitted chain. */
export async function verifyChain(svc: Services, _principal: Principal, input: VerifyChainRequest): Promise<VerifyReport> {
  // Step 1: check the parameters (400 on anything unusable); certificates and CRLs are parsed with the job.
  const trust = trustSources(input.trust, ['internal', 'supplied'], input.trustAnchors);
  const peerNames: PeerName[] = [];
  if (input.hostname) peerNames.push(nameOf(input.hostname, '/body/hostname'));
  if (input.ip) {
    const ip = stripBrackets(input.ip);
    if (!isIP(ip)) throw badRequest(`"${input.ip}" is not an IP address`, [{ field: '/body/ip', message: 'an IPv4 or IPv6 address' }]);
    peerNames.push({ kind: 'ip', value: ip });
  }
  if (input.email) {
    if (!/^[^@\s]+@[^@\s]+$/.test(input.email)) throw badRequest(`"${input.email}" is not an email address`, [{ field: '/body/email', message: 'an email address' }]);
    peerNames.push({ kind: 'email', value: input.email });
  }
  // Step 2: parse and validate.
  return run(svc, {
    certificates: input.certificates,
    certificatesField: '/body/certificates',
    certificatesWhat: 'certificates',
    trustAnchors: input.trustAnchors,
    crls: input.crls,
    trust,
    peerNames,
    purpose: input.purpose,
    mode: input.mode,
    at: input.at ? new Date(input.at) : svc.clock.now(),
    maxDepth: input.maxDepth,
    requireExtKeyUsage: input.requireExtKeyUsage,
    checkRevocation: input.checkRevocation ?? true,
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DomainError('upstream_error', message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Connects to a TLS endpoint (if the target is allowed), captures its chain and validates it. */
export async function verifyEndpoint(svc: Services, _principal: Principal, input: VerifyEndpointRequest): Promise<VerifyReport> {
  const host = stripBrackets(input.host);
  const port = input.port ?? 443;
  const timeoutMs = input.timeoutMs ?? 5000;
  if (!host || (!isIP(host) && /[\s/@:]/.test(host))) throw badRequest(`"${input.host}" is not a host name or an IP address (give the port in "port")`, [{ field: '/body/host', message: 'a host name or an IP address' }]);
  if (input.servername && isIP(stripBrackets(input.servername))) {
    throw badRequest('servername (SNI) cannot be an IP address', [{ field: '/body/servername', message: 'a DNS name' }]);
  }
  // Step 1: everything that does not need the network (400s come before any connection).
  const trust = trustSources(input.trust, ['internal', 'system'], input.trustAnchors);
  const supplied = input.trustAnchors ? parseCertificates(input.trustAnchors, '/body/trustAnchors', 'trustAnchors', REQUEST_LIMITS.trustAnchors) : undefined;
  const peerName = nameOf(input.hostname || input.servername || host, input.hostname ? '/body/hostname' : input.servername ? '/body/servername' : '/body/host');

  // Step 2: resolve once and check the name and every address against the allow/deny lists.
  const guard = new TargetGuard(svc.config.verifyDeny, undefined, { allow: svc.config.verifyAllow, open: svc.config.targetAllow, noun: 'verification target' });
  const started = Date.now();
  let resolved: { addresses: string[]; denied: string | null };
  try {
    resolved = await withTimeout(guard.resolve(host), timeoutMs, `resolving ${host} took longer than ${timeoutMs} ms`);
  } catch (e) {
    if (e instanceof DomainError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new DomainError('upstream_error', `${host} could not be resolved${code ? ` (${code})` : ''}`);
  }
  if (resolved.denied) throw new DomainError('target_not_allowed', resolved.denied);

  // Step 3: connect to the checked addresses (never the name again) and capture the chain.
  const captured = await captureEndpoint({
    host,
    addresses: resolved.addresses,
    port,
    // No SNI for an address, in any of its written forms (2130706433 is 127.0.0.1).
    servername: input.servername || (canonicalHost(host).ip !== null ? undefined : host),
    timeoutMs,
    deadline: started + timeoutMs,
  }).catch((e: unknown) => {
    // The caller gets one message for every failure (no port scanning); the log gets why.
    if (e instanceof DomainError && e.cause) svc.log.debug({ target: `${host}:${port}`, reason: e.cause }, 'verifyEndpoint: no TLS handshake');
    throw e;
  });
  // Step 4: validate it as a TLS server certificate for the name (parsed with the job:
  // a server may present any number of certificates).
  let report: VerifyReport;
  try {
    report = await run(svc, {
      certificates: captured.chain.map((d) => new Uint8Array(d)),
      certificatesField: '',
      certificatesWhat: 'presented chain',
      trustAnchors: supplied,
      trust,
      peerNames: [peerName],
      purpose: input.purpose ?? 'serverAuth',
      mode: input.mode,
      at: svc.clock.now(),
      requireExtKeyUsage: input.requireExtKeyUsage,
      checkRevocation: true,
    });
  } catch (e) {
    // What the server presented is not the caller's input: unusable is an upstream failure.
    if (e instanceof DomainError && (e.code === 'bad_certificate' || (e.code === 'bad_request' && e.errors?.[0]?.field === ''))) {
      throw new DomainError('upstream_error', `${host}:${port} presented an unusable certificate chain: ${e.message}`);
    }
    throw e;
  }
  return {
    ...report,
    endpoint: {
      host,
      port,
      address: captured.address,
      protocol: captured.protocol,
      cipher: captured.cipher,
      presentedChain: captured.chain.map((d) => pemEncode(d, 'CERTIFICATE')),
    },
  };
}

/**
 * The verification status of a certificate imported into the inventory: the chain it came
 * with as path-building candidates, any purpose, RFC 5280 rules (an internal certificate
 * need not follow the web PKI's), at `at`. Same engine, trust material and pool as
 * `verifyChain`; unusable input is a 400 like there.
 */
export async function verifyImported(
  svc: Services,
  input: { leaf: Uint8Array; intermediates: Uint8Array[]; trust?: TrustSource[]; trustAnchors?: Uint8Array[]; at: Date },
): Promise<{ report: VerifyReport; trust: TrustSource[] }> {
  const supplied = input.trustAnchors?.length ? input.trustAnchors : undefined;
  const trust = trustSources(input.trust, ['internal', 'system'], supplied ? 'supplied' : undefined);
  const report = await run(svc, {
    certificates: [input.leaf, ...input.intermediates.slice(0, REQUEST_LIMITS.certificates - 1)],
    certificatesField: '/body',
    certificatesWhat: 'certificate',
    trustAnchors: supplied,
    trust,
    peerNames: [],
    purpose: 'any',
    mode: 'rfc5280',
    at: input.at,
    checkRevocation: true,
  });
  return { report, trust };
}
