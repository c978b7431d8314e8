import { describe, expect, it } from 'vitest';
import { wildcardPublicSuffix } from '../names.js';
import { type GeneralName, checkNameConstraints, dnsSanMatches, formatIp, parseIp, parseMailbox } from './names.js';

describe('dnsSanMatches (RFC 6125, CABF wildcards)', () => {
  it.each([
    { name: 'ok/exact', pattern: 'example.com', ref: 'example.com', match: true },
    { name: 'ok/case-insensitive', pattern: 'Example.COM', ref: 'example.com', match: true },
    { name: 'ok/leftmost wildcard', pattern: '*.example.com', ref: 'foo.example.com', match: true },
    { name: 'error/wildcard spans two labels', pattern: '*.example.com', ref: 'a.b.example.com', match: false },
    { name: 'error/wildcard does not match the apex', pattern: '*.example.com', ref: 'example.com', match: false },
    { name: 'error/partial wildcard', pattern: 'f*.example.com', ref: 'foo.example.com', match: false },
    { name: 'error/wildcard inside an A-label', pattern: 'xn--*-1b3c148a.example.com', ref: 'xn--bliss-1b3c148a.example.com', match: false },
    { name: 'error/wildcard not leftmost', pattern: 'foo.*.example.com', ref: 'foo.bar.example.com', match: false },
    { name: 'error/wildcard over a single label (public suffix)', pattern: '*.com', ref: 'example.com', match: false },
    { name: 'error/bare wildcard', pattern: '*', ref: 'com', match: false },
    { name: 'error/subdomain vs apex', pattern: 'example.com', ref: 'abc.example.com', match: false },
  ])('$name', ({ pattern, ref, match }) => expect(dnsSanMatches(pattern, ref)).toBe(match));
});

describe('wildcardPublicSuffix (Public Suffix List, CABF 3.2.2.6)', () => {
  it.each([
    { name: 'error/*.com', san: '*.com', suffix: 'com' },
    { name: 'error/*.co.uk', san: '*.co.uk', suffix: 'co.uk' },
    { name: 'error/case does not matter', san: '*.CO.UK', suffix: 'co.uk' },
    { name: 'error/a PSL wildcard rule (*.ck)', san: '*.foo.ck', suffix: 'foo.ck' },
    { name: 'error/an IDN suffix in A-label form', san: '*.xn--55qx5d.cn', suffix: 'xn--55qx5d.cn' },
    { name: 'error/an unlisted top-level label', san: '*.internal', suffix: 'internal' },
    { name: 'ok/a PSL exception rule (!www.ck)', san: '*.www.ck', suffix: undefined },
    { name: 'ok/under a registrable domain', san: '*.example.co.uk', suffix: undefined },
    { name: 'ok/private-section suffixes are their owners\' namespace', san: '*.s3.amazonaws.com', suffix: undefined },
    { name: 'ok/not a wildcard', san: 'co.uk', suffix: undefined },
  ])('$name', ({ san, suffix }) => expect(wildcardPublicSuffix(san)).toBe(suffix));
});

describe('IP addresses', () => {
  it.each([
    { name: 'ok/ipv4', text: '192.0.2.1', canonical: '192.0.2.1' },
    { name: 'ok/ipv6 compressed', text: '2001:DB8:0:0:0:0:0:1', canonical: '2001:db8::1' },
    { name: 'ok/ipv6 first longest run', text: '2001:db8:0:0:1:0:0:1', canonical: '2001:db8::1:0:0:1' },
    { name: 'ok/ipv4-mapped', text: '::ffff:192.0.2.1', canonical: '::ffff:c000:201' },
  ])('$name', ({ text, canonical }) => expect(formatIp(parseIp(text)!)).toBe(canonical));

  it.each(['192.168.001.001', '0xC0A80101', '1.2.3', '1:2:3', '::1::2', ''])('error/%s is not an IP literal', (text) => expect(parseIp(text)).toBeUndefined());
});

describe('checkNameConstraints', () => {
  const dns = (value: string): GeneralName => ({ type: 'dns', value, ascii: true });
  const ip = (text: string): GeneralName => ({ type: 'ip', bytes: parseIp(text)! });
  const net = (a: string, mask: string): GeneralName => ({ type: 'ip', bytes: new Uint8Array([...parseIp(a)!, ...parseIp(mask)!]) });
  const email = (value: string): GeneralName => ({ type: 'email', value, ascii: true });
  it.each([
    { name: 'ok/permitted subdomain', names: [dns('foo.example.com')], nc: { permitted: [dns('example.com')] }, ok: true },
    { name: 'error/not a label boundary', names: [dns('badexample.com')], nc: { permitted: [dns('example.com')] }, ok: false },
    { name: 'error/excluded wins over permitted', names: [dns('example.com')], nc: { permitted: [dns('example.com')], excluded: [dns('example.com')] }, ok: false },
    { name: 'ok/other name types are not constrained', names: [dns('example.com')], nc: { permitted: [net('192.0.2.0', '255.255.255.0')] }, ok: true },
    { name: 'ok/ip in range', names: [ip('192.0.2.7')], nc: { permitted: [net('192.0.2.0', '255.255.255.0')] }, ok: true },
    { name: 'error/ip outside range', names: [ip('192.0.3.7')], nc: { permitted: [net('192.0.2.0', '255.255.255.0')] }, ok: false },
    { name: 'error/non-contiguous mask', names: [ip('192.0.2.7')], nc: { permitted: [net('192.0.2.0', '255.0.255.0')] }, ok: false },
    { name: 'error/wildcard constraint is malformed', names: [dns('foo.example.com')], nc: { permitted: [dns('*.example.com')] }, ok: false },
    { name: 'error/dNSName constraint with a leading period is malformed', names: [dns('foo.example.com')], nc: { permitted: [dns('.example.com')] }, ok: false },
    { name: 'error/excluded dNSName with a leading period is malformed too', names: [dns('foo.example.org')], nc: { excluded: [dns('.example.com')] }, ok: false },
    { name: 'error/malformed SAN under a constraint', names: [dns('.example.com')], nc: { permitted: [dns('example.com')] }, ok: false },
    { name: 'ok/wildcard SAN inside permitted', names: [dns('*.example.com')], nc: { permitted: [dns('example.com')] }, ok: true },
    { name: 'error/wildcard SAN may cover an excluded host', names: [dns('*.example.com')], nc: { excluded: [dns('bad.example.com')] }, ok: false },
    { name: 'ok/mailbox on domain', names: [email('a@example.com')], nc: { permitted: [email('example.com')] }, ok: true },
    { name: 'error/mailbox in subdomain only', names: [email('a@example.com')], nc: { permitted: [email('.example.com')] }, ok: false },
  ])('$name', ({ names, nc, ok }) => expect(checkNameConstraints(names, nc, { nameChecks: 1000 }) === undefined).toBe(ok));

  it('error/budget exhausted', () => {
    expect(() => checkNameConstraints([dns('a.example.com')], { excluded: [dns('x.test'), dns('y.test')] }, { nameChecks: 1 })).toThrow();
  });

  it.each([
    { name: 'ok/mailbox', value: 'user@Example.com', parsed: { local: 'user', domain: 'example.com' } },
    { name: 'error/quoted local part', value: '"a b"@example.com', parsed: undefined },
    { name: 'error/no domain', value: 'user@', parsed: undefined },
  ])('parseMailbox $name', ({ value, parsed }) => expect(parseMailbox(value)).toEqual(parsed));
});
