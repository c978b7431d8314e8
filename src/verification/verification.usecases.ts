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
import tls from 'node:tls';
import type { Principal, Services } from '../context.js';
import { DomainError, badCertificate, badRequest } from '../errors.js';
import type { Schemas } from '../spec.js';
import { canonicalHost, TargetGuard } from '../notify/target-guard.js';
import { parseCertificateBundle, parseCrlBundle, verifyChain as runEngine, type PeerName, type VerifyInput } from '../pki/verify/index.js';
import { pemEncode } from '../pki/x509.js';
import { captureEndpoint } from './endpoint.js';
import { internalPki } from './internal-trust.js';

type VerifyChainRequest = Schemas['VerifyChainRequest'];
type VerifyEndpointRequest = Schemas['VerifyEndpointRequest'];
type TrustSource = Schemas['TrustSource'];
export type VerifyReport = Schemas['VerifyReport'];

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const stripBrackets = (host: string) => host.trim().replace(/^\[(.*)\]$/, '$1');

/** Runs `fn`, attaching `field` to the 4xx DomainErrors it throws (so the problem names the offending field). */
function inField<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DomainError && !e.errors?.length && (e.code === 'bad_certificate' || e.code === 'bad_request')) {
      throw new DomainError(e.code, e.message, [{ field, message: e.message }]);
    }
    throw e;
  }
}

/** A PEM text stays text; anything else must be base64 DER. */
function pemOrBase64(s: string, what: string): string | Uint8Array {
  if (s.includes('-----BEGIN')) return s;
  const b64 = s.replace(/\s+/g, '');
  if (!b64 || !BASE64.test(b64) || b64.length % 4 !== 0) throw badCertificate(`${what} is neither PEM (-----BEGIN CERTIFICATE-----) nor base64 DER`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function parseCertificates(input: string | string[], field: string, what: string): Uint8Array[] {
  return inField(field, () => {
    const parts = typeof input === 'string' ? [input] : input;
    const items = parts.map((s, i) => pemOrBase64(s, parts.length > 1 ? `${what} item #${i + 1}` : what));
    return parseCertificateBundle(items.length === 1 ? items[0] : items, what);
  });
}

// ---------------------------------------------------------------------------------------
// Trust sources

let systemRootsCache: Uint8Array[] | undefined;

/** Node's bundled public roots as DER, parsed once (a root the engine cannot parse is left out). */
function systemRoots(): Uint8Array[] {
  if (!systemRootsCache) {
    const out: Uint8Array[] = [];
    for (const pem of tls.rootCertificates) {
      try {
        out.push(...parseCertificateBundle(pem, 'system root'));
      } catch {
        // Not usable as an anchor by this engine; the other roots still are.
      }
    }
    systemRootsCache = out;
  }
  return systemRootsCache;
}

function trustSources(requested: TrustSource[] | undefined, defaults: TrustSource[], trustAnchors: string | undefined): TrustSource[] {
  if (requested === undefined) return trustAnchors ? [...new Set<TrustSource>([...defaults, 'supplied'])] : defaults;
  if (trustAnchors && !requested.includes('supplied')) {
    throw badRequest('trustAnchors are only used when trust includes "supplied"', [{ field: '/body/trust', message: 'add "supplied" to use trustAnchors' }]);
  }
  return requested;
}

interface RunOptions {
  leaf: Uint8Array;
  intermediates: Uint8Array[];
  trust: TrustSource[];
  supplied: Uint8Array[];
  peerNames: PeerName[];
  purpose?: VerifyInput['purpose'];
  mode?: VerifyInput['mode'];
  at: Date;
  maxDepth?: number;
  requireExtKeyUsage?: boolean;
  crls: Uint8Array[];
  checkRevocation: boolean;
}

async function run(svc: Services, o: RunOptions): Promise<VerifyReport> {
  const internal = o.trust.includes('internal') || o.checkRevocation ? await internalPki(svc) : undefined;
  const anchors: Uint8Array[] = [];
  const intermediates = [...o.intermediates];
  if (o.trust.includes('internal')) {
    anchors.push(...internal!.anchors);
    intermediates.push(...internal!.intermediates);
  }
  if (o.trust.includes('supplied')) anchors.push(...o.supplied);
  if (o.trust.includes('system')) anchors.push(...systemRoots());
  const report = await runEngine({
    leaf: o.leaf,
    intermediates,
    trustAnchors: anchors,
    at: o.at,
    purpose: o.purpose,
    peerName: o.peerNames[0],
    extraPeerNames: o.peerNames.slice(1),
    mode: o.mode ?? 'webpki',
    maxDepth: o.maxDepth,
    requireExtKeyUsage: o.requireExtKeyUsage,
    crls: o.checkRevocation ? o.crls : [],
    revocationLookup: o.checkRevocation ? internal!.revocation : undefined,
  });
  return report;
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
  // Step 1: parse everything the caller sent (400 on anything unusable).
  const certs = parseCertificates(input.certificates, '/body/certificates', 'certificates');
  const trust = trustSources(input.trust, ['internal', 'supplied'], input.trustAnchors);
  const supplied = input.trustAnchors ? parseCertificates(input.trustAnchors, '/body/trustAnchors', 'trustAnchors') : [];
  const crls = (input.crls ?? []).flatMap((c, i) =>
    inField(`/body/crls/${i}`, () => {
      const item = c.includes('-----BEGIN') ? c : pemOrBase64(c, `CRL #${i + 1}`);
      return parseCrlBundle(item, `CRL #${i + 1}`);
    }),
  );
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
  // Step 2: validate.
  return run(svc, {
    leaf: certs[0],
    intermediates: certs.slice(1),
    trust,
    supplied,
    peerNames,
    purpose: input.purpose,
    mode: input.mode,
    at: input.at ? new Date(input.at) : svc.clock.now(),
    maxDepth: input.maxDepth,
    requireExtKeyUsage: input.requireExtKeyUsage,
    crls,
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
  const supplied = input.trustAnchors ? parseCertificates(input.trustAnchors, '/body/trustAnchors', 'trustAnchors') : [];
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
  let chain: Uint8Array[];
  try {
    chain = parseCertificateBundle(captured.chain.map((d) => new Uint8Array(d)), 'presented chain');
  } catch (e) {
    throw new DomainError('upstream_error', `${host}:${port} presented an unusable certificate: ${e instanceof Error ? e.message : String(e)}`);
  }

  // Step 4: validate it as a TLS server certificate for the name.
  const report = await run(svc, {
    leaf: chain[0],
    intermediates: chain.slice(1),
    trust,
    supplied,
    peerNames: [peerName],
    purpose: input.purpose ?? 'serverAuth',
    mode: input.mode,
    at: svc.clock.now(),
    requireExtKeyUsage: input.requireExtKeyUsage,
    crls: [],
    checkRevocation: true,
  });
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
