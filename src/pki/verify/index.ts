/**
 * Certificate path validation (RFC 5280 + Web PKI profiles). Entry points:
 * - `verifyChain(input)`: build and validate a path, returning a `VerifyReport`;
 * - `parseCertificateBundle(input)` / `parseCrlBundle(input)`: PEM/DER bundles to DER.
 */
export { verifyChain, LIMITS } from './verify.js';
export { parseCertificateBundle, parseCrlBundle, decodePemBlocks, BUNDLE_LIMITS, type BundleInput } from './pem.js';
export { KEY_USAGE_BITS, type KeyUsageName } from './certificate.js';
export * from './types.js';
