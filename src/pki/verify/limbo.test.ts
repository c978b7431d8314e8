import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type LimboTestcase, runLimbo, runLimboCase } from './limbo.js';

// The public 2023-12-02 edition of the x509-limbo suite, kept in the repository
// (provenance and licence: test/fixtures/limbo/README.md).
const LIMBO = fileURLToPath(new URL('../../../test/fixtures/limbo/limbo-2023-12-02.json', import.meta.url));

function load(): { version: number; testcases: LimboTestcase[] } {
  if (!existsSync(LIMBO)) throw new Error(`x509-limbo vectors not found at ${LIMBO}; the limbo score cannot be checked`);
  return JSON.parse(readFileSync(LIMBO, 'utf8'));
}

// Cases regenerated from the upstream generators (see test/fixtures/limbo/README.md).
const REGENERATED = fileURLToPath(new URL('../../../test/fixtures/limbo/regenerated.json', import.meta.url));

describe('x509-limbo, regenerated upstream cases', () => {
  const file = (): { version: number; testcases: LimboTestcase[] } => JSON.parse(readFileSync(REGENERATED, 'utf8'));

  it('scores at least 234 of the 243 (the nine failures are documented policy choices)', async () => {
    const summary = await runLimbo(file());
    expect(summary.skipped).toBe(0);
    expect(summary.passed, JSON.stringify(summary.mismatches, null, 2)).toBeGreaterThanOrEqual(234);
  });

  it.each([
    'webpki::eku::ee-codesigning-with-serverauth',
    'webpki::eku::ee-precertificate-with-serverauth',
    'webpki::eku::ee-without-eku',
    'rfc5280::eku::ee-without-eku',
    'cve::cve-2024-0567',
    'rfc5280::nc::invalid-dnsname-leading-period',
    'rfc5280::validity::notafter-fractional',
    'rfc5280::validity::notbefore-fractional',
    // CABF 7.1.4.3: a commonName that is none of the SANs, in every spelling.
    'webpki::cn::cabf-cn-not-in-san',
    'webpki::cn::cabf-cn-punycode-not-in-san',
    'webpki::cn::cabf-cn-utf8-vs-punycode-mismatch',
    'webpki::cn::cabf-cn-case-mismatch',
    'webpki::cn::cabf-cn-ipv6-non-rfc5952-mismatch',
    'webpki::cn::cabf-cn-ipv4-hex-mismatch',
    'webpki::san::public-suffix-wildcard-san',
  ])('%s', async (id) => {
    const tc = file().testcases.find((t) => t.id === id);
    expect(tc, `${id} is in the vector file`).toBeDefined();
    const result = await runLimboCase(tc!);
    expect(result.actual_result, result.context).toBe(tc!.expected_result);
  });
});

describe('x509-limbo, BetterTLS path building (re-created)', () => {
  it('passes all 81: every reachable leaf is found past broken edges, every unreachable one refused for the broken edge', async () => {
    const cases = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/limbo/bettertls-pathbuilding.json', import.meta.url)), 'utf8'));
    const summary = await runLimbo(cases);
    expect(summary.passed, JSON.stringify(summary.mismatches, null, 2)).toBe(81);
    // Order of the untrusted intermediates does not matter.
    const reversed = { ...cases, testcases: cases.testcases.map((t: LimboTestcase) => ({ ...t, untrusted_intermediates: [...t.untrusted_intermediates].reverse() })) };
    expect((await runLimbo(reversed)).passed).toBe(81);
  });

  it('ok/of several valid paths the builder tries first the one whose next issuer is an anchor (RFC 4158 "figure seven": 4 certificates, not 5)', async () => {
    const cases = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/limbo/bettertls-pathbuilding.json', import.meta.url)), 'utf8'));
    const tc = cases.testcases.find((t: LimboTestcase) => t.id === 'bettertls::pathbuilding::tc48');
    const result = await runLimboCase(tc);
    expect(result.actual_result).toBe('SUCCESS');
    expect(result.context).toMatch(/valid path of 4 certificate/);
  });
});

describe('x509-limbo', () => {
  it('scores >= 95% of the non-skipped cases with <= 5% skipped (129 of 135)', async () => {
    const summary = await runLimbo(load());
    const total = summary.passed + summary.failed + summary.skipped;
    expect(total).toBeGreaterThan(100);
    expect(summary.passed, JSON.stringify(summary.mismatches, null, 2)).toBeGreaterThanOrEqual(129);
    expect(summary.skipRate).toBeLessThanOrEqual(0.05);
    expect(summary.passRate, JSON.stringify(summary.mismatches, null, 2)).toBeGreaterThanOrEqual(0.95);
    for (const r of summary.results) expect(['SUCCESS', 'FAILURE', 'SKIPPED']).toContain(r.actual_result);
  });

  it.each([
    { name: 'ok/cryptography.io chain', id: 'webpki::cryptographydotio-chain' },
    { name: 'error/chain missing its intermediate', id: 'webpki::cryptographydotio-chain-missing-intermediate' },
    { name: 'error/expired intermediate', id: 'rfc5280::validity::expired-intermediate' },
    { name: 'error/name constraints permit list narrowed by a lower CA', id: 'rfc5280::nc::restrictive-permits-in-intermediates-narrows' },
    { name: 'ok/chain of pain', id: 'pathological::multiple-chains-expired-intermediate' },
    { name: 'error/intermediate cycle', id: 'pathological::intermediate-cycle-distinct-cas-max-depth' },
    { name: 'error/wildcard directly under a public suffix (*.com)', id: 'webpki::san::public-suffix-wildcard-san' },
    { name: 'ok/Amazon S3 serves *.s3.amazonaws.com, a private-section suffix of the PSL', id: 'online::s3.amazonaws.com' },
  ])('$name', async ({ id }) => {
    const tc = load().testcases.find((t) => t.id === id);
    expect(tc, `${id} is in the vector file`).toBeDefined();
    const result = await runLimboCase(tc!);
    expect(result.actual_result, result.context).toBe(tc!.expected_result);
  });
});
