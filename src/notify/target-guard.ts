/**
 * Where Certa may connect: `verifyEndpoint` targets and notification channel hosts. Every
 * address, written or resolved, gets one classification:
 *
 * - never a target, whatever the lists say: unspecified (0.0.0.0/8, ::), broadcast
 *   (255.255.255.255), multicast (224.0.0.0/4, ff00::/8), reserved (240.0.0.0/4);
 * - denied unless `CERTA_TARGET_ALLOW` lists them (labs, tests): loopback (127.0.0.0/8,
 *   ::1, `localhost` and `*.localhost`), link-local (169.254.0.0/16, fe80::/10) and cloud
 *   metadata services (their addresses and names);
 * - then the deployment's deny list (`CERTA_VERIFY_DENY`, cloud metadata ranges by
 *   default) wins over any allow list;
 * - everything else is allowed, private ranges included (verifying internal endpoints is
 *   the point); `verifyEndpoint` alone may be narrowed to `CERTA_VERIFY_ALLOW`.
 *
 * Hosts are read the way the WHATWG URL parser and getaddrinfo read them (2130706433,
 * 0x7f000001, 0177.0.0.1 and 127.1 are all 127.0.0.1), and IPv6 forms that carry an IPv4
 * address (mapped, compatible, NAT64, 6to4) are judged by that address as well.
 *
 * Callers connect to the addresses `resolve` (or `connectAddresses`) checked, never to
 * the name: DNS may answer differently the second time.
 *
 * List entries are CIDR ranges, single addresses or host names (exact, case-insensitive).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export type Lookup = (host: string) => Promise<string[]>;

const defaultLookup: Lookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Variables named in refusals, so an operator knows which knob a refusal came from. */
const OPEN_VAR = 'CERTA_TARGET_ALLOW';
const DENY_VAR = 'CERTA_VERIFY_DENY';
const ONLY_VAR = 'CERTA_VERIFY_ALLOW';

export interface TargetGuardOptions {
  /** When non-empty, only these hosts/networks are allowed (`CERTA_VERIFY_ALLOW`; the other rules still apply). */
  allow?: readonly string[];
  /** Loopback, link-local and metadata hosts/networks that may be reached anyway (`CERTA_TARGET_ALLOW`). */
  open?: readonly string[];
  /** How refusals name the target, e.g. `verification target` (default `notification target`). */
  noun?: string;
}

/** A refusal at connect time (the senders report it as a permanent failure). */
export class TargetNotAllowedError extends Error {
  readonly code = 'ETARGETNOTALLOWED';
  constructor(message: string) {
    super(message);
    this.name = 'TargetNotAllowedError';
  }
}

export type AddressKind = 'unspecified' | 'broadcast' | 'multicast' | 'reserved' | 'loopback' | 'link-local' | 'metadata' | 'ordinary';

/** Kinds no list can open. */
const NEVER: ReadonlySet<AddressKind> = new Set(['unspecified', 'broadcast', 'multicast', 'reserved']);
/** Kinds denied unless `CERTA_TARGET_ALLOW` lists them. */
const LOCAL: ReadonlySet<AddressKind> = new Set(['loopback', 'link-local', 'metadata']);

/** Cloud metadata services outside the ranges above or worth naming (AWS IMDS/ECS, Alibaba, Azure WireServer). */
const METADATA_V4 = new Set(['169.254.169.254', '169.254.170.2', '100.100.100.200', '168.63.129.16']);
const METADATA_V6 = new Set(['fd00:ec2::254']);
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

/** RFC 6761: `localhost` and every name under it are loopback, whatever DNS says. */
const isLocalhostName = (name: string) => name === 'localhost' || name.endsWith('.localhost');

/**
 * A host as written, made comparable: `ip` is the canonical address when the host is an
 * address in any form the URL parser or getaddrinfo accepts (brackets, zone id and
 * trailing dots dropped), else null; `name` is the lower-cased name without trailing dots.
 */
export function canonicalHost(host: string): { ip: string | null; name: string } {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes(':')) {
    const zone = h.indexOf('%');
    const bare = zone >= 0 ? h.slice(0, zone) : h;
    try {
      return { ip: new URL(`http://[${bare}]/`).hostname.slice(1, -1), name: h };
    } catch {
      return { ip: null, name: h };
    }
  }
  h = h.replace(/\.+$/, '');
  // Anything the URL parser would read as userinfo, port or path is not an address.
  if (h === '' || /[/?#@\\\s%]/.test(h)) return { ip: null, name: h };
  try {
    const parsed = new URL(`http://${h}/`).hostname;
    return { ip: isIP(parsed) === 4 ? parsed : null, name: h };
  } catch {
    return { ip: null, name: h };
  }
}

const v4Int = (a: string) => a.split('.').reduce((n, p) => n * 256 + Number(p), 0);
const inV4 = (n: number, base: string, bits: number) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(v4Int(base) / 2 ** (32 - bits));
const v4Of = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');

/** The eight 16-bit words of a canonical IPv6 address (hex groups, at most one `::`). */
function v6Words(a: string): number[] {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  return [...h, ...Array<string>(fill).fill('0'), ...t].map((x) => parseInt(x, 16));
}

/** The IPv4 address an IPv6 address carries: mapped, SIIT, compatible, NAT64 (64:ff9b::/96, 64:ff9b:1::/48) or 6to4. */
function embeddedV4(w: number[]): string | undefined {
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && w[5] === 0xffff) return v4Of(w[6], w[7]);
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return v4Of(w[6], w[7]);
  if (zero(0, 6)) return v4Of(w[6], w[7]);
  if (w[0] === 0x64 && w[1] === 0xff9b && (zero(2, 6) || w[2] === 1)) return v4Of(w[6], w[7]);
  if (w[0] === 0x2002) return v4Of(w[1], w[2]);
  return undefined;
}

function classifyV4(a: string): AddressKind {
  const n = v4Int(a);
  if (inV4(n, '0.0.0.0', 8)) return 'unspecified';
  if (a === '255.255.255.255') return 'broadcast';
  if (inV4(n, '224.0.0.0', 4)) return 'multicast';
  if (inV4(n, '240.0.0.0', 4)) return 'reserved';
  if (inV4(n, '127.0.0.0', 8)) return 'loopback';
  if (METADATA_V4.has(a)) return 'metadata';
  if (inV4(n, '169.254.0.0', 16)) return 'link-local';
  return 'ordinary';
}

/**
 * What an address is, by the rules in the module comment. `address` may be in any form
 * `canonicalHost` reads; `embedded` is the IPv4 address an IPv6 one carries. An address
 * that cannot be read is `reserved` (fail closed).
 */
export function classifyAddress(address: string): { kind: AddressKind; address: string; embedded?: string } {
  const ip = canonicalHost(address).ip;
  if (ip === null) return { kind: 'reserved', address };
  if (isIP(ip) === 4) return { kind: classifyV4(ip), address: ip };
  const w = v6Words(ip);
  if (w.every((x) => x === 0)) return { kind: 'unspecified', address: ip };
  if (w.slice(0, 7).every((x) => x === 0) && w[7] === 1) return { kind: 'loopback', address: ip };
  if (w[0] >> 8 === 0xff) return { kind: 'multicast', address: ip };
  if ((w[0] & 0xffc0) === 0xfe80) return { kind: 'link-local', address: ip };
  if (METADATA_V6.has(ip)) return { kind: 'metadata', address: ip };
  const embedded = embeddedV4(w);
  if (embedded === undefined) return { kind: 'ordinary', address: ip };
  return { kind: classifyV4(embedded), address: ip, embedded };
}

const KIND_TEXT: Record<AddressKind, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
  loopback: 'a loopback address',
  'link-local': 'a link-local address',
  metadata: 'a cloud metadata address',
  ordinary: 'an address',
};

interface Rules {
  blocks: BlockList;
  hosts: Set<string>;
  size: number;
}

function compile(entries: readonly string[]): Rules {
  const rules: Rules = { blocks: new BlockList(), hosts: new Set(), size: entries.length };
  for (const entry of entries) {
    const [addr, bits] = entry.split('/');
    const ip = canonicalHost(addr).ip;
    if (ip === null) {
      rules.hosts.add(canonicalHost(entry).name);
    } else if (bits !== undefined) {
      rules.blocks.addSubnet(ip, Number(bits), isIP(ip) === 6 ? 'ipv6' : 'ipv4');
    } else {
      rules.blocks.addAddress(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
    }
  }
  return rules;
}

/** Whether an address (or the IPv4 address it carries) is in the rules' networks; unreadable counts as in (fail closed). */
function inNetworks(rules: Rules, a: { address: string; embedded?: string }): boolean {
  const one = (ip: string) => {
    try {
      return rules.blocks.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
    } catch {
      return true;
    }
  };
  return one(a.address) || (a.embedded !== undefined && one(a.embedded));
}

export class TargetGuard {
  readonly #deny: Rules;
  readonly #only: Rules;
  readonly #open: Rules;
  readonly #noun: string;

  constructor(
    deny: readonly string[],
    private readonly lookup: Lookup = defaultLookup,
    opts: TargetGuardOptions = {},
  ) {
    this.#deny = compile(deny);
    this.#only = compile(opts.allow ?? []);
    this.#open = compile(opts.open ?? []);
    this.#noun = opts.noun ?? 'notification target';
  }

  /** Host of an http(s) URL or an SMTP host, without IPv6 brackets. */
  static hostOf(target: string): string {
    try {
      return new URL(target).hostname.replace(/^\[|\]$/g, '');
    } catch {
      return target.replace(/^\[|\]$/g, '');
    }
  }

  #refuse(host: string, why: string): string {
    return `${host} is not an allowed ${this.#noun}: ${why}`;
  }

  /** The rules a name meets before any DNS (deny list, metadata names, localhost names). */
  #nameRule(host: string, name: string): string | null {
    if (this.#deny.hosts.has(name)) return this.#refuse(host, `the name is listed in ${DENY_VAR}`);
    if (this.#open.hosts.has(name)) return null;
    if (METADATA_NAMES.has(name)) return this.#refuse(host, `a cloud metadata service name (allowed only when ${OPEN_VAR} lists it)`);
    const loopbackOpen = inNetworks(this.#open, { address: '127.0.0.1' }) || inNetworks(this.#open, { address: '::1' });
    if (isLocalhostName(name) && !loopbackOpen) return this.#refuse(host, `a localhost name is loopback (allowed only when ${OPEN_VAR} lists it)`);
    return null;
  }

  /** The rules one address meets; `name` is set when it came from resolving that name. */
  #addressRule(host: string, address: string, name: string | null): string | null {
    const a = classifyAddress(address);
    const subject = name !== null ? `it resolves to ${a.address}, which` : a.address !== host ? `${a.address}` : 'it';
    if (NEVER.has(a.kind)) return this.#refuse(host, `${subject} is ${KIND_TEXT[a.kind]} (never a valid target)`);
    const opened = (name !== null && this.#open.hosts.has(name)) || inNetworks(this.#open, a);
    // A localhost name is loopback whatever it resolves to.
    const kind = name !== null && isLocalhostName(name) && a.kind === 'ordinary' ? 'loopback' : a.kind;
    if (LOCAL.has(kind) && !opened) {
      const carried = a.embedded !== undefined ? ` (it carries ${a.embedded})` : '';
      return this.#refuse(host, `${subject} is ${KIND_TEXT[kind]}${carried}, allowed only when ${OPEN_VAR} lists it`);
    }
    if ((name !== null && this.#deny.hosts.has(name)) || inNetworks(this.#deny, a)) return this.#refuse(host, `${subject} is in ${DENY_VAR}`);
    return null;
  }

  /** Checks the host as written (no DNS): a reason when refused. */
  checkLiteral(host: string): string | null {
    const t = canonicalHost(host);
    return t.ip !== null ? this.#addressRule(host, t.ip, null) : this.#nameRule(host, t.name);
  }

  /**
   * Checks the host and every address it resolves to. A name that does not resolve is not
   * refused here (channels are saved before their receiver exists): the send then fails
   * on its own.
   */
  async check(host: string): Promise<string | null> {
    try {
      return (await this.resolve(host)).denied;
    } catch {
      return null;
    }
  }

  /**
   * For callers that connect themselves: resolves `host` once and checks the name and every
   * address (any refused address refuses the host), then, when `CERTA_VERIFY_ALLOW` is set,
   * requires the name to be listed or every address to be in a listed network. Connect to
   * one of the returned addresses and never resolve again. A name that does not resolve
   * rejects with the lookup's error.
   */
  async resolve(host: string): Promise<{ addresses: string[]; denied: string | null }> {
    const shown = host.replace(/^\[|\]$/g, '');
    const t = canonicalHost(host);
    if (t.ip === null) {
      const refused = this.#nameRule(shown, t.name);
      if (refused) return { addresses: [], denied: refused };
    }
    const found = t.ip !== null ? [t.ip] : await this.lookup(t.name);
    if (found.length === 0) throw Object.assign(new Error(`${shown} has no address`), { code: 'ENOTFOUND' });
    const addresses = found.map((a) => canonicalHost(a).ip ?? a);
    for (const a of addresses) {
      const refused = this.#addressRule(shown, a, t.ip === null ? t.name : null);
      if (refused) return { addresses, denied: refused };
    }
    if (this.#only.size > 0 && !(t.ip === null && this.#only.hosts.has(t.name))) {
      const outside = addresses.find((a) => !inNetworks(this.#only, classifyAddress(a)));
      if (outside !== undefined) {
        const what = t.ip !== null ? shown : `${shown} (${outside})`;
        return { addresses, denied: `${what} is not in the allowed ${this.#noun}s (${ONLY_VAR})` };
      }
    }
    return { addresses, denied: null };
  }

  /** `resolve` for connecting: the checked addresses, or a `TargetNotAllowedError`. */
  async connectAddresses(host: string): Promise<string[]> {
    const r = await this.resolve(host);
    if (r.denied) throw new TargetNotAllowedError(r.denied);
    return r.addresses;
  }
}
