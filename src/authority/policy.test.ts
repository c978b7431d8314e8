import { describe, expect, it } from 'vitest';
import { checkRequest, checkPolicy, commonNameSan, defaultPolicy, ipInCidr, sansWithCommonName, type IssuanceRequest, type Sans } from './policy.js';

const web = defaultPolicy({ allowedDomains: ['example.internal'], allowSubdomains: true, allowedIpRanges: ['10.0.0.0/8', 'fd00::/8'], keyAlgorithms: ['ecdsa-p256', 'rsa-3072'], maxValidityDays: 90 });
const req = (over: Partial<IssuanceRequest>): IssuanceRequest => ({
  subject: { commonName: 'api.example.internal' },
  sans: { dns: ['api.example.internal'], ip: [], email: [], uri: [] },
  keyAlgorithm: 'ecdsa-p256',
  serverKeyGeneration: false,
  validityDays: 30,
  ...over,
});

describe('checkRequest', () => {
  const cases: Array<[string, Partial<IssuanceRequest>, string[]]> = [
    ['ok/exact domain', {}, []],
    ['ok/subdomain', { subject: { commonName: 'a.b.example.internal' }, sans: { dns: ['a.b.example.internal'], ip: ['10.1.2.3', 'fd00::1'], email: [], uri: [] } }, []],
    ['error/outside domain', { sans: { dns: ['api.example.internal', 'evil.com'], ip: [], email: [], uri: [] } }, ['/body/sans/dns/1']],
    ['error/wildcard not allowed', { subject: { commonName: '*.example.internal' }, sans: { dns: ['*.example.internal'], ip: [], email: [], uri: [] } }, ['/body/sans/dns/0']],
    ['error/ip outside ranges', { sans: { dns: ['api.example.internal'], ip: ['192.168.1.1'], email: [], uri: [] } }, ['/body/sans/ip/0']],
    ['error/key algorithm', { keyAlgorithm: 'ed25519' }, ['/body/csr']],
    ['error/validity', { validityDays: 365 }, ['/body/validityDays']],
    ['error/cn not in sans', { subject: { commonName: 'other.example.internal' } }, ['/body/subject/commonName']],
    ['error/subject field not allowed', { subject: { commonName: 'api.example.internal', organization: 'Evil' } }, ['/body/subject/organization']],
    ['error/no sans', { subject: { commonName: 'x' }, sans: { dns: [], ip: [], email: [], uri: [] } }, ['/body/sans', '/body/subject/commonName']],
    ['error/every violation listed', { keyAlgorithm: 'rsa-2048', validityDays: 400, sans: { dns: ['api.example.internal', 'x.org'], ip: ['1.1.1.1'], email: ['a@b.c'], uri: ['spiffe://x'] } }, ['/body/csr', '/body/validityDays', '/body/sans/dns/1', '/body/sans/ip/0', '/body/sans/email/0', '/body/sans/uri/0']],
  ];
  for (const [name, over, fields] of cases) {
    it(name, () => expect(checkRequest(web, req(over)).map((v) => v.field)).toEqual(fields));
  }
});

describe('checkRequest: names the web-PKI verifier would refuse', () => {
  const wild = defaultPolicy({ allowedDomains: ['co.uk', 'example.co.uk', 'internal'], allowSubdomains: true, allowWildcards: true, allowedIpRanges: ['10.0.0.0/8', '2001:db8::/32'] });
  const dns = (...names: string[]): Sans => ({ dns: names, ip: [], email: [], uri: [] });
  const cases: Array<[string, Partial<IssuanceRequest>, string[]]> = [
    ['error/wildcard directly under an ICANN public suffix', { subject: { commonName: '*.co.uk' }, sans: dns('*.co.uk') }, ['/body/sans/dns/0']],
    ['error/wildcard directly under an unlisted top-level label', { subject: { commonName: '*.internal' }, sans: dns('*.internal') }, ['/body/sans/dns/0']],
    ['ok/wildcard under a registrable domain', { subject: { commonName: '*.example.co.uk' }, sans: dns('*.example.co.uk') }, []],
    ['ok/CN differing from its SAN in case and a trailing dot', { subject: { commonName: 'WWW.Example.co.uk.' }, sans: dns('www.example.co.uk') }, []],
    ['ok/CN in U-label form of an A-label SAN', { subject: { commonName: 'bücher.example.co.uk' }, sans: dns('xn--bcher-kva.example.co.uk') }, []],
    ['ok/CN an IPv6 address written differently from its SAN', { subject: { commonName: '2001:DB8:0:0:0:0:0:1' }, sans: { dns: [], ip: ['2001:db8::1'], email: [], uri: [] } }, []],
    ['error/CN another host', { subject: { commonName: 'other.example.co.uk' }, sans: dns('www.example.co.uk') }, ['/body/subject/commonName']],
  ];
  for (const [name, over, fields] of cases) {
    it(name, () => expect(checkRequest(wild, req(over)).map((v) => v.field)).toEqual(fields));
  }

  it.each([
    { name: 'ok/case and trailing dot -> the SAN', cn: 'WWW.Example.com.', sans: dns('www.example.com'), issued: 'www.example.com' },
    { name: 'ok/U-label -> the A-label SAN', cn: 'bücher.example', sans: dns('xn--bcher-kva.example'), issued: 'xn--bcher-kva.example' },
    { name: 'ok/IPv6 -> RFC 5952 text', cn: '2001:DB8:0:0:0:0:0:1', sans: { dns: [], ip: ['2001:0db8::0001'], email: [], uri: [] }, issued: '2001:db8::1' },
    { name: 'ok/IPv4', cn: '10.1.2.3', sans: { dns: [], ip: ['10.1.2.3'], email: [], uri: [] }, issued: '10.1.2.3' },
    { name: 'error/not a SAN', cn: 'other.example.com', sans: dns('www.example.com'), issued: undefined },
  ])('commonNameSan $name', ({ cn, sans, issued }) => expect(commonNameSan(cn, sans)).toBe(issued));

  const loose = defaultPolicy({ allowedDomains: ['example.com'], allowSubdomains: true, requireCommonNameInSans: false });
  it.each([
    { name: 'ok/a host-name CN joins the SANs', policy: loose, cn: 'API.example.com', dnsOut: ['www.example.com', 'api.example.com'] },
    { name: 'ok/a CN already among the SANs adds nothing', policy: loose, cn: 'www.example.com', dnsOut: ['www.example.com'] },
    { name: 'ok/a CN that names no host adds nothing', policy: loose, cn: 'Build Agent 7', dnsOut: ['www.example.com'] },
    { name: 'ok/a profile requiring the CN among the SANs refuses instead', policy: defaultPolicy({ allowedDomains: ['example.com'] }), cn: 'api.example.com', dnsOut: ['www.example.com'] },
  ])('sansWithCommonName $name', ({ policy, cn, dnsOut }) => expect(sansWithCommonName(policy, cn, dns('www.example.com')).dns).toEqual(dnsOut));
});

describe('ipInCidr', () => {
  it.each([
    ['10.1.2.3', '10.0.0.0/8', true],
    ['11.1.2.3', '10.0.0.0/8', false],
    ['fd00::1', 'fd00::/8', true],
    ['fe80::1', 'fd00::/8', false],
    ['10.0.0.1', 'fd00::/8', false],
    ['192.168.0.5', '192.168.0.5/32', true],
  ])('%s in %s = %s', (ip, cidr, want) => expect(ipInCidr(ip, cidr)).toBe(want));
});

describe('checkPolicy', () => {
  it('error/bad cidr, bad domain, default above max', () => {
    const p = defaultPolicy({ allowedIpRanges: ['10.0.0.0/33'], allowedDomains: ['not a domain'], defaultValidityDays: 100, maxValidityDays: 50 });
    expect(checkPolicy(p).map((v) => v.field)).toEqual(['/body/allowedIpRanges/0', '/body/allowedDomains/0', '/body/defaultValidityDays']);
  });

  it.each([
    { name: 'error/wildcards on a public suffix without subdomains: only *.co.uk could be issued', p: { allowedDomains: ['example.com', 'co.uk'], allowWildcards: true }, fields: ['/body/allowedDomains/1'] },
    { name: 'ok/with subdomains, *.example.co.uk remains possible', p: { allowedDomains: ['co.uk'], allowWildcards: true, allowSubdomains: true }, fields: [] },
    { name: 'ok/no wildcards', p: { allowedDomains: ['co.uk'] }, fields: [] },
  ])('$name', ({ p, fields }) => expect(checkPolicy(defaultPolicy(p)).map((v) => v.field)).toEqual(fields));
});
