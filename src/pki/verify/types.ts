/**
 * Public types of the path-validation engine. The report shape and the code unions are
 * part of the public API: `VERIFY_ERROR_CODES` / `VERIFY_WARNING_CODES` are mirrored by
 * enums in the OpenAPI spec, so only ever append to them.
 */
import type { KeyUsageName } from './certificate.js';

export const VERIFY_ERROR_CODES = [
  'expired',
  'notYetValid',
  'untrustedRoot',
  'badSignature',
  'nameMismatch',
  'nameConstraintViolation',
  'pathLenExceeded',
  'notACa',
  'keyUsage',
  'extKeyUsage',
  'revoked',
  'unknownCriticalExtension',
  'chainTooLong',
  'malformed',
  'policyViolation',
  'weakKey',
  'crlInvalid',
  /** webpki TLS: the leaf's commonName is not a verbatim copy of one of its SANs (CABF 7.1.4.3). */
  'commonNameNotInSan',
  /** webpki TLS: a wildcard SAN directly under a public suffix, e.g. `*.co.uk` (CABF 3.2.2.6). */
  'wildcardPublicSuffix',
] as const;
export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

export const VERIFY_WARNING_CODES = [
  /** RSA keys below 2048 bits (rfc5280 mode; webpki rejects them). */
  'weakKey',
  /** SHA-1 (or weaker) signatures (rfc5280 mode; webpki rejects them). */
  'sha1Signature',
  /** A certificate on the path expires within 30 days of the validation time. */
  'expiringSoon',
  /** A supplied CRL could not be parsed and was ignored. */
  'crlIgnored',
  /**
   * rfc5280 mode: the leaf's host-name commonName is not one of its subjectAltNames
   * (tolerated there; webpki TLS refuses it with the error of the same name).
   */
  'commonNameNotInSan',
  /** The path-building budget ran out before every candidate path was tried. */
  'budgetExhausted',
] as const;
export type VerifyWarningCode = (typeof VERIFY_WARNING_CODES)[number];

export const VERIFY_MODES = ['webpki', 'rfc5280'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];

export const PURPOSES = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'any'] as const;
export type Purpose = (typeof PURPOSES)[number];

export interface PeerName {
  kind: 'dns' | 'ip' | 'email';
  value: string;
}

export interface RevocationStatus {
  revoked: boolean;
  /** RFC 5280 reason name, e.g. `keyCompromise`. */
  reason?: string;
  revokedAt?: Date;
}

/**
 * Looks up revocation records the caller keeps (e.g. Certa's own issuance database).
 * Return undefined when the certificate is unknown to you.
 */
export type RevocationLookup = (
  issuerDer: Uint8Array,
  serialHex: string,
) => RevocationStatus | undefined | Promise<RevocationStatus | undefined>;

export interface VerifyInput {
  /** The end-entity certificate (DER). */
  leaf: Uint8Array;
  /** Untrusted intermediates (DER), in any order; irrelevant ones are ignored. */
  intermediates?: Uint8Array[];
  /** Trust anchors (DER certificates). */
  trustAnchors: Uint8Array[];
  /** The validation time. */
  at: Date;
  /**
   * Required extended key usage: a well-known purpose or a list of EKU OIDs that must all
   * be present. Default: derived from `peerName` (dns/ip -> serverAuth, email ->
   * emailProtection), else `any`.
   */
  purpose?: Purpose | string[];
  /** The identity the leaf must be valid for (matched against subjectAltName only). */
  peerName?: PeerName;
  /** Additional identities that must all match (e.g. several mailboxes for S/MIME). */
  extraPeerNames?: PeerName[];
  /** `webpki`: RFC 5280 plus the CA/Browser Forum profile; `rfc5280`: RFC 5280 only. */
  mode: VerifyMode;
  /** Maximum number of intermediates (self-issued ones excluded); default 8, values above 32 are capped. */
  maxDepth?: number;
  /** CRLs (DER) to consult; a CRL issued by a CA on the path is authoritative for it. */
  crls?: Uint8Array[];
  /** Caller-side revocation records, consulted for every non-anchor certificate. */
  revocationLookup?: RevocationLookup;
  /**
   * The leaf must carry an extKeyUsage extension (CABF 7.1.2.7.6 requires one in subscriber
   * certificates; RFC 5280 reads its absence as "any purpose", the default here).
   */
  requireExtKeyUsage?: boolean;
  /** Key usages the leaf must assert (when it has a keyUsage extension). */
  requiredKeyUsages?: KeyUsageName[];
  /**
   * Restrict acceptable signature algorithms (labels like `ECDSA with SHA-256`, or OIDs).
   * Default: every algorithm the mode allows.
   */
  signatureAlgorithms?: string[];
}

export interface PathEntry {
  subject: string;
  issuer: string;
  serialNumber: string;
  fingerprintSha256: string;
  notBefore: string;
  notAfter: string;
}

export interface CheckResult {
  name: CheckName;
  passed: boolean;
  detail?: string;
}

export interface Finding<C extends string> {
  code: C;
  message: string;
  /** Index in `path` (0 = leaf). */
  certificateIndex?: number;
}

export interface VerifyReport {
  valid: boolean;
  mode: VerifyMode;
  /** The rule sets that were applied, e.g. `rfc5280`, `cabf-tls-br`, `cabf-smime-br`. */
  rules: string[];
  /** The validated path (leaf first, trust anchor last), or the closest failing candidate. */
  path: PathEntry[];
  checks: CheckResult[];
  errors: Array<Finding<VerifyErrorCode>>;
  warnings: Array<Finding<VerifyWarningCode>>;
}

export const CHECK_NAMES = [
  'pathBuilding',
  'signatures',
  'validityPeriod',
  'wellFormed',
  'basicConstraints',
  'pathLength',
  'chainDepth',
  'keyUsage',
  'extendedKeyUsage',
  'nameConstraints',
  'criticalExtensions',
  'algorithms',
  'profile',
  'peerName',
  'revocation',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** Which check each error code belongs to. */
export const CHECK_OF_ERROR: Record<VerifyErrorCode, CheckName> = {
  untrustedRoot: 'pathBuilding',
  badSignature: 'signatures',
  expired: 'validityPeriod',
  notYetValid: 'validityPeriod',
  malformed: 'wellFormed',
  notACa: 'basicConstraints',
  pathLenExceeded: 'pathLength',
  chainTooLong: 'chainDepth',
  keyUsage: 'keyUsage',
  extKeyUsage: 'extendedKeyUsage',
  nameConstraintViolation: 'nameConstraints',
  unknownCriticalExtension: 'criticalExtensions',
  weakKey: 'algorithms',
  policyViolation: 'profile',
  nameMismatch: 'peerName',
  revoked: 'revocation',
  crlInvalid: 'revocation',
  commonNameNotInSan: 'profile',
  wildcardPublicSuffix: 'profile',
};
