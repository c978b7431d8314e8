/**
 * RFC 5280 path validation with path building. Pure: inputs in, report out; the
 * validation time is a parameter.
 *
 * Path building is a depth-first search from the leaf over candidate issuers (subject
 * name match, preferring trust anchors, then AKI/SKI matches, then currently-valid
 * certificates). Each step verifies the issuer's signature (cached per pair); loops are
 * impossible because a logical CA (subject + key) appears at most once per path. Every
 * complete path is evaluated in full and the first one without findings wins; when none
 * is valid the closest failing candidate is reported. Depth, candidates per step,
 * expansions and signature checks are all budgeted, so hostile bundles cannot make the
 * search spin.
 */
import { badCertificate, badRequest } from '../../errors.js';
import { type Certificate, KEY_USAGE_BITS, parseCertificate } from './certificate.js';
import { type Crl, REASONS, crlProblems, crlScopeProblem, findRevocation, parseCrl } from './crl.js';
import { DerError } from './der.js';
import { formatName, namesEqual, type Budget } from './names.js';
import { EKU } from './oids.js';
import { type ErrorFinding, type Policy, type Profile, type WarningFinding, certificateFindings, pathFindings } from './rules.js';
import { Lru } from './lru.js';
import { publicKeyObject, sigAlgInfo, verifySignature } from './signature.js';
import {
  CHECK_NAMES,
  CHECK_OF_ERROR,
  PURPOSES,
  type CheckResult,
  type PathEntry,
  type PeerName,
  type Purpose,
  type VerifyInput,
  type VerifyReport,
  VERIFY_MODES,
} from './types.js';

/**
 * Limits that keep hostile input bounded. The search budgets are sized so one verification
 * costs at most tens of milliseconds of CPU (a mesh of 4 x 15 same-named cross-signed CAs,
 * where every path is a candidate: 10-70 ms on a shared 2-core machine, 4-16 ms with its
 * signatures cached); real chains use a small fraction of them.
 */
export const LIMITS = {
  certificateBytes: 256 * 1024,
  crlBytes: 64 * 1024 * 1024,
  intermediates: 512,
  trustAnchors: 4096,
  crls: 64,
  defaultMaxDepth: 8,
  maxDepth: 32,
  /** Candidate issuers tried per certificate. */
  candidatesPerStep: 24,
  /** Search nodes expanded per verification. */
  expansions: 1024,
  /** Signature verifications per verification. */
  signatureChecks: 256,
  /** Candidate paths evaluated against every rule per verification. */
  evaluations: 256,
  /** Name-constraint comparisons per verification. */
  nameChecks: 250_000,
} as const;

const PURPOSE_OIDS: Record<Purpose, string[]> = {
  serverAuth: [EKU.serverAuth],
  clientAuth: [EKU.clientAuth],
  codeSigning: [EKU.codeSigning],
  emailProtection: [EKU.emailProtection],
  any: [],
};

interface Node {
  cert: Certificate;
  anchor: boolean;
  /** Preference order among candidates (input order). */
  order: number;
}

interface Candidate {
  nodes: Node[];
  complete: boolean;
  terminal?: ErrorFinding;
}

interface Evaluated {
  candidate: Candidate;
  errors: ErrorFinding[];
  warnings: WarningFinding[];
}

interface Prepared {
  leaf: Node;
  bySubject: Map<string, Node[]>;
  crls: Crl[];
  policy: Policy;
  rules: string[];
  warnings: WarningFinding[];
  budget: Budget & { expansions: number; signatures: number; evaluations: number; exhausted: boolean };
  sigCache: Map<string, string | undefined>;
  candidateCache: Map<string, Node[]>;
  findingCache: Map<string, { errors: ErrorFinding[]; warnings: WarningFinding[] }>;
  input: VerifyInput;
}

function toBytes(v: unknown, what: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw badRequest(`${what} must be DER bytes`);
  if (v.length > max) throw badCertificate(`${what} is too large (${v.length} bytes, limit ${max})`);
  return v;
}

function parseCert(der: Uint8Array, what: string): Certificate {
  try {
    return parseCertificate(der);
  } catch (e) {
    if (e instanceof DerError) throw badCertificate(`${what} is not a valid X.509 certificate: ${e.message}`);
    throw badCertificate(`${what} could not be parsed`);
  }
}

function resolvePurpose(input: VerifyInput): { ekus: string[]; profile: Profile; requireSan: boolean } {
  let purpose = input.purpose;
  if (purpose === undefined) {
    const kind = input.peerName?.kind;
    purpose = kind === 'dns' || kind === 'ip' ? 'serverAuth' : kind === 'email' ? 'emailProtection' : 'any';
  }
  let ekus: string[];
  if (Array.isArray(purpose)) {
    if (!purpose.every((o) => typeof o === 'string' && /^[0-2](\.\d+)+$/.test(o))) throw badRequest('purpose must be a known purpose or a list of EKU OIDs');
    ekus = purpose.filter((o) => o !== EKU.any);
  } else {
    if (!PURPOSES.includes(purpose)) throw badRequest(`unknown purpose ${String(purpose)}`);
    ekus = PURPOSE_OIDS[purpose];
  }
  const profile: Profile = ekus.includes(EKU.serverAuth) ? 'tls' : ekus.includes(EKU.emailProtection) ? 'smime' : 'generic';
  // A TLS server or S/MIME leaf, or one checked against a name, must name itself in a SAN.
  // A TLS client certificate checked without a name may identify by its subject alone.
  const requireSan = profile !== 'generic' || input.peerName !== undefined;
  return { ekus, profile, requireSan };
}

function prepare(input: VerifyInput): Prepared {
  if (!input || typeof input !== 'object') throw badRequest('verification input is required');
  if (!VERIFY_MODES.includes(input.mode)) throw badRequest(`mode must be one of ${VERIFY_MODES.join(', ')}`);
  if (!(input.at instanceof Date) || Number.isNaN(input.at.getTime())) throw badRequest('at must be a valid date');
  const intermediates = input.intermediates ?? [];
  if (!Array.isArray(intermediates) || intermediates.length > LIMITS.intermediates) throw badRequest(`at most ${LIMITS.intermediates} intermediates are accepted`);
  if (!Array.isArray(input.trustAnchors) || input.trustAnchors.length > LIMITS.trustAnchors) throw badRequest(`at most ${LIMITS.trustAnchors} trust anchors are accepted`);
  const crlInputs = input.crls ?? [];
  if (!Array.isArray(crlInputs) || crlInputs.length > LIMITS.crls) throw badRequest(`at most ${LIMITS.crls} CRLs are accepted`);
  const requestedDepth = input.maxDepth ?? LIMITS.defaultMaxDepth;
  if (!Number.isInteger(requestedDepth) || requestedDepth < 0) throw badRequest('maxDepth must be a non-negative integer');
  // Larger limits are accepted but capped: the search itself must stay bounded.
  const maxDepth = Math.min(requestedDepth, LIMITS.maxDepth);
  const peerNames: PeerName[] = [];
  for (const p of [input.peerName, ...(input.extraPeerNames ?? [])]) {
    if (p === undefined) continue;
    if (!p || typeof p.value !== 'string' || !['dns', 'ip', 'email'].includes(p.kind)) throw badRequest('peerName must be {kind: dns|ip|email, value}');
    peerNames.push(p);
  }
  for (const ku of input.requiredKeyUsages ?? []) if (!KEY_USAGE_BITS.includes(ku)) throw badRequest(`unknown key usage ${String(ku)}`);

  const leafCert = parseCert(toBytes(input.leaf, 'leaf', LIMITS.certificateBytes), 'leaf');
  const anchors = input.trustAnchors.map((d, i) => parseCert(toBytes(d, `trust anchor #${i + 1}`, LIMITS.certificateBytes), `trust anchor #${i + 1}`));
  const inters = intermediates.map((d, i) => parseCert(toBytes(d, `intermediate #${i + 1}`, LIMITS.certificateBytes), `intermediate #${i + 1}`));

  const warnings: WarningFinding[] = [];
  const crls: Crl[] = [];
  crlInputs.forEach((d, i) => {
    const der = toBytes(d, `CRL #${i + 1}`, LIMITS.crlBytes);
    try {
      crls.push(parseCrl(der));
    } catch (e) {
      warnings.push({ code: 'crlIgnored', message: `CRL #${i + 1} could not be parsed and was ignored: ${e instanceof Error ? e.message : 'malformed'}` });
    }
  });

  const { ekus, profile, requireSan } = resolvePurpose(input);
  const policy: Policy = {
    mode: input.mode,
    profile: input.mode === 'webpki' ? profile : 'generic',
    // Certificate and CRL times have whole seconds: a validation time inside a second is
    // that second (notAfter + 5 ms is still within notAfter).
    at: Math.floor(input.at.getTime() / 1000) * 1000,
    ekus,
    peerNames,
    requireSan,
    requireEku: input.requireExtKeyUsage === true,
    maxDepth,
    requiredKeyUsages: input.requiredKeyUsages ?? [],
    signatureAlgorithms: input.signatureAlgorithms,
  };
  const rules = ['rfc5280'];
  if (input.mode === 'webpki') rules.push(profile === 'tls' ? 'cabf-tls-br' : profile === 'smime' ? 'cabf-smime-br' : 'webpki-common');
  if (input.requireExtKeyUsage) rules.push('ext-key-usage-required');

  // Index candidates by subject; anchors win over identical intermediates.
  const bySubject = new Map<string, Node[]>();
  const seen = new Set<string>();
  const add = (n: Node) => {
    if (seen.has(n.cert.fingerprint)) return;
    seen.add(n.cert.fingerprint);
    const list = bySubject.get(n.cert.subject.key) ?? [];
    list.push(n);
    bySubject.set(n.cert.subject.key, list);
  };
  anchors.forEach((cert, i) => add({ cert, anchor: true, order: i }));
  inters.forEach((cert, i) => add({ cert, anchor: false, order: i }));
  const leafIsAnchor = anchors.some((a) => a.fingerprint === leafCert.fingerprint);

  return {
    leaf: { cert: leafCert, anchor: leafIsAnchor, order: -1 },
    bySubject,
    crls,
    policy,
    rules,
    warnings,
    budget: { nameChecks: LIMITS.nameChecks, expansions: LIMITS.expansions, signatures: LIMITS.signatureChecks, evaluations: LIMITS.evaluations, exhausted: false },
    sigCache: new Map(),
    candidateCache: new Map(),
    findingCache: new Map(),
    input,
  };
}

const BUDGET = Symbol('budget');

// Signature outcomes are pure functions of the two certificates, so they are shared
// across verifications (bounded), keyed by both fingerprints.
const sharedSignatureResults = new Lru<string>(8192);
const SIG_OK = '';

function checkSignature(p: Prepared, child: Certificate, issuer: Certificate): string | undefined | typeof BUDGET {
  const key = `${child.fingerprint}>${issuer.fingerprint}`;
  if (p.sigCache.has(key)) return p.sigCache.get(key);
  const shared = sharedSignatureResults.get(key);
  let result: string | undefined;
  if (shared !== undefined) result = shared === SIG_OK ? undefined : shared;
  else {
    if (--p.budget.signatures < 0) return BUDGET;
    result = verifySignature(child.tbs, child.signature, sigAlgInfo(child.signatureAlg), publicKeyObject(issuer));
    sharedSignatureResults.set(key, result ?? SIG_OK);
  }
  p.sigCache.set(key, result);
  return result;
}

function candidatesFor(p: Prepared, cert: Certificate): Node[] {
  const cached = p.candidateCache.get(cert.fingerprint);
  if (cached) return cached;
  const list = p.bySubject.get(cert.issuer.key) ?? [];
  const aki = cert.ext.authorityKeyId?.ok ? cert.ext.authorityKeyId.value.keyId : undefined;
  const rank = (n: Node) => {
    const ski = n.cert.ext.subjectKeyId?.ok ? n.cert.ext.subjectKeyId.value : undefined;
    const keyMatch = !aki || !ski ? 1 : Buffer.compare(Buffer.from(aki), Buffer.from(ski)) === 0 ? 0 : 2;
    const current = p.policy.at >= n.cert.notBefore.ms && p.policy.at <= n.cert.notAfter.ms ? 0 : 1;
    // One step of look-ahead: an issuer named by an anchor makes the shorter path come first.
    const nearAnchor = n.anchor || (p.bySubject.get(n.cert.issuer.key) ?? []).some((x) => x.anchor) ? 0 : 1;
    return [n.anchor ? 0 : 1, keyMatch, nearAnchor, current, n.order];
  };
  const sorted = list
    .map((n) => ({ n, r: rank(n) }))
    .sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.r[2] - b.r[2] || a.r[3] - b.r[3] || a.r[4] - b.r[4])
    .map((x) => x.n);
  p.candidateCache.set(cert.fingerprint, sorted);
  return sorted;
}

function* buildPaths(p: Prepared, path: Node[], entities: Set<string>, depth: number): Generator<Candidate> {
  const cur = path[path.length - 1];
  if (cur.anchor) {
    yield { nodes: path, complete: true };
    return;
  }
  if (--p.budget.expansions < 0) {
    p.budget.exhausted = true;
    return;
  }
  const all = candidatesFor(p, cur.cert);
  let tried = 0;
  for (const cand of all) {
    if (entities.has(cand.cert.entityKey) || path.some((n) => n.cert.fingerprint === cand.cert.fingerprint)) continue;
    if (tried++ >= LIMITS.candidatesPerStep) {
      p.budget.exhausted = true;
      break;
    }
    const next = [...path, cand];
    const sig = checkSignature(p, cur.cert, cand.cert);
    if (sig === BUDGET) {
      p.budget.exhausted = true;
      return;
    }
    if (sig !== undefined) {
      yield {
        nodes: next,
        complete: false,
        terminal: { code: 'badSignature', message: `signature by ${formatName(cand.cert.subject)} does not verify: ${sig}`, certificateIndex: path.length - 1 },
      };
      continue;
    }
    if (cand.anchor) {
      yield { nodes: next, complete: true };
      continue;
    }
    const nextDepth = depth + (cand.cert.selfIssued ? 0 : 1);
    if (nextDepth > p.policy.maxDepth || next.length > LIMITS.maxDepth + 2) {
      yield {
        nodes: next,
        complete: false,
        terminal: { code: 'chainTooLong', message: `the path needs more than ${p.policy.maxDepth} intermediate certificate(s)`, certificateIndex: next.length - 1 },
      };
      continue;
    }
    entities.add(cand.cert.entityKey);
    yield* buildPaths(p, next, entities, nextDepth);
    entities.delete(cand.cert.entityKey);
    if (p.budget.exhausted && p.budget.expansions < 0) return;
  }
  if (tried === 0) {
    const last = path.length - 1;
    yield {
      nodes: path,
      complete: false,
      terminal: {
        code: 'untrustedRoot',
        message: all.length
          ? `no usable issuer for ${formatName(cur.cert.subject)} (every candidate is already on the path)`
          : `no trust anchor or intermediate found for issuer ${formatName(cur.cert.issuer)}`,
        certificateIndex: last,
      },
    };
  }
}

function cachedCertFindings(p: Prepared, node: Node, index: number, isAnchor: boolean) {
  const role = index === 0 ? 'leaf' : 'ca';
  const key = `${node.cert.fingerprint}:${role}:${isAnchor}`;
  let f = p.findingCache.get(key);
  if (!f) {
    f = certificateFindings(node.cert, role, isAnchor, p.policy);
    p.findingCache.set(key, f);
  }
  return f;
}

function evaluate(p: Prepared, candidate: Candidate): Evaluated {
  const { nodes, complete } = candidate;
  const errors: ErrorFinding[] = [];
  const warnings: WarningFinding[] = [];
  nodes.forEach((node, i) => {
    const isAnchor = complete && i === nodes.length - 1;
    const f = cachedCertFindings(p, node, i, isAnchor);
    for (const e of f.errors) errors.push({ ...e, certificateIndex: i });
    for (const w of f.warnings) warnings.push({ ...w, certificateIndex: i });
  });
  if (candidate.terminal) errors.push(candidate.terminal);
  errors.push(...pathFindings(nodes.map((n) => n.cert), complete, p.policy, p.budget));
  return { candidate, errors, warnings };
}

async function revocationFindings(p: Prepared, nodes: Node[]): Promise<{ errors: ErrorFinding[]; warnings: WarningFinding[] }> {
  const errors: ErrorFinding[] = [];
  const warnings: WarningFinding[] = [];
  const lookup = p.input.revocationLookup;
  for (let i = 0; i < nodes.length - 1; i++) {
    const cert = nodes[i].cert;
    const issuer = nodes[i + 1].cert;
    // CRLs that claim to come from this certificate's issuer are authoritative for it: an
    // unusable one fails the path closed unless another usable CRL from that issuer exists.
    const usable: Crl[] = [];
    const rejected: string[] = [];
    for (const crl of p.crls) {
      if (!namesEqual(crl.issuer, cert.issuer)) continue;
      const problems = crlProblems(crl, issuer, p.policy.at);
      const scope = problems.length ? undefined : crlScopeProblem(crl, cert);
      if (problems.length) rejected.push(`CRL from ${formatName(crl.issuer)} is not usable: ${problems.join('; ')}`);
      else if (scope) rejected.push(`CRL from ${formatName(crl.issuer)} cannot decide this certificate's status: ${scope}`);
      else usable.push(crl);
    }
    for (const message of rejected) {
      if (usable.length) warnings.push({ code: 'crlIgnored', message, certificateIndex: i });
      else errors.push({ code: 'crlInvalid', message, certificateIndex: i });
    }
    for (const crl of usable) {
      const entry = findRevocation(crl, cert);
      if (entry) {
        const reason = entry.reason !== undefined ? ` (${REASONS[entry.reason] ?? `reason ${entry.reason}`})` : '';
        errors.push({ code: 'revoked', message: `revoked at ${new Date(entry.revocationDate.ms).toISOString()}${reason} according to the CRL`, certificateIndex: i });
        break;
      }
    }
    if (lookup) {
      const status = await lookup(issuer.der, cert.serialHex);
      if (status?.revoked) {
        const when = status.revokedAt ? ` at ${status.revokedAt.toISOString()}` : '';
        errors.push({ code: 'revoked', message: `revoked${when}${status.reason ? ` (${status.reason})` : ''}`, certificateIndex: i });
      }
    }
  }
  return { errors, warnings };
}

/** Complete paths beat partial ones; partial paths that got further beat shorter ones. */
function better(a: Evaluated, b: Evaluated): boolean {
  if (a.candidate.complete !== b.candidate.complete) return a.candidate.complete;
  if (!a.candidate.complete && a.candidate.nodes.length !== b.candidate.nodes.length) return a.candidate.nodes.length > b.candidate.nodes.length;
  return a.errors.length < b.errors.length;
}

/** Whether a partial candidate could still beat `best` (saves evaluating hopeless ones). */
function worthEvaluating(c: Candidate, best: Evaluated | undefined): boolean {
  if (c.complete || !best) return true;
  return !best.candidate.complete && c.nodes.length >= best.candidate.nodes.length;
}

function pathEntry(c: Certificate): PathEntry {
  return {
    subject: formatName(c.subject),
    issuer: formatName(c.issuer),
    serialNumber: c.serialHex,
    fingerprintSha256: c.fingerprint,
    notBefore: new Date(c.notBefore.ms).toISOString(),
    notAfter: new Date(c.notAfter.ms).toISOString(),
  };
}

function dedupe<F extends { code: string; message: string; certificateIndex?: number }>(list: F[]): F[] {
  const seen = new Set<string>();
  return list.filter((f) => {
    const k = `${f.code}|${f.certificateIndex}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function report(p: Prepared, ev: Evaluated, valid: boolean): VerifyReport {
  const errors = dedupe(ev.errors);
  const warnings = dedupe([...p.warnings, ...ev.warnings]);
  if (p.budget.exhausted && !valid) warnings.push({ code: 'budgetExhausted', message: 'path building stopped at its budget; not every candidate path was tried' });
  const checks: CheckResult[] = CHECK_NAMES.map((name) => {
    const failing = errors.filter((e) => CHECK_OF_ERROR[e.code] === name);
    if (failing.length) return { name, passed: false, detail: failing[0].message };
    if (name === 'peerName' && p.policy.peerNames.length === 0) return { name, passed: true, detail: 'no peer name requested' };
    if (name === 'revocation' && !p.crls.length && !p.input.revocationLookup) return { name, passed: true, detail: 'no revocation sources supplied' };
    return { name, passed: true };
  });
  return {
    valid,
    mode: p.policy.mode,
    rules: p.rules,
    path: ev.candidate.nodes.map((n) => pathEntry(n.cert)),
    checks,
    errors,
    warnings,
  };
}

/**
 * Validates `input.leaf` up to one of `input.trustAnchors`. Throws a DomainError only for
 * unusable input (unparseable certificates, bad parameters); every validation outcome is
 * reported in the returned report.
 */
export async function verifyChain(input: VerifyInput): Promise<VerifyReport> {
  // Step 1: validate parameters and parse every certificate and CRL once.
  const p = prepare(input);
  const revocationSources = p.crls.length > 0 || !!input.revocationLookup;
  let best: Evaluated | undefined;
  const entities = new Set<string>([p.leaf.cert.entityKey]);
  // Step 2: build candidate paths lazily, depth first, best candidates first.
  for (const candidate of buildPaths(p, [p.leaf], entities, 0)) {
    if (!worthEvaluating(candidate, best)) continue;
    // Evaluating is most of a search's cost (a mesh of same-named CAs yields thousands of
    // equally long candidates): past the budget the closest failure so far is reported.
    if (--p.budget.evaluations < 0) {
      p.budget.exhausted = true;
      break;
    }
    // Step 3: evaluate every rule on the candidate path.
    const ev = evaluate(p, candidate);
    // Step 4: only a path that passes everything else is worth a revocation check.
    if (candidate.complete && ev.errors.length === 0 && revocationSources) {
      const revocation = await revocationFindings(p, candidate.nodes);
      ev.errors.push(...revocation.errors);
      ev.warnings.push(...revocation.warnings);
    }
    // Step 5: the first fully valid path wins; otherwise remember the closest failure.
    if (candidate.complete && ev.errors.length === 0) return report(p, ev, true);
    if (!best || better(ev, best)) best = ev;
  }
  if (!best) {
    best = evaluate(p, {
      nodes: [p.leaf],
      complete: false,
      terminal: { code: 'untrustedRoot', message: 'path building ran out of budget before reaching a trust anchor', certificateIndex: 0 },
    });
  }
  return report(p, best, false);
}
