import { describe, expect, it } from 'vitest';
import { checkRequest, checkPolicy, defaultPolicy, ipInCidr, type IssuanceRequest } from './policy.js';

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
});
