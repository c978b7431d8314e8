/**
 * Issuance policy: does a request fit its profile? Pure; returns every violation so the
 * caller can refuse with the full list (a 400 listing each one), never just the first.
 */
import type { FieldError } from '../errors.js';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { ipInCidr, ipToBigInt, parseCidr, wildcardPublicSuffix, type KeyAlgorithm, type Sans, type Usage } from '../pki/names.js';

export { KEY_ALGORITHMS, ipInCidr, ipToBigInt, parseCidr, type KeyAlgorithm, type Sans, type Usage } from '../pki/names.js';


export interface ProfilePolicy {
  description?: string;
  allowedDomains: string[];
  allowSubdomains: boolean;
  allowWildcards: boolean;
  allowedIpRanges: string[];
  allowedEmails: string[];
  allowedUris: string[];
  keyAlgorithms: KeyAlgorithm[];
  defaultValidityDays: number;
  maxValidityDays: number;
  usage: Usage;
  allowServerKeyGeneration: boolean;
  requireCommonNameInSans: boolean;
  subject: Partial<Record<SubjectField, string>>;
  allowedSubjectFields: SubjectField[];
}

export type SubjectField = 'organization' | 'organizationalUnit' | 'country' | 'locality' | 'state';


export interface IssuanceRequest {
  subject: { commonName: string } & Partial<Record<SubjectField, string>>;
  sans: Sans;
  keyAlgorithm: KeyAlgorithm | null;
  /** Describes an unsupported key (from a CSR) when keyAlgorithm is null. */
  keyDescription?: string;
  /** Where the subject came from, for error pointers: `/body/subject` (default) or `/body/csr`. */
  subjectField?: string;
  serverKeyGeneration: boolean;
  validityDays: number;
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const IA5_PRINTABLE = /^[\x21-\x7e]+$/;
// [!-?A-~]: printable ASCII but '@'.
const EMAIL = /^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$/;
/** SANs of one type in one certificate (the API's limit; a CSR is held to it too). */
export const MAX_SANS_PER_TYPE = 100;

/** RFC 5280 upper bounds (ub-common-name and friends), in characters. */
export const SUBJECT_MAX_LENGTH: Readonly<Record<keyof IssuanceRequest['subject'], number>> = {
  commonName: 64,
  organization: 64,
  organizationalUnit: 64,
  locality: 128,
  state: 128,
  country: 2,
};
// Control characters (C0, DEL, C1), bidirectional overrides and isolates (a CN that reads
// differently from what it is), and unpaired surrogates.
const SUBJECT_FORBIDDEN = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\p{Cs}]/u;

/**
 * Problems with subject text, from the body or a CSR (where no schema applies): empty or
 * blank values, values beyond the RFC 5280 upper bounds, control and bidi characters, and
 * a country that is not two capital letters.
 */
export function subjectProblems(subject: Partial<Record<keyof IssuanceRequest['subject'], string>>, base: string): FieldError[] {
  const v: FieldError[] = [];
  for (const [f, max] of Object.entries(SUBJECT_MAX_LENGTH) as Array<[keyof IssuanceRequest['subject'], number]>) {
    const value = subject[f];
    if (value === undefined) continue;
    const field = base === '/body/csr' ? base : `${base}/${f}`;
    const length = [...value].length;
    if (f === 'country' && !/^[A-Z]{2}$/.test(value)) v.push({ field, message: `${f} must be a two-letter ISO 3166 code in capitals` });
    else if (value.trim() === '') v.push({ field, message: `${f} must not be empty or blank` });
    else if (length > max) v.push({ field, message: `${f} is ${length} characters; at most ${max} (RFC 5280)` });
    else if (SUBJECT_FORBIDDEN.test(value)) v.push({ field, message: `${f} contains a control or bidirectional-override character` });
  }
  return v;
}

export function normaliseDns(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

export function isValidDnsName(name: string, allowWildcard: boolean): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((l, i) => (i === 0 && l === '*' && allowWildcard) || DNS_LABEL.test(l));
}

function dnsAllowed(name: string, p: ProfilePolicy): boolean {
  const wildcard = name.startsWith('*.');
  const base = wildcard ? name.slice(2) : name;
  return p.allowedDomains.some((d) => {
    const dom = normaliseDns(d);
    if (wildcard) {
      // *.x.example.com is fine when subdomains of example.com are allowed, or the wildcard is exactly on an allowed domain.
      return base === dom || (p.allowSubdomains && base.endsWith('.' + dom));
    }
    return base === dom || (p.allowSubdomains && base.endsWith('.' + dom));
  });
}

function emailAllowed(email: string, p: ProfilePolicy): boolean {
  const e = email.toLowerCase();
  const domain = e.split('@')[1] ?? '';
  return p.allowedEmails.some((a) => {
    const rule = a.toLowerCase();
    if (rule === '*') return true;
    if (rule.startsWith('@')) return domain === rule.slice(1) || (p.allowSubdomains && domain.endsWith('.' + rule.slice(1)));
    return rule === e;
  });
}

function uriAllowed(uri: string, p: ProfilePolicy): boolean {
  return p.allowedUris.some((rule) => rule === '*' || uri.startsWith(rule));
}

/** Every way the request breaks the profile; empty means it fits. */
export function checkRequest(p: ProfilePolicy, r: IssuanceRequest): FieldError[] {
  const v: FieldError[] = [];
  // Step 1: key.
  if (r.keyAlgorithm === null) {
    v.push({ field: '/body/csr', message: `unsupported key: ${r.keyDescription ?? 'unknown algorithm'}` });
  } else if (p.keyAlgorithms.length && !p.keyAlgorithms.includes(r.keyAlgorithm)) {
    v.push({ field: r.serverKeyGeneration ? '/body/keyAlgorithm' : '/body/csr', message: `key algorithm ${r.keyAlgorithm} is not allowed by the profile (allowed: ${p.keyAlgorithms.join(', ')})` });
  }
  if (r.serverKeyGeneration && !p.allowServerKeyGeneration) v.push({ field: '/body/keyAlgorithm', message: 'the profile does not allow server-side key generation; send a CSR' });
  // Step 2: validity.
  if (r.validityDays > p.maxValidityDays) v.push({ field: '/body/validityDays', message: `validity of ${r.validityDays} days exceeds the profile maximum of ${p.maxValidityDays}` });
  if (r.validityDays < 1) v.push({ field: '/body/validityDays', message: 'validity must be at least one day' });
  // Step 3: subject: well-formed text (a CSR's subject has no schema to stop it), then the profile's rules.
  v.push(...subjectProblems(r.subject, r.subjectField ?? '/body/subject'));
  for (const f of ['organization', 'organizationalUnit', 'country', 'locality', 'state'] as SubjectField[]) {
    const asked = r.subject[f];
    if (asked === undefined) continue;
    const fixed = p.subject[f];
    if (fixed !== undefined && fixed !== asked) v.push({ field: `/body/subject/${f}`, message: `the profile fixes ${f} to "${fixed}"` });
    else if (fixed === undefined && !p.allowedSubjectFields.includes(f)) v.push({ field: `/body/subject/${f}`, message: `the profile does not allow the subject field ${f}` });
  }
  // Step 4: names.
  r.sans.dns.forEach((name, i) => {
    const n = normaliseDns(name);
    if (!isValidDnsName(n, true)) v.push({ field: `/body/sans/dns/${i}`, message: `"${name}" is not a valid DNS name` });
    else if (n.startsWith('*.') && !p.allowWildcards) v.push({ field: `/body/sans/dns/${i}`, message: `wildcard "${name}" is not allowed by the profile` });
    else if (wildcardPublicSuffix(n)) v.push({ field: `/body/sans/dns/${i}`, message: `wildcard "${name}" is directly under the public suffix "${wildcardPublicSuffix(n)}" (CA/Browser Forum 3.2.2.6)` });
    else if (!dnsAllowed(n, p)) v.push({ field: `/body/sans/dns/${i}`, message: `"${name}" is outside the profile's allowed domains` });
  });
  r.sans.ip.forEach((ip, i) => {
    if (!isIP(ip)) v.push({ field: `/body/sans/ip/${i}`, message: `"${ip}" is not an IP address` });
    else if (!p.allowedIpRanges.some((c) => ipInCidr(ip, c))) v.push({ field: `/body/sans/ip/${i}`, message: `${ip} is outside the profile's allowed IP ranges` });
  });
  for (const type of ['dns', 'ip', 'email', 'uri'] as const) {
    if (r.sans[type].length > MAX_SANS_PER_TYPE) v.push({ field: `/body/sans/${type}`, message: `${r.sans[type].length} names; at most ${MAX_SANS_PER_TYPE} per type` });
  }
  r.sans.email.forEach((e, i) => {
    // rfc822Name is an IA5String: printable ASCII, no spaces or control characters.
    if (!EMAIL.test(e)) v.push({ field: `/body/sans/email/${i}`, message: `${JSON.stringify(e)} is not an email address in printable ASCII` });
    else if (!emailAllowed(e, p)) v.push({ field: `/body/sans/email/${i}`, message: `${e} is not allowed by the profile` });
  });
  r.sans.uri.forEach((u, i) => {
    let ok = false;
    try {
      // An IA5String too: an IRI must be sent percent-encoded (RFC 5280 4.2.1.6).
      ok = IA5_PRINTABLE.test(u) && Boolean(new URL(u).protocol);
    } catch {
      ok = false;
    }
    if (!ok) v.push({ field: `/body/sans/uri/${i}`, message: `${JSON.stringify(u)} is not an absolute URI in printable ASCII` });
    else if (!uriAllowed(u, p)) v.push({ field: `/body/sans/uri/${i}`, message: `${u} is not allowed by the profile` });
  });
  const total = r.sans.dns.length + r.sans.ip.length + r.sans.email.length + r.sans.uri.length;
  if (total === 0) v.push({ field: '/body/sans', message: 'at least one subject alternative name is required' });
  // Step 5: the CN must be one of the SANs (browsers ignore the CN; keep them consistent).
  // It may differ in form (case, a trailing dot, a U-label, IP text): it is issued as the SAN.
  if (p.requireCommonNameInSans && commonNameSan(r.subject.commonName, r.sans) === undefined) {
    v.push({ field: '/body/subject/commonName', message: `the common name "${r.subject.commonName}" must also be one of the SANs` });
  }
  return v;
}

/**
 * The SAN a commonName stands for, written as the SAN is (CA/Browser Forum 7.1.4.3 wants
 * a character-for-character copy: lower case, A-labels, RFC 5952 IPv6 text), or undefined.
 */
export function commonNameSan(commonName: string, sans: Sans): string | undefined {
  const ip = isIP(commonName) ? ipToBigInt(commonName) : null;
  if (ip) {
    const same = sans.ip.find((s) => isIP(s) && ipToBigInt(s)!.family === ip.family && ipToBigInt(s)!.value === ip.value);
    return same === undefined ? undefined : canonicalIp(same);
  }
  const cn = normaliseDns(commonName);
  const ascii = domainToASCII(cn) || cn;
  const dns = sans.dns.find((d) => normaliseDns(d) === cn || normaliseDns(d) === ascii);
  if (dns !== undefined) return normaliseDns(dns);
  const lower = commonName.toLowerCase();
  return [...sans.email, ...sans.uri].find((x) => x.toLowerCase() === lower);
}

/** An IP address in the text the verifier expects of a commonName (RFC 5952 for IPv6). */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/**
 * The SANs to issue with: a commonName that names a host (a dotted DNS name or an IP
 * address) but is none of the SANs joins them when the profile does not insist on the CN
 * being a SAN, so the certificate stays valid for web-PKI verification; it then passes the
 * profile's name rules like any SAN.
 */
export function sansWithCommonName(p: ProfilePolicy, commonName: string, sans: Sans): Sans {
  if (p.requireCommonNameInSans || commonNameSan(commonName, sans) !== undefined) return sans;
  if (isIP(commonName)) return { ...sans, ip: [...sans.ip, commonName] };
  const host = normaliseDns(domainToASCII(normaliseDns(commonName)) || commonName);
  if (host.includes('.') && isValidDnsName(host, true)) return { ...sans, dns: [...sans.dns, host] };
  return sans;
}

export function defaultPolicy(input: Partial<ProfilePolicy>): ProfilePolicy {
  return {
    description: input.description ?? '',
    allowedDomains: (input.allowedDomains ?? []).map(normaliseDns),
    allowSubdomains: input.allowSubdomains ?? false,
    allowWildcards: input.allowWildcards ?? false,
    allowedIpRanges: input.allowedIpRanges ?? [],
    allowedEmails: input.allowedEmails ?? [],
    allowedUris: input.allowedUris ?? [],
    keyAlgorithms: input.keyAlgorithms ?? [],
    defaultValidityDays: input.defaultValidityDays ?? 90,
    maxValidityDays: input.maxValidityDays ?? 397,
    usage: input.usage ?? 'server',
    allowServerKeyGeneration: input.allowServerKeyGeneration ?? true,
    requireCommonNameInSans: input.requireCommonNameInSans ?? true,
    subject: input.subject ?? {},
    allowedSubjectFields: input.allowedSubjectFields ?? [],
  };
}

/** Problems with a profile definition itself (bad CIDR, default > max...). */
export function checkPolicy(p: ProfilePolicy): FieldError[] {
  const v: FieldError[] = [];
  p.allowedIpRanges.forEach((c, i) => {
    if (!parseCidr(c)) v.push({ field: `/body/allowedIpRanges/${i}`, message: `"${c}" is not a CIDR range` });
  });
  p.allowedDomains.forEach((d, i) => {
    if (!isValidDnsName(d, false)) v.push({ field: `/body/allowedDomains/${i}`, message: `"${d}" is not a domain name` });
    // Without subdomains, the only wildcard such a profile could issue is "*.<suffix>".
    else if (p.allowWildcards && !p.allowSubdomains && wildcardPublicSuffix(`*.${d}`)) {
      v.push({ field: `/body/allowedDomains/${i}`, message: `"${d}" is a public suffix: a wildcard directly under it cannot be issued (CA/Browser Forum 3.2.2.6)` });
    }
  });
  v.push(...subjectProblems(p.subject, '/body/subject'));
  if (p.defaultValidityDays > p.maxValidityDays) v.push({ field: '/body/defaultValidityDays', message: `default (${p.defaultValidityDays}) exceeds maximum (${p.maxValidityDays})` });
  return v;
}
