/**
 * TLS capture for `verifyEndpoint`: connect to an already checked address (never a name,
 * so DNS cannot answer differently than when the target was checked), complete a
 * handshake without judging the certificate, and take what the server presented.
 *
 * The whole attempt (TCP connect and TLS handshake, over every address tried) is bounded
 * by one deadline, and every socket is destroyed whatever happens.
 *
 * Every failure before a completed handshake (refused, reset, closed, timed out, not TLS)
 * gets the same message, so the endpoint cannot be used to scan ports; the precise reason
 * travels as the error's `cause`, for the server log only.
 */
import tls from 'node:tls';
import { DomainError } from '../errors.js';

export interface CaptureOptions {
  /** The name the caller asked for (for messages only). */
  host: string;
  /** Addresses `host` resolved to and that passed the target checks, in preference order. */
  addresses: readonly string[];
  port: number;
  /** SNI to send; omitted when undefined (never an IP address). */
  servername?: string;
  /** The caller's budget. */
  timeoutMs: number;
  /** When the budget ends (epoch ms), if part of it was already spent (e.g. on DNS); default now + timeoutMs. */
  deadline?: number;
}

export interface CapturedEndpoint {
  /** The address the handshake completed with. */
  address: string;
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** Negotiated cipher suite (IANA name when known). */
  cipher: string | null;
  /** DER certificates as presented, leaf first. */
  chain: Buffer[];
}

/** `reason` is for the server log; callers only ever see `handshakeFailed`. */
type Failure = { kind: 'connect' | 'tls' | 'timeout'; reason: string };

/** The one message for a target that did not complete a handshake, whatever the reason. */
export const handshakeFailed = (host: string, port: number) => `could not complete a TLS handshake with ${host}:${port}`;

/** The presented chain: the peer certificate, then its issuers as the server sent them (self-loops end the walk). */
function presentedChain(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert && cert.raw && cert.raw.length > 0) {
    const key = cert.fingerprint256 ?? cert.raw.toString('base64');
    if (seen.has(key)) break;
    seen.add(key);
    out.push(Buffer.from(cert.raw));
    const next: tls.DetailedPeerCertificate | undefined = cert.issuerCertificate;
    if (!next || next === cert) break;
    cert = next;
  }
  return out;
}

function attempt(address: string, o: CaptureOptions, deadline: number): Promise<CapturedEndpoint | Failure> {
  return new Promise((resolve) => {
    let settled = false;
    let phase: 'connect' | 'tls' = 'connect';
    const socket = tls.connect({
      host: address,
      port: o.port,
      servername: o.servername,
      rejectUnauthorized: false,
    });
    const finish = (result: CapturedEndpoint | Failure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ kind: 'timeout', reason: `${address}: no handshake within ${o.timeoutMs} ms` }),
      Math.max(0, deadline - Date.now()),
    );
    socket.once('connect', () => {
      phase = 'tls';
    });
    socket.once('secureConnect', () => {
      try {
        const cipher = socket.getCipher();
        finish({
          address,
          protocol: socket.getProtocol() ?? null,
          cipher: cipher ? (cipher.standardName ?? cipher.name) : null,
          chain: presentedChain(socket),
        });
      } catch (e) {
        finish({ kind: 'tls', reason: `${address}: could not read what was presented: ${e instanceof Error ? e.message : String(e)}` });
      }
    });
    // `on`, not `once`: a second error event must not go unhandled (finish ignores it).
    socket.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message;
      finish(
        phase === 'connect'
          ? { kind: 'connect', reason: `${address}: connect failed: ${why}` }
          : { kind: 'tls', reason: `${address}: handshake failed: ${why}` },
      );
    });
    socket.once('close', () => {
      finish(
        phase === 'connect'
          ? { kind: 'connect', reason: `${address}: connection closed` }
          : { kind: 'tls', reason: `${address}: closed during the handshake` },
      );
    });
  });
}

/**
 * Connects to the addresses in turn (the next one only when the previous refused the TCP
 * connection) and returns what the first completed handshake presented. Failures are
 * `upstream_error` problems (502) saying `handshakeFailed`.
 */
export async function captureEndpoint(o: CaptureOptions): Promise<CapturedEndpoint> {
  const deadline = o.deadline ?? Date.now() + o.timeoutMs;
  let last: Failure = { kind: 'connect', reason: 'no address to connect to' };
  for (const address of o.addresses) {
    const r = await attempt(address, o, deadline);
    if (!('kind' in r)) {
      if (r.chain.length === 0) throw new DomainError('upstream_error', `${o.host}:${o.port} presented no certificate`);
      return r;
    }
    last = r;
    if (r.kind !== 'connect' || Date.now() >= deadline) break;
  }
  throw Object.assign(new DomainError('upstream_error', handshakeFailed(o.host, o.port)), { cause: last.reason });
}
