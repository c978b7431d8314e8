/**
 * Distinguished names, general names, reference-identity matching (RFC 6125) and name
 * constraint evaluation (RFC 5280 4.2.1.10).
 */
import {
  CLASS_CONTEXT,
  DerError,
  T,
  type Tlv,
  children,
  expectUniversal,
  hex,
  readOid,
  sequence,
  value,
  raw,
} from './der.js';
import { ATTR_NAMES } from './oids.js';

// ---------------------------------------------------------------------------------------
// Distinguished names

export interface NameAttr {
  oid: string;
  /** Universal tag of the value (string type), or -1 when the value is not a universal primitive. */
  tag: number;
  /** The full TLV of the value. */
  raw: Uint8Array;
  /** Decoded text, when the value is a directory string. */
  text?: string;
}

export interface Name {
  der: Uint8Array;
  rdns: NameAttr[][];
  /** Normalised comparison key (RFC 5280 7.1: case-insensitive, whitespace-folded strings). */
  key: string;
  /** Per-RDN keys, for subtree (prefix) comparisons. */
  rdnKeys: string[];
}

const STRING_TAGS = new Set<number>([
  T.UTF8_STRING,
  T.PRINTABLE_STRING,
  T.T61_STRING,
  T.IA5_STRING,
  T.VISIBLE_STRING,
  T.NUMERIC_STRING,
  T.BMP_STRING,
  T.UNIVERSAL_STRING,
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeDirectoryString(tag: number, bytes: Uint8Array): string | undefined {
  try {
    switch (tag) {
      case T.UTF8_STRING:
        return utf8.decode(bytes);
      case T.BMP_STRING: {
        if (bytes.length % 2) return undefined;
        let s = '';
        for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode((bytes[i] << 8) | bytes[i + 1]);
        return s;
      }
      case T.UNIVERSAL_STRING: {
        if (bytes.length % 4) return undefined;
        let s = '';
        for (let i = 0; i < bytes.length; i += 4) {
          const cp = ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
          if (cp > 0x10ffff) return undefined;
          s += String.fromCodePoint(cp);
        }
        return s;
      }
      default:
        return Buffer.from(bytes).toString('latin1');
    }
  } catch {
    return undefined;
  }
}

const foldText = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();

function attrKey(a: NameAttr): string {
  return a.text !== undefined ? `${a.oid}=t:${foldText(a.text)}` : `${a.oid}=b:${hex(a.raw)}`;
}

export function parseName(buf: Uint8Array, t: Tlv, what: string): Name {
  const rdns: NameAttr[][] = [];
  for (const setTlv of sequence(buf, t, what)) {
    expectUniversal(setTlv, T.SET, what);
    const attrs: NameAttr[] = [];
    for (const atv of children(buf, setTlv)) {
      const parts = sequence(buf, atv, what);
      if (parts.length !== 2) throw new DerError(`${what}: malformed attribute`);
      const oid = readOid(buf, parts[0], what);
      const v = parts[1];
      const isString = v.cls === 0 && !v.constructed && STRING_TAGS.has(v.tag);
      attrs.push({
        oid,
        tag: v.cls === 0 && !v.constructed ? v.tag : -1,
        raw: raw(buf, v),
        text: isString ? decodeDirectoryString(v.tag, value(buf, v)) : undefined,
      });
    }
    if (attrs.length === 0) throw new DerError(`${what}: empty RDN`);
    rdns.push(attrs);
  }
  const rdnKeys = rdns.map((attrs) => JSON.stringify(attrs.map(attrKey).sort()));
  return { der: raw(buf, t), rdns, key: JSON.stringify(rdnKeys), rdnKeys };
}

export const namesEqual = (a: Name, b: Name) => a.key === b.key;

function escapeRfc4514(s: string): string {
  let out = s.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  out = Array.from(out, (c) => (c.charCodeAt(0) < 0x20 ? `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c)).join('');
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** RFC 4514 string form (most specific RDN first). */
const formatted = new WeakMap<Name, string>();

/** RFC 4514 text of a name (most significant RDN last); names are immutable, so it is computed once. */
export function formatName(name: Name): string {
  let text = formatted.get(name);
  if (text === undefined) formatted.set(name, (text = formatNameUncached(name)));
  return text;
}

function formatNameUncached(name: Name): string {
  return [...name.rdns]
    .reverse()
    .map((attrs) =>
      attrs
        .map((a) => `${ATTR_NAMES[a.oid] ?? a.oid}=${a.text !== undefined ? escapeRfc4514(a.text) : `#${hex(a.raw)}`}`)
        .join('+'),
    )
    .join(',');
}

export function attributeTexts(name: Name, oid: string): string[] {
  const out: string[] = [];
  for (const rdn of name.rdns) for (const a of rdn) if (a.oid === oid && a.text !== undefined) out.push(a.text);
  return out;
}

/** True when `name` lies within the subtree rooted at `base` (RDN-sequence prefix). */
export function nameWithinSubtree(name: Name, base: Name): boolean {
  if (base.rdnKeys.length > name.rdnKeys.length) return false;
  for (let i = 0; i < base.rdnKeys.length; i++) if (base.rdnKeys[i] !== name.rdnKeys[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// General names

export type GeneralName =
  | { type: 'dns' | 'email' | 'uri'; value: string; ascii: boolean }
  | { type: 'ip'; bytes: Uint8Array }
  | { type: 'dn'; name: Name }
  | { type: 'other' | 'x400' | 'edi' | 'rid'; raw: Uint8Array };

function ia5(bytes: Uint8Array): { value: string; ascii: boolean } {
  let ascii = true;
  for (const b of bytes) if (b >= 0x80) ascii = false;
  return { value: Buffer.from(bytes).toString('latin1'), ascii };
}

export function parseGeneralName(buf: Uint8Array, t: Tlv, what: string): GeneralName {
  if (t.cls !== CLASS_CONTEXT) throw new DerError(`${what}: malformed GeneralName`);
  const prim = (c: boolean) => {
    if (t.constructed !== c) throw new DerError(`${what}: malformed GeneralName encoding`);
  };
  switch (t.tag) {
    case 0:
      prim(true);
      return { type: 'other', raw: raw(buf, t) };
    case 1:
      prim(false);
      return { type: 'email', ...ia5(value(buf, t)) };
    case 2:
      prim(false);
      return { type: 'dns', ...ia5(value(buf, t)) };
    case 3:
      prim(true);
      return { type: 'x400', raw: raw(buf, t) };
    case 4: {
      prim(true);
      const inner = children(buf, t);
      if (inner.length !== 1) throw new DerError(`${what}: malformed directoryName`);
      return { type: 'dn', name: parseName(buf, inner[0], what) };
    }
    case 5:
      prim(true);
      return { type: 'edi', raw: raw(buf, t) };
    case 6:
      prim(false);
      return { type: 'uri', ...ia5(value(buf, t)) };
    case 7:
      prim(false);
      return { type: 'ip', bytes: value(buf, t) };
    case 8:
      prim(false);
      return { type: 'rid', raw: raw(buf, t) };
    default:
      throw new DerError(`${what}: unknown GeneralName tag`);
  }
}

export function parseGeneralNames(buf: Uint8Array, t: Tlv, what: string, allowEmpty = false): GeneralName[] {
  if (!t.constructed) throw new DerError(`${what}: expected GeneralNames`);
  const names = children(buf, t).map((c) => parseGeneralName(buf, c, what));
  if (names.length === 0 && !allowEmpty) throw new DerError(`${what}: empty GeneralNames`);
  return names;
}

// ---------------------------------------------------------------------------------------
// DNS names, IP addresses and mailboxes

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A preferred-syntax host name (RFC 1034/1123 as used by RFC 5280 4.2.1.6); A-labels allowed. */
export function isDnsName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  for (const label of s.split('.')) if (!DNS_LABEL.test(label)) return false;
  return true;
}

/**
 * Does a SAN dNSName (possibly a wildcard) match a reference host name? RFC 6125 6.4.3 and
 * CABF: a wildcard is only `*.` followed by a name of at least two labels (so never
 * `*.com` or `*`), it stands for exactly one left-most label, and partial wildcards
 * (`f*o.example.com`, `xn--*.example.com`) are not wildcards at all.
 */
export function dnsSanMatches(pattern: string, reference: string): boolean {
  const p = pattern.toLowerCase();
  const r = reference.toLowerCase();
  if (p.startsWith('*.')) {
    const base = p.slice(2);
    if (!isDnsName(base) || !base.includes('.')) return false;
    const dot = r.indexOf('.');
    return dot > 0 && r.slice(dot + 1) === base;
  }
  return isDnsName(p) && p === r;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Parses a textual IP address (dotted-quad IPv4 without leading zeros, or IPv6). */
export function parseIp(s: string): Uint8Array | undefined {
  if (IPV4.test(s)) return Uint8Array.from(s.split('.').map(Number));
  if (!s.includes(':')) return undefined;
  let text = s;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    if (!IPV4.test(maybeV4)) return undefined;
    tail = maybeV4.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = parseGroups(halves[0]);
  const rest = halves.length === 2 ? parseGroups(halves[1]) : [];
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const groups = [...head, ...Array(8 - total).fill('0'), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/i.test(groups[i])) return undefined;
    const v = parseInt(groups[i], 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail.length) out.set(tail, 12);
  return out;
}

/** Canonical text: dotted quad, or RFC 5952 (lower case, longest zero run compressed). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return hex(b);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const g = groups.map((x) => x.toString(16));
  if (bestLen < 2) return g.join(':');
  return `${g.slice(0, bestStart).join(':')}::${g.slice(bestStart + bestLen).join(':')}`;
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;

export interface Mailbox {
  local: string;
  domain: string;
}

/** RFC 5321 Mailbox (dot-atom local part only; quoted local parts are not supported). */
export function parseMailbox(s: string): Mailbox | undefined {
  const at = s.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (!local.split('.').every((p) => ATEXT.test(p))) return undefined;
  if (!isDnsName(domain)) return undefined;
  return { local, domain: domain.toLowerCase() };
}

export const mailboxesEqual = (a: Mailbox, b: Mailbox) => a.local === b.local && a.domain === b.domain;

// ---------------------------------------------------------------------------------------
// Name constraints

export interface NameConstraintsValue {
  permitted?: GeneralName[];
  excluded?: GeneralName[];
}

export class ConstraintBudgetExceeded extends Error {}

export interface Budget {
  nameChecks: number;
}

type Match = boolean;

class Malformed extends Error {}

function dnsWithin(constraint: string, name: string): boolean {
  return name === constraint || name.endsWith(`.${constraint}`);
}

// A dNSName constraint is a host name: "example.com" covers it and every name below it. A
// leading period (".example.com") is the URI and rfc822Name form only (RFC 5280 4.2.1.10),
// so on a dNSName it makes the constraint malformed (and the path invalid) rather than
// meaning "subdomains only".
function normaliseDnsConstraint(c: string): string {
  if (c.startsWith('.')) throw new Malformed(`malformed DNS name constraint "${c}" (a dNSName constraint cannot start with a period)`);
  if (!isDnsName(c)) throw new Malformed(`malformed DNS name constraint "${c}"`);
  return c.toLowerCase();
}

function matchDns(constraint: string, name: string, excluded: boolean): Match {
  const c = normaliseDnsConstraint(constraint);
  const n = name.toLowerCase();
  if (n.startsWith('*.')) {
    const base = n.slice(2);
    if (!isDnsName(base)) throw new Malformed(`malformed DNS name "${name}"`);
    // Permitted only when every expansion is inside; excluded when any could be.
    if (dnsWithin(c, `x.${base}`)) return true;
    if (!excluded) return false;
    const dot = c.indexOf('.');
    return dot > 0 && c.slice(dot + 1) === base;
  }
  if (!isDnsName(n)) throw new Malformed(`malformed DNS name "${name}"`);
  return dnsWithin(c, n);
}

function matchIp(constraint: Uint8Array, name: Uint8Array): Match {
  if (constraint.length !== 8 && constraint.length !== 32) throw new Malformed('malformed IP address name constraint (expected address and mask)');
  if (name.length !== 4 && name.length !== 16) throw new Malformed('malformed IP address in subjectAltName');
  const half = constraint.length / 2;
  const addr = constraint.subarray(0, half);
  const mask = constraint.subarray(half);
  // The mask must be a contiguous run of ones from the most significant bit.
  let seenZero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >> bit) & 1;
      if (one && seenZero) throw new Malformed('malformed IP address name constraint (non-contiguous mask)');
      if (!one) seenZero = true;
    }
  }
  if (name.length !== half) return false;
  for (let i = 0; i < half; i++) if ((name[i] & mask[i]) !== (addr[i] & mask[i])) return false;
  return true;
}

function matchEmail(constraint: string, name: string): Match {
  const mailbox = parseMailbox(name);
  if (!mailbox) throw new Malformed(`malformed rfc822Name "${name}"`);
  if (constraint.startsWith('.')) {
    const d = constraint.slice(1);
    if (!isDnsName(d)) throw new Malformed(`malformed rfc822Name constraint "${constraint}"`);
    return mailbox.domain.endsWith(`.${d.toLowerCase()}`);
  }
  if (constraint.includes('@')) {
    const exact = parseMailbox(constraint);
    if (!exact) throw new Malformed(`malformed rfc822Name constraint "${constraint}"`);
    return mailboxesEqual(exact, mailbox);
  }
  if (!isDnsName(constraint)) throw new Malformed(`malformed rfc822Name constraint "${constraint}"`);
  return mailbox.domain === constraint.toLowerCase();
}

const URI_AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i;

function matchUri(constraint: string, uri: string): Match {
  const body = constraint.startsWith('.') ? constraint.slice(1) : constraint;
  if (!isDnsName(body)) throw new Malformed(`malformed URI name constraint "${constraint}"`);
  const m = URI_AUTHORITY.exec(uri);
  // A URI without a host cannot satisfy a host-based constraint.
  if (!m || !m[1] || m[1].startsWith('[')) return false;
  const host = m[1].toLowerCase();
  const c = constraint.toLowerCase();
  return c.startsWith('.') ? host.endsWith(c) && host.length > c.length : host === c;
}

function matchOne(constraint: GeneralName, name: GeneralName, excluded: boolean): Match {
  switch (constraint.type) {
    case 'dns':
      return matchDns(constraint.value, (name as { value: string }).value, excluded);
    case 'email':
      return matchEmail(constraint.value, (name as { value: string }).value);
    case 'uri':
      return matchUri(constraint.value, (name as { value: string }).value);
    case 'ip':
      return matchIp(constraint.bytes, (name as { bytes: Uint8Array }).bytes);
    case 'dn':
      return nameWithinSubtree((name as { name: Name }).name, constraint.name);
    default:
      throw new Malformed(`unsupported ${constraint.type} name constraint`);
  }
}

export function describeGeneralName(n: GeneralName): string {
  switch (n.type) {
    case 'dns':
      return `DNS:${n.value}`;
    case 'email':
      return `email:${n.value}`;
    case 'uri':
      return `URI:${n.value}`;
    case 'ip':
      return `IP:${n.bytes.length === 4 || n.bytes.length === 16 ? formatIp(n.bytes) : hex(n.bytes)}`;
    case 'dn':
      return `DirName:${formatName(n.name)}`;
    default:
      return n.type;
  }
}

/**
 * Checks names of one certificate against one CA's constraints. Returns undefined when
 * every name is allowed, or a reason. Constraints only apply to names of their own type.
 */
export function checkNameConstraints(names: GeneralName[], nc: NameConstraintsValue, budget: Budget): string | undefined {
  for (const name of names) {
    const permitted = nc.permitted?.filter((c) => c.type === name.type) ?? [];
    const excluded = nc.excluded?.filter((c) => c.type === name.type) ?? [];
    try {
      if (permitted.length) {
        let ok = false;
        for (const c of permitted) {
          if (--budget.nameChecks < 0) throw new ConstraintBudgetExceeded();
          if (matchOne(c, name, false)) {
            ok = true;
            break;
          }
        }
        if (!ok) return `${describeGeneralName(name)} is not within the permitted subtrees`;
      }
      for (const c of excluded) {
        if (--budget.nameChecks < 0) throw new ConstraintBudgetExceeded();
        if (matchOne(c, name, true)) return `${describeGeneralName(name)} is within an excluded subtree (${describeGeneralName(c)})`;
      }
    } catch (e) {
      if (e instanceof Malformed) return e.message;
      throw e;
    }
  }
  return undefined;
}
