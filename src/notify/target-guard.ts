/**
 * Where Certa may not connect: the deployment's deny list (`CERTA_VERIFY_DENY`, cloud
 * metadata ranges by default) and, for `verifyEndpoint`, the optional allow list
 * (`CERTA_VERIFY_ALLOW`). Notification targets are checked when a channel is saved and
 * again before every send (DNS may have changed in between); verification targets are
 * resolved once, checked, and connected to by address (`resolve`).
 *
 * Entries are CIDR ranges, single addresses or host names (exact, case-insensitive).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export type Lookup = (host: string) => Promise<string[]>;

const defaultLookup: Lookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export interface TargetGuardOptions {
  /** When non-empty, only these hosts/networks are allowed (the deny list still wins). */
  allow?: readonly string[];
  /** How refusals name the target, e.g. `verification target` (default `notification target`). */
  noun?: string;
}

interface Rules {
  blocks: BlockList;
  hosts: Set<string>;
  size: number;
}

const normaliseHost = (host: string) => host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');

function compile(entries: readonly string[]): Rules {
  const rules: Rules = { blocks: new BlockList(), hosts: new Set(), size: entries.length };
  for (const entry of entries) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr);
    if (family === 0) {
      rules.hosts.add(normaliseHost(entry));
    } else if (bits !== undefined) {
      rules.blocks.addSubnet(addr, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
    } else {
      rules.blocks.addAddress(addr, family === 6 ? 'ipv6' : 'ipv4');
    }
  }
  return rules;
}

/** Whether an address literal is in the rules' networks (odd literals, e.g. with a zone id, count as in: fail closed). */
function inNetworks(rules: Rules, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  try {
    return rules.blocks.check(address, family === 6 ? 'ipv6' : 'ipv4');
  } catch {
    return true;
  }
}

export class TargetGuard {
  readonly #deny: Rules;
  readonly #allow: Rules;
  readonly #noun: string;

  constructor(
    deny: readonly string[],
    private readonly lookup: Lookup = defaultLookup,
    opts: TargetGuardOptions = {},
  ) {
    this.#deny = compile(deny);
    this.#allow = compile(opts.allow ?? []);
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

  #deniedAddress(address: string): boolean {
    return inNetworks(this.#deny, address);
  }

  /** Checks the host as written against the deny list (no DNS): a reason when denied. */
  checkLiteral(host: string): string | null {
    const h = normaliseHost(host);
    if (this.#deny.hosts.has(h) || this.#deniedAddress(h)) return `${host} is not an allowed ${this.#noun}`;
    return null;
  }

  /**
   * Checks the host and every address it resolves to against the deny list. A name that
   * does not resolve is not denied here: the send then fails (retryably) on its own.
   */
  async check(host: string): Promise<string | null> {
    const literal = this.checkLiteral(host);
    if (literal || isIP(normaliseHost(host))) return literal;
    let addresses: string[];
    try {
      addresses = await this.lookup(normaliseHost(host));
    } catch {
      return null;
    }
    return addresses.some((a) => this.#deniedAddress(a)) ? `${host} resolves to an address that is not an allowed ${this.#noun}` : null;
  }

  /**
   * For callers that connect themselves: resolves `host` once and checks the name and every
   * address against the deny list and, when one is configured, the allow list (the name
   * must be listed, or every address must be in a listed network). Connect to one of the
   * returned addresses and never resolve again (DNS may answer differently the second
   * time). A name that does not resolve rejects with the lookup's error.
   */
  async resolve(host: string): Promise<{ addresses: string[]; denied: string | null }> {
    const h = normaliseHost(host);
    const literal = this.checkLiteral(h);
    if (literal) return { addresses: [], denied: literal };
    const addresses = isIP(h) ? [h] : await this.lookup(h);
    if (addresses.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
    const denied = addresses.find((a) => this.#deniedAddress(a));
    if (denied) return { addresses, denied: `${host} resolves to ${denied}, which is not an allowed ${this.#noun}` };
    if (this.#allow.size > 0 && !this.#allow.hosts.has(h)) {
      const outside = addresses.find((a) => !inNetworks(this.#allow, a));
      if (outside !== undefined) {
        const what = isIP(h) ? `${host}` : `${host} (${outside})`;
        return { addresses, denied: `${what} is not in the allowed ${this.#noun}s` };
      }
    }
    return { addresses, denied: null };
  }
}
