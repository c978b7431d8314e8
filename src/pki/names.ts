/**
 * Names and addresses shared by the PKI core and issuance policy: key algorithm names,
 * the SAN set, and IPv4/IPv6 CIDR arithmetic. Pure.
 */
import { isIP } from 'node:net';
import { parse as parseDomain } from 'tldts';

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ed25519';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519'];
export type Usage = 'server' | 'client' | 'server-client' | 'code-signing' | 'email';

export interface Sans {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

/** IPv4/IPv6 address to bigint plus family, for CIDR checks. */
export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | null {
  const fam = isIP(ip);
  if (fam === 4) return { family: 4, value: ip.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (fam === 6) {
    let s = ip;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (v4) {
      const n = ipToBigInt(v4[1])!.value;
      s = s.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head, tail] = s.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
    const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return { family: 6, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || '0', 16)), 0n) };
  }
  return null;
}

export function parseCidr(cidr: string): { family: 4 | 6; base: bigint; bits: number } | null {
  const [addr, bitsStr] = cidr.split('/');
  const ip = ipToBigInt(addr);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  const bits = bitsStr === undefined ? max : Number(bitsStr);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (bitsStr !== undefined && !/^\d+$/.test(bitsStr))) return null;
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(max - bits);
  return { family: ip.family, base: ip.value & mask, bits };
}

export function ipInCidr(ip: string, cidr: string): boolean {
  const a = ipToBigInt(ip);
  const c = parseCidr(cidr);
  if (!a || !c || a.family !== c.family) return false;
  const max = a.family === 4 ? 32 : 128;
  const mask = ((1n << BigInt(c.bits)) - 1n) << BigInt(max - c.bits);
  return (a.value & mask) === c.base;
}


/**
 * For a wildcard DNS name `*.<base>` whose base is itself a public suffix (`*.com`,
 * `*.co.uk`, `*.internal`), that suffix; else undefined. CABF TLS BR 3.2.2.6 forbids wildcards
 * directly under a registry-controlled suffix: the ICANN section of the Public Suffix List
 * (through `tldts`), plus any unlisted top-level label (the list's implicit `*` rule). The
 * private section (`s3.amazonaws.com`, `github.io`) is left out, as Chromium does: its owner
 * controls the whole namespace and may hold such a wildcard (Amazon's S3 certificate
 * carries `*.s3.amazonaws.com`).
 */
export function wildcardPublicSuffix(name: string): string | undefined {
  if (!name.startsWith('*.')) return undefined;
  const base = name.slice(2).toLowerCase().replace(/\.$/, '');
  if (!base) return undefined;
  const parsed = parseDomain(base, { allowPrivateDomains: false });
  if (parsed.isIp) return undefined;
  return parsed.domain === null && parsed.publicSuffix === base ? base : undefined;
}
