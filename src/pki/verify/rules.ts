/**
 * Per-certificate and per-path rules. `webpki` mode applies RFC 5280 plus the CA/Browser
 * Forum profile for the purpose at hand (TLS BR for serverAuth, S/MIME BR for
 * emailProtection), following what pyca/cryptography's webpki policy and the x509-limbo
 * vectors expect; `rfc5280` mode applies RFC 5280 alone.
 */
import type { Certificate } from './certificate.js';
import {
  type Budget,
  type GeneralName,
  ConstraintBudgetExceeded,
  attributeTexts,
  checkNameConstraints,
  describeGeneralName,
  dnsSanMatches,
  formatIp,
  formatName,
  isDnsName,
  mailboxesEqual,
  parseIp,
  parseMailbox,
} from './names.js';
import { ATTR, CURVE, EKU, EXT } from './oids.js';
import { wildcardPublicSuffix } from '../names.js';
import { checkPolicies } from './policy-tree.js';
import { keyInfo, publicKeyObject, sigAlgInfo, verifySignature } from './signature.js';
import type { Finding, PeerName, VerifyErrorCode, VerifyMode, VerifyWarningCode } from './types.js';
import { bytesEqual } from './der.js';
import { domainToASCII } from 'node:url';

export type Profile = 'tls' | 'smime' | 'generic';

export interface Policy {
  mode: VerifyMode;
  profile: Profile;
  at: number;
  /** EKU OIDs the leaf must carry; empty means any purpose. */
  ekus: string[];
  peerNames: PeerName[];
  /** Leaf must carry a subjectAltName. */
  requireSan: boolean;
  /** Leaf must carry an extKeyUsage extension. */
  requireEku: boolean;
  maxDepth: number;
  requiredKeyUsages: string[];
  signatureAlgorithms?: string[];
}

export type ErrorFinding = Finding<VerifyErrorCode>;
export type WarningFinding = Finding<VerifyWarningCode>;

export interface Findings {
  errors: ErrorFinding[];
  warnings: WarningFinding[];
}

const DAY = 86_400_000;

/** Extensions this engine understands, so they may be critical. */
const RECOGNISED = new Set<string>([
  EXT.basicConstraints,
  EXT.keyUsage,
  EXT.extKeyUsage,
  EXT.subjectAltName,
  EXT.issuerAltName,
  EXT.nameConstraints,
  EXT.authorityKeyIdentifier,
  EXT.subjectKeyIdentifier,
  EXT.authorityInfoAccess,
  EXT.crlDistributionPoints,
  EXT.certificatePolicies,
  EXT.policyConstraints,
  EXT.policyMappings,
  EXT.inhibitAnyPolicy,
]);

const WEBPKI_CURVES = new Set<string>([CURVE.p256, CURVE.p384, CURVE.p521]);

const ownKeyCache = new WeakMap<Certificate, boolean>();

/** Signed by the key it certifies, whatever its names say. */
export function signedByOwnKey(cert: Certificate): boolean {
  let v = ownKeyCache.get(cert);
  if (v === undefined) {
    v = verifySignature(cert.tbs, cert.signature, sigAlgInfo(cert.signatureAlg), publicKeyObject(cert)) === undefined;
    ownKeyCache.set(cert, v);
  }
  return v;
}

/** Self-issued and signed by its own key (a "self-signed" certificate in RFC 5280 terms). */
export function isSelfSigned(cert: Certificate): boolean {
  return cert.selfIssued && signedByOwnKey(cert);
}

function timeEncodingOk(t: Certificate['notBefore']): boolean {
  return t.year >= 1950 && t.year <= 2049 ? t.kind === 'utc' : t.kind === 'generalized';
}

function basicCa(cert: Certificate): boolean {
  const bc = cert.ext.basicConstraints;
  return bc?.ok === true && bc.value.ca;
}

/** The leaf's subjectAltNames, or [] if absent or unparseable. */
export function sans(cert: Certificate): GeneralName[] {
  const san = cert.ext.subjectAltName;
  return san?.ok ? san.value : [];
}

/**
 * Rules that only depend on one certificate and its role in the path.
 * `role`: `leaf` (index 0), `ca` (intermediate or anchor). `anchor`: it is the trust anchor.
 */
export function certificateFindings(cert: Certificate, role: 'leaf' | 'ca', anchor: boolean, policy: Policy): Findings {
  const errors: ErrorFinding[] = [];
  const warnings: WarningFinding[] = [];
  const err = (code: VerifyErrorCode, message: string) => errors.push({ code, message });
  const warn = (code: VerifyWarningCode, message: string) => warnings.push({ code, message });
  const webpki = policy.mode === 'webpki';
  const x = cert.ext;
  const v1Anchor = anchor && cert.version < 2 && !webpki;

  // Structure and RFC 5280 4.1 profile.
  for (const p of cert.problems) err('malformed', p);
  if (webpki && cert.version !== 2) err('policyViolation', `certificate is X.509 v${cert.version + 1}; only v3 is allowed (CABF 7.1.1)`);
  if (cert.issuer.rdns.length === 0) err('malformed', 'issuer name is empty (RFC 5280 4.1.2.4)');
  if (role === 'ca' && cert.subject.rdns.length === 0) err('malformed', 'CA subject name is empty (RFC 5280 4.1.2.6)');
  // Some long-lived roots in public trust stores have zero or negative serials; a root
  // is trusted as configured, so only certificates we are asked to *validate* are held
  // to RFC 5280 4.1.2.2.
  if (!anchor || role === 'leaf') {
    const s = cert.serial;
    if (s[0] & 0x80) err('malformed', 'serial number is negative (RFC 5280 4.1.2.2)');
    else if (s.every((b) => b === 0)) err('malformed', 'serial number is zero (RFC 5280 4.1.2.2)');
    else if (s.length > 21 || (s.length === 21 && s[0] !== 0)) err('malformed', 'serial number is longer than 20 octets (RFC 5280 4.1.2.2)');
  }
  if (!timeEncodingOk(cert.notBefore) || !timeEncodingOk(cert.notAfter)) err('malformed', 'validity dates before 2050 must be UTCTime and later ones GeneralizedTime (RFC 5280 4.1.2.5)');

  // Validity period.
  if (policy.at < cert.notBefore.ms) err('notYetValid', `not valid before ${new Date(cert.notBefore.ms).toISOString()}`);
  else if (policy.at > cert.notAfter.ms) err('expired', `expired at ${new Date(cert.notAfter.ms).toISOString()}`);
  else if (cert.notAfter.ms - policy.at < 30 * DAY) warn('expiringSoon', `expires at ${new Date(cert.notAfter.ms).toISOString()}`);

  // Unknown critical extensions.
  for (const e of cert.extensions) {
    if (e.critical && !RECOGNISED.has(e.oid)) err('unknownCriticalExtension', `unrecognised critical extension ${e.oid}`);
  }

  // Criticality rules that hold for every certificate (RFC 5280 4.2.1.x).
  if (x.authorityKeyId?.critical) err('policyViolation', 'authorityKeyIdentifier must not be critical (RFC 5280 4.2.1.1)');
  if (x.subjectKeyId?.critical) err('policyViolation', 'subjectKeyIdentifier must not be critical (RFC 5280 4.2.1.2)');
  if (x.authorityInfoAccess?.critical) err('policyViolation', 'authorityInfoAccess must not be critical (RFC 5280 4.2.2.1)');
  if (x.policyConstraints && !x.policyConstraints.critical) err('policyViolation', 'policyConstraints must be critical (RFC 5280 4.2.1.11)');
  if (x.inhibitAnyPolicy && !x.inhibitAnyPolicy.critical) err('policyViolation', 'inhibitAnyPolicy must be critical (RFC 5280 4.2.1.14)');

  // Authority key identifier.
  const aki = x.authorityKeyId?.ok ? x.authorityKeyId.value : undefined;
  if (aki && webpki && !aki.keyId) err('policyViolation', 'authorityKeyIdentifier must contain keyIdentifier (CABF 7.1.2.11.1)');
  if (!aki?.keyId && cert.version === 2) {
    // A trust anchor needs no pointer to another key when it names itself as issuer or
    // is signed by its own key (a root whose issuer field differs from its subject).
    const exempt = anchor ? cert.selfIssued || signedByOwnKey(cert) : isSelfSigned(cert);
    if (!exempt) err('policyViolation', 'authorityKeyIdentifier.keyIdentifier is required on certificates that are not self-signed (RFC 5280 4.2.1.1)');
  }
  if (anchor && webpki && aki && isSelfSigned(cert)) {
    if (aki.hasIssuer || aki.hasSerial) err('policyViolation', 'a root CA authorityKeyIdentifier must not contain authorityCertIssuer or authorityCertSerialNumber (CABF 7.1.2.1.3)');
    const ski = x.subjectKeyId?.ok ? x.subjectKeyId.value : undefined;
    if (aki.keyId && ski && !bytesEqual(aki.keyId, ski)) err('policyViolation', 'a root CA authorityKeyIdentifier must equal its subjectKeyIdentifier (CABF 7.1.2.1.3)');
  }

  // Keys and algorithms.
  const key = keyInfo(cert);
  if (key.error) err(role === 'leaf' ? 'malformed' : 'badSignature', `public key: ${key.error}`);
  else if (webpki) {
    const rsa = key.type === 'rsa' || key.type === 'rsa-pss';
    if (rsa) {
      if (key.type === 'rsa-pss' || !key.canonical) err('policyViolation', `${key.label} key encoding is not permitted (CABF 7.1.3.1.1)`);
      if ((key.bits ?? 0) < 2048) err('weakKey', `${key.label} is too weak; at least 2048 bits are required (CABF 6.1.5)`);
      else if ((key.bits ?? 0) % 8 !== 0) err('weakKey', `${key.label} modulus size is not a multiple of 8 (CABF 6.1.5)`);
    } else if (key.type === 'ec') {
      if (!WEBPKI_CURVES.has(key.curve ?? '')) err('weakKey', `${key.label} is not a permitted curve (CABF 6.1.5: P-256, P-384, P-521)`);
    } else if (key.type !== 'ed25519' && key.type !== 'ml-dsa' && !(key.type === 'ed448' && policy.profile === 'smime')) {
      err('policyViolation', `${key.label} keys are not permitted (CABF 7.1.3.1)`);
    }
  } else if ((key.type === 'rsa' || key.type === 'rsa-pss') && key.bits !== undefined) {
    if (key.bits < 1024) err('weakKey', `${key.label} is too weak`);
    else if (key.bits < 2048) warn('weakKey', `${key.label} is below 2048 bits`);
  }
  if (!anchor) {
    const sig = sigAlgInfo(cert.signatureAlg);
    if (webpki) {
      if (sig.weakHash) err('policyViolation', `${sig.label} signatures are not permitted`);
      else if (!sig.webpkiPermitted && !sig.error) err('policyViolation', `${sig.label} is not a permitted signature algorithm (CABF 7.1.3.2)`);
    } else if (sig.weakHash && !sig.error) warn('sha1Signature', `signed with ${sig.label}`);
    if (policy.signatureAlgorithms && !policy.signatureAlgorithms.some((a) => a === sig.label || a === cert.signatureAlg.oid)) {
      err('policyViolation', `${sig.label} is not among the acceptable signature algorithms`);
    }
  }

  // Key usage.
  const kuExt = x.keyUsage;
  const ku = kuExt?.ok ? kuExt.value : undefined;
  if (ku && ku.count === 0) err('malformed', 'keyUsage asserts no bits (RFC 5280 4.2.1.3)');
  if (ku?.keyCertSign && !basicCa(cert)) err('keyUsage', 'keyUsage asserts keyCertSign but basicConstraints cA is not set (RFC 5280 4.2.1.9)');
  if (ku && (key.type === 'ed25519' || key.type === 'ed448' || key.type === 'ml-dsa')) {
    if (ku.keyEncipherment || ku.dataEncipherment || ku.keyAgreement || ku.encipherOnly || ku.decipherOnly) {
      err('keyUsage', `keyUsage asserts encryption or key agreement for a signature-only ${key.label} key (RFC 8410 / RFC 9881)`);
    }
  }

  const bcExt = x.basicConstraints;
  if (role === 'ca') {
    if (!v1Anchor) {
      if (cert.version < 2) err('notACa', 'only X.509 v3 certificates can be CA certificates (RFC 5280 6.1.4 (k))');
      else if (!bcExt) err('notACa', 'CA certificate has no basicConstraints extension (RFC 5280 4.2.1.9)');
      else if (bcExt.ok && !bcExt.value.ca) err('notACa', 'basicConstraints cA is not set, so this certificate cannot issue certificates');
      else if (bcExt.ok && !bcExt.critical) err('policyViolation', 'basicConstraints must be critical in CA certificates (RFC 5280 4.2.1.9)');
      if (ku && !ku.keyCertSign) err('keyUsage', 'CA keyUsage does not assert keyCertSign (RFC 5280 4.2.1.3)');
      if (!kuExt && webpki && !anchor) err('keyUsage', 'CA certificate has no keyUsage extension (CABF 7.1.2.10.7)');
      if (!x.subjectKeyId && cert.version === 2) err('policyViolation', 'CA certificate has no subjectKeyIdentifier (RFC 5280 4.2.1.2)');
      if (x.nameConstraints?.ok && !x.nameConstraints.critical && !webpki) err('policyViolation', 'nameConstraints must be critical (RFC 5280 4.2.1.10)');
    }
    if (policy.profile === 'smime' && webpki && !anchor && (!ku || !ku.keyCertSign || !ku.cRLSign)) {
      err('keyUsage', 'S/MIME subordinate CA keyUsage must assert keyCertSign and cRLSign (S/MIME BR 7.1.2.2)');
    }
  } else {
    // Leaf.
    if (bcExt?.ok) {
      if (bcExt.value.ca && webpki) err('policyViolation', 'the end-entity certificate is a CA certificate (basicConstraints cA=TRUE)');
      if (!bcExt.value.ca && bcExt.value.pathLen !== undefined) err('malformed', 'pathLenConstraint is only allowed in CA certificates (RFC 5280 4.2.1.9)');
    }
    if (x.nameConstraints) err('policyViolation', 'nameConstraints must only appear in CA certificates (RFC 5280 4.2.1.10)');
    for (const required of policy.requiredKeyUsages) {
      if (ku && !(ku as unknown as Record<string, boolean>)[required]) err('keyUsage', `keyUsage does not assert ${required}`);
    }
    leafProfileFindings(cert, policy, key.type, err, warn);
  }
  return { errors, warnings };
}

function leafProfileFindings(
  cert: Certificate,
  policy: Policy,
  keyType: string,
  err: (code: VerifyErrorCode, message: string) => void,
  warn: (code: VerifyWarningCode, message: string) => void,
) {
  const x = cert.ext;
  const webpki = policy.mode === 'webpki';
  const subjectEmpty = cert.subject.rdns.length === 0;
  const san = x.subjectAltName;
  if (subjectEmpty && (!san || !san.critical)) err('policyViolation', 'subject is empty, so subjectAltName must be present and critical (RFC 5280 4.2.1.6)');
  if (webpki && san && !subjectEmpty && san.critical) err('policyViolation', 'subjectAltName must not be critical when the subject is not empty (CABF 7.1.2.7.12)');
  if (webpki && !san && policy.requireSan) err('policyViolation', 'the end-entity certificate has no subjectAltName extension (CABF 7.1.2.7.12)');

  const ku = x.keyUsage?.ok ? x.keyUsage.value : undefined;
  const eku = x.extKeyUsage?.ok ? x.extKeyUsage.value : undefined;

  // Extended key usage for the requested purpose.
  if (policy.requireEku && !x.extKeyUsage) err('extKeyUsage', 'the end-entity certificate has no extKeyUsage extension, and one is required (CABF 7.1.2.7.6)');
  if (eku) {
    for (const required of policy.ekus) {
      const ok = eku.includes(required) || (!webpki && eku.includes(EKU.any));
      if (!ok) err('extKeyUsage', `extKeyUsage does not include ${ekuName(required)}`);
    }
  }
  if (webpki && (policy.profile === 'tls' || policy.profile === 'smime')) {
    if (x.extKeyUsage?.critical) err('extKeyUsage', 'extKeyUsage must not be critical in a subscriber certificate');
    if (eku?.includes(EKU.any)) err('extKeyUsage', 'anyExtendedKeyUsage is not allowed in a subscriber certificate');
  }
  if (webpki && policy.profile === 'tls') {
    // A TLS server certificate is for TLS only (CABF 7.1.2.7.10).
    for (const bad of [EKU.codeSigning, EKU.emailProtection, EKU.timeStamping, EKU.ocspSigning, EKU.precertSigning]) {
      if (eku?.includes(bad)) err('extKeyUsage', `${ekuName(bad)} is not allowed in a TLS subscriber certificate (CABF 7.1.2.7.10)`);
    }
  }
  if (webpki && policy.profile === 'smime') {
    if (!x.extKeyUsage) err('extKeyUsage', 'S/MIME subscriber certificates must carry extKeyUsage (S/MIME BR 7.1.2.3 (f))');
    for (const bad of [EKU.serverAuth, EKU.codeSigning, EKU.timeStamping]) {
      if (eku?.includes(bad)) err('extKeyUsage', `${ekuName(bad)} is not allowed in an S/MIME subscriber certificate`);
    }
    if (!ku) err('keyUsage', 'S/MIME subscriber certificates must carry keyUsage (S/MIME BR 7.1.2.3 (e))');
    else {
      const allowed =
        keyType === 'rsa' || keyType === 'rsa-pss'
          ? ['digitalSignature', 'contentCommitment', 'keyEncipherment']
          : keyType === 'ec'
            ? ['digitalSignature', 'contentCommitment', 'keyAgreement', 'encipherOnly', 'decipherOnly']
            : ['digitalSignature', 'contentCommitment'];
      const asserted = Object.entries(ku).filter(([k, v]) => v === true && k !== 'count').map(([k]) => k);
      const extra = asserted.filter((k) => !allowed.includes(k));
      if (extra.length) err('keyUsage', `keyUsage bits ${extra.join(', ')} are not allowed for an S/MIME ${keyType} key`);
      if (ku.contentCommitment && !ku.digitalSignature) err('keyUsage', 'contentCommitment requires digitalSignature in S/MIME certificates');
    }
    if (!sans(cert).some((n) => n.type === 'email')) err('policyViolation', 'S/MIME certificates must carry an rfc822Name subjectAltName (S/MIME BR 7.1.4.2.1)');
    const bc = x.basicConstraints?.ok ? x.basicConstraints.value : undefined;
    if (bc && bc.pathLen !== undefined) err('policyViolation', 'pathLenConstraint must not be present in S/MIME subscriber certificates');
  } else if (webpki && ku && (policy.profile === 'tls' || policy.ekus.includes(EKU.clientAuth))) {
    const usable =
      keyType === 'rsa' || keyType === 'rsa-pss'
        ? ku.digitalSignature || ku.keyEncipherment
        : keyType === 'ec'
          ? ku.digitalSignature || ku.keyAgreement
          : ku.digitalSignature;
    if (!usable) err('keyUsage', 'keyUsage does not allow TLS authentication with this key type (CABF 7.1.2.7.11)');
    if (ku.cRLSign) err('keyUsage', 'cRLSign is not allowed in a subscriber certificate (CABF 7.1.2.7.11)');
  }

  // CABF TLS 7.1.4.3: a commonName must be an exact copy of one of the SANs.
  if (webpki && policy.profile === 'tls') commonNameFindings(cert, err, warn);
  else if (!webpki && x.subjectAltName) commonNameWarnings(cert, warn);

  // CABF TLS 3.2.2.6: no wildcard directly under a public suffix (`*.co.uk`).
  if (webpki && policy.profile === 'tls') {
    for (const n of sans(cert)) {
      if (n.type !== 'dns') continue;
      const suffix = wildcardPublicSuffix(n.value);
      if (suffix) err('wildcardPublicSuffix', `subjectAltName "${n.value}" is a wildcard directly under the public suffix "${suffix}" (CABF 3.2.2.6)`);
    }
  }
}

/**
 * CABF 7.1.4.3: each commonName must be a character-for-character copy of a dNSName SAN
 * (so no case changes and no U-labels for an A-label SAN), or the RFC 3986 / RFC 5952
 * text of an iPAddress SAN.
 */
function commonNameFindings(cert: Certificate, err: (code: VerifyErrorCode, message: string) => void, warn: (code: VerifyWarningCode, message: string) => void) {
  const names = sans(cert);
  const dns = names.filter((n) => n.type === 'dns').map((n) => (n as { value: string }).value);
  const ips = names.filter((n) => n.type === 'ip').map((n) => (n as { bytes: Uint8Array }).bytes);
  for (const cn of attributeTexts(cert.subject, ATTR.commonName)) {
    if (dns.includes(cn)) continue;
    const strictIp = parseIp(cn);
    if (strictIp && (strictIp.length === 4 || formatIp(strictIp) === cn)) {
      if (ips.some((b) => bytesEqual(b, strictIp))) continue;
    }
    // Say why when the CN denotes one of the SAN identities but is not a verbatim copy.
    const looseIp = strictIp ?? looseIpText(cn);
    if (looseIp && ips.some((b) => bytesEqual(b, looseIp))) {
      err('commonNameNotInSan', `commonName "${cn}" must be the RFC 3986/5952 text of the SAN IP address ${formatIp(looseIp)} (CABF 7.1.4.3)`);
      continue;
    }
    // eslint-disable-next-line no-control-regex
    if (/[^\x00-\x7f]/.test(cn)) {
      err('commonNameNotInSan', `commonName "${cn}" must use A-labels, not Unicode (CABF 7.1.4.3)`);
      continue;
    }
    const twin = dnsTwin(cn, dns);
    if (twin) {
      err('commonNameNotInSan', `commonName "${cn}" must be a character-for-character copy of the SAN "${twin}" (CABF 7.1.4.3)`);
      continue;
    }
    // A single-label name ("EE", "server") is no host identity a web client could take
    // from the CN, so it is tolerated with a warning; a domain name or address is refused.
    if (cn.includes('.') || strictIp || looseIp) err('commonNameNotInSan', `commonName "${cn}" is not one of the subjectAltNames (CABF 7.1.4.3)`);
    else warn('commonNameNotInSan', `commonName "${cn}" is not one of the subjectAltNames`);
  }
}

/** rfc5280 mode: a host-name or IP commonName that denotes none of the SANs is worth a warning. */
function commonNameWarnings(cert: Certificate, warn: (code: VerifyWarningCode, message: string) => void) {
  const names = sans(cert);
  const dns = names.filter((n) => n.type === 'dns').map((n) => (n as { value: string }).value);
  const ips = names.filter((n) => n.type === 'ip').map((n) => (n as { bytes: Uint8Array }).bytes);
  for (const cn of attributeTexts(cert.subject, ATTR.commonName)) {
    const ip = parseIp(cn) ?? looseIpText(cn);
    if (ip) {
      if (!ips.some((b) => bytesEqual(b, ip))) warn('commonNameNotInSan', `commonName "${cn}" is not one of the subjectAltNames`);
    } else if (isDnsName(domainToASCII(cn) || cn) && !dns.includes(cn) && !dnsTwin(cn, dns)) {
      warn('commonNameNotInSan', `commonName "${cn}" is not one of the subjectAltNames`);
    }
  }
}

/** An IPv4 address in a legacy text form (`0xC0A80101`, `192.168.001.001`), as URL parsers read it. */
function looseIpText(cn: string): Uint8Array | undefined {
  if (cn.includes(':')) return undefined;
  try {
    return parseIp(new URL(`http://${cn}/`).hostname);
  } catch {
    return undefined;
  }
}

/** The dNSName SAN that `cn` equals up to case or U-label/A-label form. */
function dnsTwin(cn: string, dns: string[]): string | undefined {
  const ascii = domainToASCII(cn) || cn.toLowerCase();
  return dns.find((d) => d.toLowerCase() === ascii);
}

const EKU_NAMES: Record<string, string> = {
  [EKU.any]: 'anyExtendedKeyUsage',
  [EKU.serverAuth]: 'serverAuth',
  [EKU.clientAuth]: 'clientAuth',
  [EKU.codeSigning]: 'codeSigning',
  [EKU.emailProtection]: 'emailProtection',
  [EKU.timeStamping]: 'timeStamping',
  [EKU.ocspSigning]: 'OCSPSigning',
  [EKU.precertSigning]: 'precertificateSigning',
};
export const ekuName = (oid: string) => EKU_NAMES[oid] ?? oid;

/** EKU rules for a CA on the path (webpki mode only: intermediate EKUs constrain the path). */
export function caEkuFindings(cert: Certificate, anchor: boolean, policy: Policy): string[] {
  if (policy.mode !== 'webpki') return [];
  const ext = cert.ext.extKeyUsage;
  if (!ext) return [];
  if (!ext.ok) return [];
  const out: string[] = [];
  const eku = ext.value;
  if (policy.profile === 'tls' || policy.profile === 'smime') {
    if (anchor) return ['a root CA certificate must not carry extKeyUsage (CABF 7.1.2.1.2)'];
    if (ext.critical) out.push('extKeyUsage must not be critical in a CA certificate');
    const required = policy.profile === 'tls' ? EKU.serverAuth : EKU.emailProtection;
    const forbidden =
      policy.profile === 'tls'
        ? [EKU.any, EKU.codeSigning, EKU.emailProtection, EKU.timeStamping, EKU.ocspSigning, EKU.precertSigning]
        : [EKU.any, EKU.serverAuth, EKU.codeSigning, EKU.timeStamping];
    if (!eku.includes(required)) out.push(`CA extKeyUsage does not include ${ekuName(required)}`);
    for (const f of forbidden) if (eku.includes(f)) out.push(`CA extKeyUsage must not include ${ekuName(f)}`);
    return out;
  }
  for (const required of policy.ekus) {
    if (!eku.includes(required) && !eku.includes(EKU.any)) out.push(`CA extKeyUsage does not include ${ekuName(required)}`);
  }
  return out;
}

/** Names of `cert` that name constraints apply to. */
export function constrainedNames(cert: Certificate, isLeaf: boolean, mode: VerifyMode): GeneralName[] {
  const names: GeneralName[] = [...sans(cert)];
  if (cert.subject.rdns.length) names.push({ type: 'dn', name: cert.subject });
  const hasSan = !!cert.ext.subjectAltName;
  if (!hasSan) {
    for (const email of attributeTexts(cert.subject, ATTR.emailAddress)) names.push({ type: 'email', value: email, ascii: true });
    if (isLeaf && mode === 'rfc5280') {
      for (const cn of attributeTexts(cert.subject, ATTR.commonName)) {
        const ip = parseIp(cn);
        if (ip) names.push({ type: 'ip', bytes: ip });
        else if (isDnsName(cn)) names.push({ type: 'dns', value: cn, ascii: true });
      }
    }
  }
  return names;
}

/** Rules over a whole path (leaf first, anchor last). Indices refer to `path`. */
export function pathFindings(path: Certificate[], complete: boolean, policy: Policy, budget: Budget): ErrorFinding[] {
  const errors: ErrorFinding[] = [];
  const last = path.length - 1;

  // pathLenConstraint: non-self-issued intermediates below each CA.
  for (let k = 1; k < path.length; k++) {
    const bc = path[k].ext.basicConstraints;
    if (!bc?.ok || bc.value.pathLen === undefined) continue;
    let below = 0;
    for (let j = 1; j < k; j++) if (!path[j].selfIssued) below++;
    if (below > bc.value.pathLen) {
      errors.push({ code: 'pathLenExceeded', message: `pathLenConstraint ${bc.value.pathLen} allows ${bc.value.pathLen} intermediate(s) below this CA, found ${below}`, certificateIndex: k });
    }
  }

  // Name constraints of every CA apply to all certificates below it (self-issued
  // intermediates excepted, RFC 5280 4.2.1.10).
  for (let k = 1; k < path.length; k++) {
    const nc = path[k].ext.nameConstraints;
    if (!nc?.ok) continue;
    for (let j = 0; j < k; j++) {
      if (j > 0 && path[j].selfIssued) continue;
      let reason: string | undefined;
      try {
        reason = checkNameConstraints(constrainedNames(path[j], j === 0, policy.mode), nc.value, budget);
      } catch (e) {
        if (!(e instanceof ConstraintBudgetExceeded)) throw e;
        reason = 'name constraint checking exceeded its budget';
      }
      if (reason) errors.push({ code: 'nameConstraintViolation', message: `${reason} (constraint from ${formatName(path[k].subject)})`, certificateIndex: j });
    }
  }

  // Extended key usage constraints on CAs.
  for (let k = 1; k < path.length; k++) {
    for (const message of caEkuFindings(path[k], complete && k === last, policy)) errors.push({ code: 'extKeyUsage', message, certificateIndex: k });
  }

  // Certificate policies (RFC 5280 6.1), over the certificates below the anchor.
  if (complete && path.length > 1) {
    let reason: string | undefined;
    try {
      reason = checkPolicies(path.slice(0, last).reverse());
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    if (reason) errors.push({ code: 'policyViolation', message: reason, certificateIndex: 0 });
  }

  // The leaf must be valid for every requested identity.
  for (const peer of policy.peerNames) {
    const reason = peerNameMismatch(path[0], peer);
    if (reason) errors.push({ code: 'nameMismatch', message: reason, certificateIndex: 0 });
  }
  return errors;
}

/** Undefined when the leaf's SANs match `peer`, else why not. */
export function peerNameMismatch(leaf: Certificate, peer: PeerName): string | undefined {
  const names = sans(leaf);
  const listed = names.map(describeGeneralName).join(', ') || 'none';
  let kind = peer.kind;
  let ip: Uint8Array | undefined;
  if (kind === 'ip' || (kind === 'dns' && /^[0-9.]+$|:/.test(peer.value))) {
    ip = parseIp(peer.value);
    if (!ip) return `"${peer.value}" is not a valid IP address`;
    kind = 'ip';
  }
  if (kind === 'ip') {
    return names.some((n) => n.type === 'ip' && bytesEqual(n.bytes, ip!)) ? undefined : `the certificate is not valid for IP ${formatIp(ip!)} (subjectAltNames: ${listed})`;
  }
  if (kind === 'dns') {
    // A fully-qualified reference name may carry the root's trailing dot.
    const host = peer.value.endsWith('.') ? peer.value.slice(0, -1) : peer.value;
    if (!isDnsName(host)) return `"${peer.value}" is not a valid DNS name`;
    return names.some((n) => n.type === 'dns' && n.ascii && dnsSanMatches(n.value, host))
      ? undefined
      : `the certificate is not valid for ${peer.value} (subjectAltNames: ${listed})`;
  }
  const want = parseMailbox(peer.value);
  if (!want) return `"${peer.value}" is not a valid mailbox`;
  return names.some((n) => {
    if (n.type !== 'email' || !n.ascii) return false;
    const got = parseMailbox(n.value);
    return !!got && mailboxesEqual(got, want);
  })
    ? undefined
    : `the certificate is not valid for ${peer.value} (subjectAltNames: ${listed})`;
}
