/**
 * Configuration: read from the environment once, validated, frozen. A bad value stops
 * the process at start with a message naming the variable. Every field has a safe
 * default so `npm start` works with no configuration at all.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** TCP port to listen on (CERTA_PORT, default 8080). */
  port: number;
  /** Interface to bind (CERTA_HOST, default 0.0.0.0). */
  host: string;
  /** Where the embedded SQLite file and generated secrets live (CERTA_DATA_DIR, default ./data). */
  dataDir: string;
  /** A postgres:// URL selects PostgreSQL; unset selects SQLite in dataDir (CERTA_DATABASE_URL). */
  databaseUrl: string | null;
  /** PostgreSQL pool size (CERTA_DB_POOL_SIZE, default 10). */
  dbPoolSize: number;
  /**
   * PostgreSQL: longest wait for a connection (a new one, or a free one from the pool), in ms
   * (CERTA_DB_CONNECT_TIMEOUT_MS, default 5000); past it the request answers 503.
   */
  dbConnectTimeoutMs: number;
  /**
   * PostgreSQL: a query without an answer after this long (ms) is taken for a dead connection,
   * which is closed (CERTA_DB_QUERY_TIMEOUT_MS, default 30000; 0 = wait forever). Migrations are exempt.
   */
  dbQueryTimeoutMs: number;
  /** PostgreSQL application_name of the service's sessions (CERTA_DB_APPLICATION_NAME, default certa). */
  dbApplicationName: string;
  /** Externally reachable base URL, used in certificate CRL/OCSP/caIssuers URLs (CERTA_PUBLIC_URL). */
  publicUrl: string;
  /** First-start admin (CERTA_ADMIN_EMAIL / CERTA_ADMIN_PASSWORD). */
  adminEmail: string;
  adminPassword: string | null;
  /** pino level (CERTA_LOG_LEVEL, default info). */
  logLevel: LogLevel;
  /** Base64 of a 32-byte key-encryption key (CERTA_MASTER_KEY); unset: generated into dataDir. */
  masterKey: string | null;
  /** Earlier KEKs (base64, comma-separated) still accepted for unwrapping during a rotation (CERTA_PREVIOUS_MASTER_KEYS). */
  previousMasterKeys: string[];
  /** Largest accepted request body in bytes (CERTA_BODY_LIMIT, default 1 MiB). */
  bodyLimit: number;
  /** Session lifetime in seconds (CERTA_SESSION_TTL, default 12 h). */
  sessionTtlSeconds: number;
  /** Failed logins allowed per account / per address within the window before 429. */
  loginMaxFailuresPerAccount: number;
  loginMaxFailuresPerAddress: number;
  loginWindowSeconds: number;
  /** Trust X-Forwarded-For from a load balancer (CERTA_TRUST_PROXY, default false). */
  trustProxy: boolean;
  /** Expiry sweep interval in seconds (CERTA_NOTIFY_INTERVAL, default 300). */
  notifyIntervalSeconds: number;
  /**
   * Notification channels may target http:// URLs and any host, and email may authenticate
   * without TLS (CERTA_NOTIFY_ALLOW_INSECURE_URLS, default false; for local receivers and tests).
   */
  notifyAllowInsecureUrls: boolean;
  /** Attempts before a notification delivery is marked failed (CERTA_NOTIFY_MAX_ATTEMPTS, default 8). */
  notifyMaxAttempts: number;
  /** Per-message timeout of a notification send, in ms (CERTA_NOTIFY_TIMEOUT_MS, default 10000). */
  notifyTimeoutMs: number;
  /** Background jobs (sweeps, deliveries, CRL refresh) on/off (CERTA_JOBS, default true). */
  jobsEnabled: boolean;
  /** Graceful shutdown budget in ms (CERTA_SHUTDOWN_TIMEOUT_MS, default 10000). */
  shutdownTimeoutMs: number;
  /** Lifetime of a CRL (thisUpdate to nextUpdate) in seconds (CERTA_CRL_LIFETIME, default 24 h); regenerated at half-life. */
  crlLifetimeSeconds: number;
  /** Wait after a revocation before the CRL is regenerated, so bursts make one CRL (CERTA_CRL_COALESCE_MS, default 2000). */
  crlCoalesceMs: number;
  /** From this many entries, revocations between full CRLs produce delta CRLs only (CERTA_CRL_DELTA_THRESHOLD, default 10000). */
  crlDeltaThreshold: number;
  /** Validity of an OCSP response (nextUpdate - thisUpdate) in seconds (CERTA_OCSP_VALIDITY, default 3600). */
  ocspValiditySeconds: number;
  /** How long a pre-signed OCSP response is reused, in seconds (CERTA_OCSP_CACHE_SECONDS, default 60; 0 disables). */
  ocspCacheSeconds: number;
  /** Lifetime of the delegated OCSP responder certificates in days (CERTA_OCSP_RESPONDER_DAYS, default 30; renewed at one third left). */
  ocspResponderDays: number;
  /** Hosts/networks verifyEndpoint may connect to, and those it must not (CERTA_VERIFY_ALLOW / CERTA_VERIFY_DENY, comma-separated). */
  verifyAllow: string[];
  verifyDeny: string[];
  /**
   * Loopback, link-local and cloud metadata hosts/networks that verifyEndpoint and
   * notification channels may reach anyway (CERTA_TARGET_ALLOW, comma-separated, default
   * none: labs and tests open 127.0.0.0/8 here). The deny list still wins.
   */
  targetAllow: string[];
  /**
   * Worker threads that build and validate paths for larger or untrusted chains, off the
   * event loop (CERTA_VERIFY_WORKERS, default: one less than the cores, 1 to 4).
   */
  verifyWorkers: number;
  /** Verifications waiting for a worker before the next one is refused with 503 (CERTA_VERIFY_QUEUE, default 64). */
  verifyQueue: number;
  /** Time budget of one verification in a worker, in ms; past it the worker is replaced and the request gets 503 (CERTA_VERIFY_TIMEOUT_MS, default 2000). */
  verifyTimeoutMs: number;
  /**
   * Open client connections at most (CERTA_MAX_CONNECTIONS, default 0 = derived from the
   * open-files limit, leaving room for the database and files). At the cap, the oldest
   * connection with no request in progress makes way for the new one.
   */
  maxConnections: number;
  /** Time a client has to send the request line and headers, in ms (CERTA_HEADERS_TIMEOUT_MS, default 10000). */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request, body included, in ms (CERTA_REQUEST_TIMEOUT_MS, default 30000). */
  requestTimeoutMs: number;
  /** Where the documentation site is published, linked from `GET /` (CERTA_DOCS_URL, default unset). */
  docsUrl: string | null;
  /** Idle time of a keep-alive connection, in ms (CERTA_KEEP_ALIVE_TIMEOUT_MS, default 65000: above the 60 s idle timeout of AWS load balancers). */
  keepAliveTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(variable: string, message: string) {
    super(`invalid configuration: ${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, def: string): string {
  const v = env[name];
  return v === undefined || v === '' ? def : v;
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function list(env: Env, name: string, def: string[]): string[] {
  const raw = env[name];
  if (raw === undefined) return def;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A list of host names, addresses and CIDR ranges (network targets); each entry checked. */
function targets(env: Env, name: string, def: string[]): string[] {
  const entries = list(env, name, def);
  for (const e of entries) {
    const [addr, bits, extra] = e.split('/');
    const family = isIP(addr);
    if (extra !== undefined || (bits !== undefined && (family === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > (family === 6 ? 128 : 32)))) {
      throw new ConfigError(name, `"${e}" is not a valid CIDR range (address/prefix-length)`);
    }
    if (family === 0 && !/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/i.test(addr)) throw new ConfigError(name, `"${e}" is neither an address, a CIDR range nor a host name`);
  }
  return entries;
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const port = int(env, 'CERTA_PORT', 8080, 0, 65535);
  const host = str(env, 'CERTA_HOST', '0.0.0.0');
  const databaseUrl = env.CERTA_DATABASE_URL ? env.CERTA_DATABASE_URL : null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('CERTA_DATABASE_URL', 'must be a postgres:// or postgresql:// URL (leave unset for the embedded SQLite)');
  }
  const publicUrl = str(env, 'CERTA_PUBLIC_URL', `http://localhost:${port || 8080}`).replace(/\/+$/, '');
  try {
    const u = new URL(publicUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ConfigError('CERTA_PUBLIC_URL', `must be an absolute http(s) URL, got "${publicUrl}"`);
  }
  const logLevel = str(env, 'CERTA_LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('CERTA_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  const adminEmail = str(env, 'CERTA_ADMIN_EMAIL', 'admin@certa.local').toLowerCase();
  if (!/^[^@\s]+@[^@\s]+$/.test(adminEmail)) throw new ConfigError('CERTA_ADMIN_EMAIL', 'must be an email address');
  const adminPassword = env.CERTA_ADMIN_PASSWORD ? env.CERTA_ADMIN_PASSWORD : null;
  if (adminPassword !== null && adminPassword.length < 12) throw new ConfigError('CERTA_ADMIN_PASSWORD', 'must be at least 12 characters');
  const masterKey = env.CERTA_MASTER_KEY ? env.CERTA_MASTER_KEY : null;
  if (masterKey !== null && Buffer.from(masterKey, 'base64').length !== 32) {
    throw new ConfigError('CERTA_MASTER_KEY', 'must be the base64 encoding of exactly 32 bytes (openssl rand -base64 32)');
  }
  const dbApplicationName = str(env, 'CERTA_DB_APPLICATION_NAME', 'certa');
  if (!/^[\x20-\x7e]{1,63}$/.test(dbApplicationName)) throw new ConfigError('CERTA_DB_APPLICATION_NAME', 'must be 1 to 63 printable ASCII characters');
  const previousMasterKeys = list(env, 'CERTA_PREVIOUS_MASTER_KEYS', []);
  for (const k of previousMasterKeys) {
    if (Buffer.from(k, 'base64').length !== 32) throw new ConfigError('CERTA_PREVIOUS_MASTER_KEYS', 'each entry must be the base64 of exactly 32 bytes');
  }
  const config: Config = {
    port,
    host,
    dataDir: resolve(str(env, 'CERTA_DATA_DIR', './data')),
    databaseUrl,
    dbPoolSize: int(env, 'CERTA_DB_POOL_SIZE', 10, 1, 1000),
    dbConnectTimeoutMs: int(env, 'CERTA_DB_CONNECT_TIMEOUT_MS', 5000, 100, 600_000),
    dbQueryTimeoutMs: int(env, 'CERTA_DB_QUERY_TIMEOUT_MS', 30_000, 0, 3_600_000),
    dbApplicationName,
    publicUrl,
    adminEmail,
    adminPassword,
    logLevel,
    masterKey,
    previousMasterKeys,
    bodyLimit: int(env, 'CERTA_BODY_LIMIT', 1024 * 1024, 1024, 512 * 1024 * 1024),
    sessionTtlSeconds: int(env, 'CERTA_SESSION_TTL', 12 * 3600, 60, 30 * 24 * 3600),
    loginMaxFailuresPerAccount: int(env, 'CERTA_LOGIN_MAX_FAILURES', 5, 1, 1000),
    loginMaxFailuresPerAddress: int(env, 'CERTA_LOGIN_MAX_FAILURES_PER_ADDRESS', 20, 1, 100000),
    loginWindowSeconds: int(env, 'CERTA_LOGIN_WINDOW', 15 * 60, 1, 24 * 3600),
    trustProxy: bool(env, 'CERTA_TRUST_PROXY', false),
    notifyIntervalSeconds: int(env, 'CERTA_NOTIFY_INTERVAL', 300, 1, 7 * 24 * 3600),
    notifyAllowInsecureUrls: bool(env, 'CERTA_NOTIFY_ALLOW_INSECURE_URLS', false),
    notifyMaxAttempts: int(env, 'CERTA_NOTIFY_MAX_ATTEMPTS', 8, 1, 100),
    notifyTimeoutMs: int(env, 'CERTA_NOTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
    jobsEnabled: bool(env, 'CERTA_JOBS', true),
    shutdownTimeoutMs: int(env, 'CERTA_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    crlLifetimeSeconds: int(env, 'CERTA_CRL_LIFETIME', 24 * 3600, 300, 90 * 24 * 3600),
    crlCoalesceMs: int(env, 'CERTA_CRL_COALESCE_MS', 2000, 0, 3_600_000),
    crlDeltaThreshold: int(env, 'CERTA_CRL_DELTA_THRESHOLD', 10_000, 1, 100_000_000),
    ocspValiditySeconds: int(env, 'CERTA_OCSP_VALIDITY', 3600, 60, 7 * 24 * 3600),
    ocspCacheSeconds: int(env, 'CERTA_OCSP_CACHE_SECONDS', 60, 0, 24 * 3600),
    ocspResponderDays: int(env, 'CERTA_OCSP_RESPONDER_DAYS', 30, 2, 3650),
    verifyAllow: targets(env, 'CERTA_VERIFY_ALLOW', []),
    verifyDeny: targets(env, 'CERTA_VERIFY_DENY', ['169.254.0.0/16', 'fd00:ec2::254/128', '100.100.100.200/32']),
    targetAllow: targets(env, 'CERTA_TARGET_ALLOW', []),
    // One core stays with the event loop (health checks, OCSP) when there is more than one.
    verifyWorkers: int(env, 'CERTA_VERIFY_WORKERS', Math.min(4, Math.max(1, availableParallelism() - 1)), 1, 64),
    verifyQueue: int(env, 'CERTA_VERIFY_QUEUE', 64, 0, 100_000),
    verifyTimeoutMs: int(env, 'CERTA_VERIFY_TIMEOUT_MS', 2000, 50, 600_000),
    maxConnections: int(env, 'CERTA_MAX_CONNECTIONS', 0, 0, 1_000_000),
    headersTimeoutMs: int(env, 'CERTA_HEADERS_TIMEOUT_MS', 10_000, 1000, 600_000),
    requestTimeoutMs: int(env, 'CERTA_REQUEST_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    keepAliveTimeoutMs: int(env, 'CERTA_KEEP_ALIVE_TIMEOUT_MS', 65_000, 1000, 3_600_000),
    docsUrl: env.CERTA_DOCS_URL ? env.CERTA_DOCS_URL : null,
  };
  if (config.docsUrl !== null && !/^https?:\/\/[^\s"<>]+$/.test(config.docsUrl)) throw new ConfigError('CERTA_DOCS_URL', `must be an absolute http(s) URL, got "${config.docsUrl}"`);
  // Node refuses a headers timeout longer than the whole-request timeout.
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError('CERTA_HEADERS_TIMEOUT_MS', `must not exceed CERTA_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`);
  }
  return Object.freeze(config);
}
