/**
 * Turning user-supplied bundles (PEM text, DER bytes, or arrays of either) into DER
 * certificates/CRLs. Junk, truncated DER, non-certificate PEM blocks and oversized
 * inputs are refused with `badCertificate` and a message that says what is wrong.
 */
import { badCertificate } from '../../errors.js';
import { parseCertificate } from './certificate.js';
import { parseCrl } from './crl.js';
import { DerError, readTlv } from './der.js';
import { scanPemBlocks } from '../pem-scan.js';

export const BUNDLE_LIMITS = {
  /** Total size of one bundle (PEM text or DER). */
  bytes: 4 * 1024 * 1024,
  /** Certificates per bundle. */
  items: 1024,
} as const;

export type BundleInput = string | Uint8Array | ReadonlyArray<string | Uint8Array>;

/**
 * PEM blocks in one linear pass (`scanPemBlocks`): a back-referencing regular expression
 * rescanned the rest of the input from every BEGIN line without an END (a 200 KB body of
 * such lines cost ~0.4 s of CPU).
 */
export function decodePemBlocks(text: string, what = 'PEM input'): Array<{ label: string; der: Uint8Array }> {
  const { blocks } = scanPemBlocks(text, BUNDLE_LIMITS.items + 1);
  const out: Array<{ label: string; der: Uint8Array }> = [];
  for (const b of blocks) {
    if (!b.der) throw badCertificate(`${what}: ${b.error ?? 'malformed PEM block'}`);
    out.push({ label: b.label, der: new Uint8Array(b.der.buffer, b.der.byteOffset, b.der.byteLength) });
  }
  if (out.length === 0) {
    if (text.includes('-----BEGIN ')) throw badCertificate(`${what}: unterminated or malformed PEM block`);
    throw badCertificate(`${what}: no PEM block found (expected -----BEGIN CERTIFICATE-----)`);
  }
  return out;
}

/** Splits concatenated DER structures, checking each is complete. */
function splitDer(bytes: Uint8Array, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let t;
    try {
      t = readTlv(bytes, pos);
    } catch (e) {
      const reason = e instanceof DerError ? e.message : 'malformed';
      throw badCertificate(`${what}: DER item #${out.length + 1} is truncated or malformed (${reason})`);
    }
    if (t.cls !== 0 || t.tag !== 16 || !t.constructed) throw badCertificate(`${what}: DER item #${out.length + 1} is not a SEQUENCE; this is not DER`);
    out.push(bytes.subarray(pos, t.end));
    pos = t.end;
    if (out.length > BUNDLE_LIMITS.items) throw badCertificate(`${what}: more than ${BUNDLE_LIMITS.items} items`);
  }
  return out;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 9 || b === 10 || b === 13) continue;
    if (b < 32 || b > 126) return false;
  }
  return true;
}

function toDerItems(input: string | Uint8Array, what: string, labels: string[]): Uint8Array[] {
  const size = typeof input === 'string' ? input.length : input.length;
  if (size > BUNDLE_LIMITS.bytes) throw badCertificate(`${what} is too large (${size} bytes, limit ${BUNDLE_LIMITS.bytes})`);
  if (size === 0) throw badCertificate(`${what} is empty`);
  if (typeof input === 'string' || (input[0] !== 0x30 && looksLikeText(input))) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
    const blocks = decodePemBlocks(text, what);
    if (blocks.length > BUNDLE_LIMITS.items) throw badCertificate(`${what}: more than ${BUNDLE_LIMITS.items} items`);
    return blocks.map((b, i) => {
      if (!labels.includes(b.label)) throw badCertificate(`${what}: PEM block #${i + 1} is a ${b.label}, expected ${labels[0]}`);
      return b.der;
    });
  }
  if (input[0] !== 0x30) throw badCertificate(`${what} is neither PEM text nor DER`);
  return splitDer(input, what);
}

function collect(input: BundleInput, what: string, labels: string[], check: (der: Uint8Array, label: string) => void): Uint8Array[] {
  const parts = typeof input === 'string' || input instanceof Uint8Array ? [input] : input;
  if (!Array.isArray(parts)) throw badCertificate(`${what} must be PEM text, DER bytes or an array of them`);
  const out: Uint8Array[] = [];
  parts.forEach((part, i) => {
    if (typeof part !== 'string' && !(part instanceof Uint8Array)) throw badCertificate(`${what}: item #${i + 1} must be PEM text or DER bytes`);
    const label = parts.length > 1 ? `${what} item #${i + 1}` : what;
    for (const [j, der] of toDerItems(part, label, labels).entries()) {
      check(der, `${label}, certificate #${j + 1}`);
      out.push(der);
      if (out.length > BUNDLE_LIMITS.items) throw badCertificate(`${what}: more than ${BUNDLE_LIMITS.items} items`);
    }
  });
  if (out.length === 0) throw badCertificate(`${what} contains no certificates`);
  return out;
}

/**
 * Parses a PEM bundle, a DER blob (one or more concatenated certificates), or an array of
 * those, into DER certificates. Every certificate must parse.
 */
export function parseCertificateBundle(input: BundleInput, what = 'certificate bundle'): Uint8Array[] {
  return collect(input, what, ['CERTIFICATE', 'X509 CERTIFICATE'], (der, label) => {
    try {
      parseCertificate(der);
    } catch (e) {
      throw badCertificate(`${label} is not a valid X.509 certificate: ${e instanceof DerError ? e.message : 'malformed'}`);
    }
  });
}

/** Same as `parseCertificateBundle`, for CRLs (`-----BEGIN X509 CRL-----`). */
export function parseCrlBundle(input: BundleInput, what = 'CRL bundle'): Uint8Array[] {
  return collect(input, what, ['X509 CRL', 'CRL'], (der, label) => {
    try {
      parseCrl(der);
    } catch (e) {
      throw badCertificate(`${label.replace('certificate', 'CRL')} is not a valid CRL: ${e instanceof DerError ? e.message : 'malformed'}`);
    }
  });
}
