/**
 * x509-limbo harness: runs the engine over limbo testcases and produces results in
 * limbo's own format (`{version: 1, harness, results: [{id, actual_result, context}]}`).
 *
 * Every case runs in `webpki` mode, except those tagged `rfc5280-incompatible-with-webpki`
 * (cases where RFC 5280 is deliberately stricter than the Web PKI), which run in
 * `rfc5280` mode. Cases tagged `pedantic-webpki-eku` also ask for an extKeyUsage on the
 * leaf (`requireExtKeyUsage`). Only features the engine cannot support are skipped.
 */
import { DomainError } from '../../errors.js';
import { decodePemBlocks } from './pem.js';
import { runtimeSupportsMlDsa } from './signature.js';
import { ALG, EKU } from './oids.js';
import type { KeyUsageName } from './certificate.js';
import type { PeerName, VerifyInput } from './types.js';
import { verifyChain } from './verify.js';

export interface LimboPeerName {
  kind: 'DNS' | 'IP' | 'RFC822';
  value: string;
}

export interface LimboTestcase {
  id: string;
  features?: string[] | null;
  validation_kind: 'SERVER' | 'CLIENT';
  trusted_certs: string[];
  untrusted_intermediates: string[];
  peer_certificate: string;
  validation_time?: string | null;
  signature_algorithms?: string[] | null;
  key_usage?: string[] | null;
  extended_key_usage?: string[] | null;
  expected_result: 'SUCCESS' | 'FAILURE';
  expected_peer_name?: LimboPeerName | null;
  expected_peer_names?: LimboPeerName[] | null;
  max_chain_depth?: number | null;
  crls?: string[] | null;
}

export interface LimboResult {
  id: string;
  actual_result: 'SUCCESS' | 'FAILURE' | 'SKIPPED';
  context: string;
}

export interface LimboSummary {
  results: LimboResult[];
  passed: number;
  failed: number;
  skipped: number;
  /** passed / (passed + failed). */
  passRate: number;
  /** skipped / total. */
  skipRate: number;
  mismatches: Array<{ id: string; expected: string; actual: string; context: string }>;
}

/** Features the engine implements (the pedantic ones are enforced as the vectors expect). */
const SUPPORTED_FEATURES = new Set([
  'has-policy-constraints',
  'has-cert-policies',
  'pedantic-public-suffix-wildcard',
  'name-constraint-dn',
  'pedantic-webpki',
  'pedantic-webpki-subscriber-key',
  'pedantic-webpki-eku',
  'pedantic-serial-number',
  'max-chain-depth',
  'pedantic-rfc5280',
  'rfc5280-incompatible-with-webpki',
  'denial-of-service',
  'has-crl',
  'pedantic-smime-eku',
  'pedantic-smime-subscriber-key',
]);

const KNOWN_EKUS: Record<string, string> = {
  anyExtendedKeyUsage: EKU.any,
  serverAuth: EKU.serverAuth,
  clientAuth: EKU.clientAuth,
  codeSigning: EKU.codeSigning,
  emailProtection: EKU.emailProtection,
  timeStamping: EKU.timeStamping,
  OCSPSigning: EKU.ocspSigning,
};

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  RSA_WITH_MD5: ALG.md5WithRsa,
  RSA_WITH_SHA1: ALG.sha1WithRsa,
  RSA_WITH_SHA224: ALG.sha224WithRsa,
  RSA_WITH_SHA256: ALG.sha256WithRsa,
  RSA_WITH_SHA384: ALG.sha384WithRsa,
  RSA_WITH_SHA512: ALG.sha512WithRsa,
  RSA_WITH_SHA3_224: ALG.sha3_224WithRsa,
  RSA_WITH_SHA3_256: ALG.sha3_256WithRsa,
  RSA_WITH_SHA3_384: ALG.sha3_384WithRsa,
  RSA_WITH_SHA3_512: ALG.sha3_512WithRsa,
  RSASSA_PSS: ALG.rsassaPss,
  ECDSA_WITH_SHA1: ALG.ecdsaSha1,
  ECDSA_WITH_SHA224: ALG.ecdsaSha224,
  ECDSA_WITH_SHA256: ALG.ecdsaSha256,
  ECDSA_WITH_SHA384: ALG.ecdsaSha384,
  ECDSA_WITH_SHA512: ALG.ecdsaSha512,
  ECDSA_WITH_SHA3_224: ALG.ecdsaSha3_224,
  ECDSA_WITH_SHA3_256: ALG.ecdsaSha3_256,
  ECDSA_WITH_SHA3_384: ALG.ecdsaSha3_384,
  ECDSA_WITH_SHA3_512: ALG.ecdsaSha3_512,
  DSA_WITH_SHA1: ALG.dsaSha1,
  DSA_WITH_SHA224: ALG.dsaSha224,
  DSA_WITH_SHA256: ALG.dsaSha256,
  ED25519: ALG.ed25519,
  ED448: ALG.ed448,
};

const PEER_KINDS: Record<string, PeerName['kind']> = { DNS: 'dns', IP: 'ip', RFC822: 'email' };

function pemToDer(pem: string, what: string): Uint8Array[] {
  return decodePemBlocks(pem, what).map((b) => b.der);
}

function skip(tc: LimboTestcase, context: string): LimboResult {
  return { id: tc.id, actual_result: 'SKIPPED', context };
}

let mlDsaSupport: boolean | undefined;

/** Translates a limbo testcase into engine input, or explains why it must be skipped. */
export function limboInput(tc: LimboTestcase): VerifyInput | string {
  const features = tc.features ?? [];
  for (const f of features) {
    if (f === 'has-mldsa') {
      mlDsaSupport ??= runtimeSupportsMlDsa();
      if (!mlDsaSupport) return 'ML-DSA signatures are not supported by this Node.js runtime';
    } else if (f === 'no-cert-policies') {
      return 'the engine processes certificate policies; this case targets validators that do not';
    } else if (!SUPPORTED_FEATURES.has(f)) {
      return `unsupported feature ${f}`;
    }
  }
  const sigAlgs = tc.signature_algorithms ?? [];
  for (const a of sigAlgs) if (!SIGNATURE_ALGORITHMS[a]) return `unsupported signature algorithm constraint ${a}`;
  const ekuNames = tc.extended_key_usage ?? [];
  const ekus: string[] = [];
  for (const e of ekuNames) {
    const oid = KNOWN_EKUS[e] ?? (/^[0-2](\.\d+)+$/.test(e) ? e : undefined);
    if (!oid) return `unsupported extended key usage ${e}`;
    ekus.push(oid);
  }
  const peers: PeerName[] = [];
  const asList = (v: LimboPeerName | LimboPeerName[] | null | undefined) => (v ? (Array.isArray(v) ? v : [v]) : []);
  const limboPeers = tc.validation_kind === 'SERVER' ? asList(tc.expected_peer_name) : asList(tc.expected_peer_names);
  for (const p of limboPeers) {
    const kind = PEER_KINDS[p.kind];
    if (!kind) return `unsupported peer name kind ${p.kind}`;
    peers.push({ kind, value: p.value });
  }
  const purpose: VerifyInput['purpose'] = ekus.length ? (ekus.includes(EKU.any) ? 'any' : ekus) : tc.validation_kind === 'SERVER' ? 'serverAuth' : 'clientAuth';
  return {
    mode: features.includes('rfc5280-incompatible-with-webpki') ? 'rfc5280' : 'webpki',
    // limbo tags the CABF "extKeyUsage must be present" expectation as pedantic; the
    // engine enforces it on request.
    requireExtKeyUsage: features.includes('pedantic-webpki-eku'),
    leaf: pemToDer(tc.peer_certificate, 'peer_certificate')[0],
    intermediates: tc.untrusted_intermediates.flatMap((p, i) => pemToDer(p, `untrusted_intermediates[${i}]`)),
    trustAnchors: tc.trusted_certs.flatMap((p, i) => pemToDer(p, `trusted_certs[${i}]`)),
    at: tc.validation_time ? new Date(tc.validation_time) : new Date(),
    purpose,
    peerName: peers[0],
    extraPeerNames: peers.slice(1),
    maxDepth: tc.max_chain_depth ?? undefined,
    crls: (tc.crls ?? []).flatMap((c) => {
      try {
        return pemToDer(c, 'crl');
      } catch {
        return [];
      }
    }),
    requiredKeyUsages: (tc.key_usage ?? []) as KeyUsageName[],
    signatureAlgorithms: sigAlgs.length ? sigAlgs.map((a) => SIGNATURE_ALGORITHMS[a]) : undefined,
  };
}

export async function runLimboCase(tc: LimboTestcase): Promise<LimboResult> {
  let input: VerifyInput | string;
  try {
    input = limboInput(tc);
  } catch (e) {
    if (e instanceof DomainError) return { id: tc.id, actual_result: 'FAILURE', context: e.message };
    throw e;
  }
  if (typeof input === 'string') return skip(tc, input);
  try {
    const report = await verifyChain(input);
    if (report.valid) return { id: tc.id, actual_result: 'SUCCESS', context: `valid path of ${report.path.length} certificate(s) (${report.mode}: ${report.rules.join(', ')})` };
    const why = report.errors.map((e) => `${e.code}${e.certificateIndex !== undefined ? `@${e.certificateIndex}` : ''}: ${e.message}`).join('; ');
    return { id: tc.id, actual_result: 'FAILURE', context: why || 'invalid' };
  } catch (e) {
    if (e instanceof DomainError) return { id: tc.id, actual_result: 'FAILURE', context: `${e.code}: ${e.message}` };
    throw e;
  }
}

export async function runLimbo(doc: { version: number; testcases: LimboTestcase[] }): Promise<LimboSummary> {
  if (!doc || !Array.isArray(doc.testcases)) throw new Error('not a limbo document: expected {version, testcases}');
  const results: LimboResult[] = [];
  const mismatches: LimboSummary['mismatches'] = [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const tc of doc.testcases) {
    const r = await runLimboCase(tc);
    results.push(r);
    if (r.actual_result === 'SKIPPED') skipped++;
    else if (r.actual_result === tc.expected_result) passed++;
    else {
      failed++;
      mismatches.push({ id: tc.id, expected: tc.expected_result, actual: r.actual_result, context: r.context });
    }
  }
  const total = results.length;
  return {
    results,
    passed,
    failed,
    skipped,
    passRate: passed + failed ? passed / (passed + failed) : 0,
    skipRate: total ? skipped / total : 0,
    mismatches,
  };
}
