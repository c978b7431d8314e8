/**
 * The SSRF rules as one table: every written form of an address and the decision under
 * the default configuration, with loopback opened (as labs and tests do), and with
 * everything opened and nothing denied (what can never be opened). Decisions only: no
 * test here connects anywhere. Names resolve through a fixed table (DNS is the input).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { canonicalHost, classifyAddress, TargetGuard, TargetNotAllowedError } from './target-guard.js';

const DEFAULT_DENY = loadConfig({}).verifyDeny;

const DNS: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'app.localhost': ['127.0.0.1'],
  'public.example.test': ['93.184.216.34', '2001:db8::1'],
  'internal.example.test': ['10.1.2.3'],
  'rebind.example.test': ['127.0.0.1'],
  'mixed.example.test': ['93.184.216.34', '169.254.169.254'],
  'zero.example.test': ['0.0.0.0'],
  'dns64.example.test': ['64:ff9b::a9fe:a9fe'],
  'scoped.example.test': ['fe80::1%eth0'],
  'metadata.google.internal': ['169.254.169.254'],
};
const lookup = async (host: string) => {
  if (!DNS[host]) throw Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' });
  return DNS[host];
};

const guards = {
  standard: new TargetGuard(DEFAULT_DENY, lookup),
  loopbackOpen: new TargetGuard(DEFAULT_DENY, lookup, { open: ['127.0.0.0/8', '::1'] }),
  everythingOpen: new TargetGuard([], lookup, { open: ['0.0.0.0/0', '::/0', 'metadata.google.internal'] }),
};

const OK = null;
const LOOPBACK = /is a loopback address.*allowed only when CERTA_TARGET_ALLOW lists it/;
const LINK_LOCAL = /is a link-local address.*CERTA_TARGET_ALLOW/;
const METADATA = /cloud metadata (address|service name).*CERTA_TARGET_ALLOW/;
const DENIED = /is in CERTA_VERIFY_DENY/;
const never = (kind: string) => new RegExp(`is (an?|the) ${kind} address \\(never a valid target\\)`);

// [name, host, standard, loopback opened, everything opened and nothing denied]
const TABLE: Array<[string, string, RegExp | null, RegExp | null, RegExp | null]> = [
  ['ok/public IPv4', '93.184.216.34', OK, OK, OK],
  ['ok/public IPv6', '2001:db8::1', OK, OK, OK],
  ['ok/public name', 'public.example.test', OK, OK, OK],
  ['ok/private 10/8', '10.0.0.1', OK, OK, OK],
  ['ok/private 172.16/12', '172.16.5.4', OK, OK, OK],
  ['ok/private 192.168/16', '192.168.1.1', OK, OK, OK],
  ['ok/unique local fc00::/7', 'fd12:3456::1', OK, OK, OK],
  ['ok/CGNAT 100.64/10', '100.64.0.1', OK, OK, OK],
  ['ok/private name', 'internal.example.test', OK, OK, OK],
  ['ok/IPv4-mapped private', '[::ffff:10.0.0.1]', OK, OK, OK],
  ['error/loopback', '127.0.0.1', LOOPBACK, OK, OK],
  ['error/loopback, top of 127/8', '127.255.255.254', LOOPBACK, OK, OK],
  ['error/loopback, decimal', '2130706433', LOOPBACK, OK, OK],
  ['error/loopback, hex', '0x7f000001', LOOPBACK, OK, OK],
  ['error/loopback, octal', '0177.0.0.1', LOOPBACK, OK, OK],
  ['error/loopback, short', '127.1', LOOPBACK, OK, OK],
  ['error/loopback, hex and short', '0x7f.1', LOOPBACK, OK, OK],
  ['error/loopback, trailing dot', '127.0.0.1.', LOOPBACK, OK, OK],
  ['error/loopback IPv6', '::1', LOOPBACK, OK, OK],
  ['error/loopback IPv6, long form', '[0:0:0:0:0:0:0:1]', LOOPBACK, OK, OK],
  ['error/loopback IPv4-mapped, dotted', '[::ffff:127.0.0.1]', LOOPBACK, OK, OK],
  ['error/loopback IPv4-mapped, hex', '[::ffff:7f00:1]', LOOPBACK, OK, OK],
  ['error/loopback IPv4-compatible', '::127.0.0.1', LOOPBACK, OK, OK],
  ['error/loopback NAT64', '64:ff9b::127.0.0.1', LOOPBACK, OK, OK],
  ['error/loopback 6to4', '2002:7f00:1::1', LOOPBACK, OK, OK],
  ['error/localhost', 'localhost', /localhost name is loopback/, OK, OK],
  ['error/LOCALHOST', 'LOCALHOST', /localhost name is loopback/, OK, OK],
  ['error/localhost with trailing dot', 'localhost.', /localhost name is loopback/, OK, OK],
  ['error/*.localhost', 'app.localhost', /localhost name is loopback/, OK, OK],
  ['error/name resolving to loopback', 'rebind.example.test', LOOPBACK, OK, OK],
  ['error/unspecified 0', '0', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/unspecified 0.0.0.0', '0.0.0.0', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/unspecified 0/8', '0.1.2.3', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/unspecified hex', '0x0', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/unspecified IPv6', '[::]', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/unspecified IPv4-mapped', '::ffff:0.0.0.0', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/name resolving to 0.0.0.0', 'zero.example.test', never('unspecified'), never('unspecified'), never('unspecified')],
  ['error/broadcast', '255.255.255.255', never('broadcast'), never('broadcast'), never('broadcast')],
  ['error/broadcast, decimal', '4294967295', never('broadcast'), never('broadcast'), never('broadcast')],
  ['error/multicast', '224.0.0.1', never('multicast'), never('multicast'), never('multicast')],
  ['error/multicast SSDP', '239.255.255.250', never('multicast'), never('multicast'), never('multicast')],
  ['error/multicast IPv6', 'ff02::1', never('multicast'), never('multicast'), never('multicast')],
  ['error/multicast IPv4-mapped', '::ffff:224.0.0.1', never('multicast'), never('multicast'), never('multicast')],
  ['error/reserved 240/4', '240.0.0.1', never('reserved'), never('reserved'), never('reserved')],
  ['error/link-local', '169.254.1.1', LINK_LOCAL, LINK_LOCAL, OK],
  ['error/link-local IPv6', 'fe80::1', LINK_LOCAL, LINK_LOCAL, OK],
  ['error/link-local IPv6 with zone', 'fe80::1%eth0', LINK_LOCAL, LINK_LOCAL, OK],
  ['error/name resolving to link-local with zone', 'scoped.example.test', LINK_LOCAL, LINK_LOCAL, OK],
  ['error/metadata', '169.254.169.254', METADATA, METADATA, OK],
  ['error/metadata, decimal', '2852039166', METADATA, METADATA, OK],
  ['error/metadata, hex', '0xa9fea9fe', METADATA, METADATA, OK],
  ['error/metadata IPv4-mapped', '::ffff:169.254.169.254', METADATA, METADATA, OK],
  ['error/metadata NAT64, from DNS', 'dns64.example.test', METADATA, METADATA, OK],
  ['error/metadata AWS IPv6', '[fd00:ec2::254]', METADATA, METADATA, OK],
  ['error/metadata Alibaba', '100.100.100.200', METADATA, METADATA, OK],
  ['error/metadata name', 'metadata.google.internal', METADATA, METADATA, OK],
  ['error/metadata name, any case and trailing dot', 'METADATA.Google.Internal.', METADATA, METADATA, OK],
  ['error/metadata short name', 'metadata', METADATA, METADATA, METADATA],
  ['error/one refused address refuses the name', 'mixed.example.test', METADATA, METADATA, OK],
];

describe('TargetGuard: the SSRF table', () => {
  it.each(TABLE)('%s (%s)', async (_name, host, standard, loopbackOpen, everythingOpen) => {
    for (const [which, expected] of [
      ['standard', standard],
      ['loopbackOpen', loopbackOpen],
      ['everythingOpen', everythingOpen],
    ] as const) {
      const { denied } = await guards[which].resolve(host);
      if (expected === null) expect(denied, which).toBeNull();
      else expect(denied, which).toMatch(expected);
      if (denied) expect(denied, which).toMatch(/^.+ is not an allowed notification target: /);
    }
  });
});

describe('TargetGuard', () => {
  it('error/the deployment deny list wins over CERTA_TARGET_ALLOW', async () => {
    const g = new TargetGuard(DEFAULT_DENY, lookup, { open: ['169.254.0.0/16', 'metadata.google.internal'] });
    expect((await g.resolve('169.254.1.1')).denied).toMatch(DENIED);
    expect((await g.resolve('metadata.google.internal')).denied).toMatch(DENIED);
    const named = new TargetGuard(['internal.example.test'], lookup);
    expect((await named.resolve('INTERNAL.example.test.')).denied).toMatch(/listed in CERTA_VERIFY_DENY/);
  });

  it('ok/a name listed in CERTA_TARGET_ALLOW opens the loopback addresses it resolves to, and only those names', async () => {
    const g = new TargetGuard(DEFAULT_DENY, lookup, { open: ['app.localhost'] });
    expect((await g.resolve('app.localhost')).denied).toBeNull();
    expect((await g.resolve('localhost')).denied).toMatch(/localhost name is loopback/);
    expect((await g.resolve('127.0.0.1')).denied).toMatch(LOOPBACK);
  });

  it('ok/check leaves unresolvable names to the send; connectAddresses refuses with TargetNotAllowedError', async () => {
    const g = guards.standard;
    expect(await g.check('nowhere.example.test')).toBeNull();
    expect(await g.check('public.example.test')).toBeNull();
    expect(await g.check('rebind.example.test')).toMatch(LOOPBACK);
    // *.localhost is refused before any DNS, so even a name that does not resolve is refused.
    expect(await g.check('nowhere.localhost')).toMatch(/localhost name is loopback/);
    await expect(g.connectAddresses('rebind.example.test')).rejects.toBeInstanceOf(TargetNotAllowedError);
    expect(await g.connectAddresses('public.example.test')).toEqual(['93.184.216.34', '2001:db8::1']);
    await expect(g.connectAddresses('nowhere.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('ok/checkLiteral judges the host as written, without DNS', () => {
    expect(guards.standard.checkLiteral('0x7f000001')).toMatch(/^0x7f000001 is not an allowed notification target: 127\.0\.0\.1 is a loopback address/);
    expect(guards.standard.checkLiteral('rebind.example.test')).toBeNull();
    expect(guards.standard.checkLiteral('10.0.0.1')).toBeNull();
  });

  it.each([
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['FE80::1%eth0', 'fe80::1'],
    ['1.2.3.256', null],
    ['a@127.0.0.1', null],
    ['example.test', null],
  ])('ok/canonicalHost(%s) -> %s', (host, ip) => {
    expect(canonicalHost(host).ip).toBe(ip);
  });

  it('ok/classifyAddress names the IPv4 address an IPv6 one carries', () => {
    expect(classifyAddress('::ffff:169.254.169.254')).toEqual({ kind: 'metadata', address: '::ffff:a9fe:a9fe', embedded: '169.254.169.254' });
    expect(classifyAddress('2002:a00:1::')).toEqual({ kind: 'ordinary', address: '2002:a00:1::', embedded: '10.0.0.1' });
    expect(classifyAddress('not an address').kind).toBe('reserved');
  });

  it('ok/hostOf strips brackets and reads normalised URL hosts', () => {
    expect(TargetGuard.hostOf('http://[fd00:ec2::254]:8080/x')).toBe('fd00:ec2::254');
    expect(TargetGuard.hostOf('http://2852039166/latest')).toBe('169.254.169.254');
    expect(TargetGuard.hostOf('http://0x7f000001/')).toBe('127.0.0.1');
    expect(TargetGuard.hostOf('smtp.example.test')).toBe('smtp.example.test');
  });
});
