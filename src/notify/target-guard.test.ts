import { describe, expect, it } from 'vitest';
import { TargetGuard } from './target-guard.js';

const DENY = ['169.254.0.0/16', 'fd00:ec2::254/128', '100.100.100.200/32', 'metadata.google.internal'];

describe('TargetGuard', () => {
  const resolving = (map: Record<string, string[]>) => async (host: string) => {
    if (!map[host]) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return map[host];
  };
  const guard = new TargetGuard(DENY, resolving({ 'sneaky.example.test': ['93.184.216.34', '169.254.169.254'], 'fine.example.test': ['93.184.216.34', '2001:db8::1'] }));

  it.each([
    ['169.254.169.254', true],
    ['169.254.1.1', true],
    ['100.100.100.200', true],
    ['100.100.100.201', false],
    ['fd00:ec2::254', true],
    ['::ffff:169.254.169.254', true],
    ['METADATA.google.internal.', true],
    ['127.0.0.1', false],
    ['10.0.0.1', false],
  ])('literal %s denied=%s', (host, denied) => {
    expect(guard.checkLiteral(host) !== null).toBe(denied);
  });

  it('ok/hostOf strips brackets and reads normalised URL hosts', () => {
    expect(TargetGuard.hostOf('http://[fd00:ec2::254]:8080/x')).toBe('fd00:ec2::254');
    expect(TargetGuard.hostOf('http://2852039166/latest')).toBe('169.254.169.254');
    expect(TargetGuard.hostOf('smtp.example.test')).toBe('smtp.example.test');
  });

  it('error/a name resolving to a denied address is denied; unresolvable names are left to the send', async () => {
    expect(await guard.check('sneaky.example.test')).toMatch(/resolves to an address/);
    expect(await guard.check('fine.example.test')).toBeNull();
    expect(await guard.check('nowhere.example.test')).toBeNull();
    expect(await guard.check('169.254.169.254')).toMatch(/not an allowed/);
  });
});
