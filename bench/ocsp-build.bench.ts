/**
 * OCSP response build benchmark: sequential build+sign throughput for one SingleResponse
 * (P-256, RSA-2048 and Ed25519 delegated responders), with and without a nonce, a
 * 5-certificate response, and the full parse-request + build path, next to the raw
 * node:crypto signature rate (the floor).
 *
 *   node --import tsx bench/ocsp-build.bench.ts [seconds per case, default 2]
 */
import { sign } from 'node:crypto';
import { buildOcspResponse, certIdFor, parseOcspRequest, prepareOcspResponder, type OcspResponder, type OcspSingleResponse } from '../src/pki/ocsp.js';
import { createTestKit, type CaKeyType } from '../src/pki/crl-openssl.testkit.js';

const seconds = Number(process.argv[2] ?? 2);
const THIS_UPDATE = new Date('2026-11-01T00:00:00Z');
const NEXT_UPDATE = new Date('2026-11-08T00:00:00Z');

async function measure(name: string, fn: () => unknown): Promise<void> {
  for (let i = 0; i < 200; i++) await fn(); // warm-up
  let n = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) await fn();
    n += 100;
  }
  const ms = performance.now() - t0;
  console.log(`${name.padEnd(52)} ${String(Math.round((n / ms) * 1000)).padStart(8)}/s  ${((ms / n) * 1000).toFixed(1).padStart(7)} µs/op`);
}

const kit = createTestKit('ocsp-bench');
try {
  console.log(`OCSP response build + sign, sequential, one core (node ${process.version})`);
  for (const type of ['p256', 'rsa', 'ed25519'] as CaKeyType[]) {
    const ca = kit.ca(`ca-${type}`, type);
    const leaf = kit.leaf(ca, `leaf-${type}`, '7e57000000000001');
    const rc = kit.leaf(ca, `responder-${type}`, '0c5b0001', { ocspResponder: true, keyType: type });
    const responder: OcspResponder = prepareOcspResponder({ certificate: rc.pem, signingKey: rc.key });
    const good = (serial = leaf.serialHex): OcspSingleResponse => ({ certId: certIdFor(ca.der, serial), status: 'good', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE });
    const one = [good()];
    const five = ['1', '2', '3', '4', '5'].map((s) => good(s));
    const nonce = Buffer.from('0410' + '5a'.repeat(16), 'hex');
    const producedAt = new Date('2026-11-01T00:00:00Z');
    kit.openssl(['ocsp', '-issuer', ca.file, '-cert', leaf.file, '-reqout', `req-${type}.der`]);
    const reqDer = kit.read(`req-${type}.der`);
    const tbsLike = Buffer.alloc(250, 1);

    await measure(`${type}: raw crypto.sign of 250 bytes (floor)`, () => sign(type === 'ed25519' ? null : 'sha256', tbsLike, rc.key));
    await measure(`${type}: 1 response, no nonce (cacheable)`, () => buildOcspResponse({ responder, producedAt, responses: one }));
    await measure(`${type}: 1 response, nonce echoed`, () => buildOcspResponse({ responder, producedAt, responses: one, nonce }));
    await measure(`${type}: 5 responses, nonce echoed`, () => buildOcspResponse({ responder, producedAt, responses: five, nonce }));
    await measure(`${type}: parse openssl request + build (lookup excluded)`, () => {
      const r = parseOcspRequest(reqDer);
      return buildOcspResponse({
        responder,
        producedAt,
        nonce: r.nonce,
        responses: r.requests.map((certId) => ({ certId, status: 'good', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE })),
      });
    });
  }
} finally {
  kit.cleanup();
}
