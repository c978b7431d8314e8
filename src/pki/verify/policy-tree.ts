/**
 * RFC 5280 6.1 certificate policy processing, with the default inputs (user-initial-policy-set
 * = {anyPolicy}, no initial explicit-policy / mapping-inhibit / any-policy-inhibit). Only
 * the outcome matters to us — whether an explicit policy requirement (policyConstraints)
 * can be met — so qualifiers are not tracked. Node count is capped: policy trees are a
 * known exponential-blowup vector.
 */
import type { Certificate } from './certificate.js';
import { ANY_POLICY } from './oids.js';

interface PolicyNode {
  policy: string;
  expected: Set<string>;
  parent?: PolicyNode;
  children: number;
}

const MAX_NODES = 4096;

/**
 * `path` runs from the certificate issued by the trust anchor (RFC "certificate 1") down to
 * the leaf (certificate n). Returns undefined when the path satisfies the policy
 * constraints, or the reason it does not.
 */
export function checkPolicies(path: Certificate[]): string | undefined {
  const n = path.length;
  let explicitPolicy = n + 1;
  let inhibitAny = n + 1;
  let policyMapping = n + 1;
  let level: PolicyNode[] | undefined = [{ policy: ANY_POLICY, expected: new Set([ANY_POLICY]), children: 0 }];
  const levels: PolicyNode[][] = [level];
  let total = 1;

  const prune = () => {
    // Remove childless nodes above the deepest level, repeatedly.
    for (let d = levels.length - 2; d >= 0; d--) {
      levels[d] = levels[d].filter((node) => {
        if (node.children > 0) return true;
        if (node.parent) node.parent.children--;
        return false;
      });
    }
  };

  for (let i = 1; i <= n; i++) {
    const cert = path[i - 1];
    const policies = cert.ext.certificatePolicies;
    if (policies?.ok && level) {
      const prev: PolicyNode[] = level;
      const next: PolicyNode[] = [];
      const add = (policy: string, parent: PolicyNode, expected: Set<string>) => {
        if (++total > MAX_NODES) throw new Error('certificate policy tree is too large');
        parent.children++;
        next.push({ policy, expected, parent, children: 0 });
      };
      const oids = policies.value.map((p) => p.oid);
      for (const p of oids) {
        if (p === ANY_POLICY) continue;
        const matches = prev.filter((node) => node.expected.has(p));
        if (matches.length) for (const m of matches) add(p, m, new Set([p]));
        else {
          const any = prev.find((node) => node.policy === ANY_POLICY);
          if (any) add(p, any, new Set([p]));
        }
      }
      if (oids.includes(ANY_POLICY) && (inhibitAny > 0 || (i < n && cert.selfIssued))) {
        for (const node of prev) {
          for (const e of node.expected) {
            if (!next.some((c) => c.parent === node && c.policy === e)) add(e, node, new Set([e]));
          }
        }
      }
      level = next;
      levels.push(next);
      prune();
      if (levels[0].length === 0) level = undefined;
    } else {
      level = undefined;
    }
    if (!level && explicitPolicy <= 0) return `no valid certificate policy at certificate ${n - i} (explicit policy required)`;

    if (i < n) {
      const mappings = cert.ext.policyMappings;
      if (mappings?.ok) {
        if (mappings.value.some(([a, b]) => a === ANY_POLICY || b === ANY_POLICY)) return 'policyMappings must not map to or from anyPolicy';
        if (level) {
          const byIssuer = new Map<string, Set<string>>();
          for (const [a, b] of mappings.value) {
            if (!byIssuer.has(a)) byIssuer.set(a, new Set());
            byIssuer.get(a)!.add(b);
          }
          if (policyMapping > 0) {
            for (const [issuerPolicy, subjects] of byIssuer) {
              const nodes = level.filter((node) => node.policy === issuerPolicy);
              if (nodes.length) for (const node of nodes) node.expected = subjects;
              else {
                const any = level.find((node) => node.policy === ANY_POLICY);
                if (any?.parent) {
                  if (++total > MAX_NODES) return 'certificate policy tree is too large';
                  any.parent.children++;
                  level.push({ policy: issuerPolicy, expected: subjects, parent: any.parent, children: 0 });
                }
              }
            }
          } else {
            const keep = level.filter((node) => !byIssuer.has(node.policy));
            for (const node of level) if (!keep.includes(node) && node.parent) node.parent.children--;
            levels[levels.length - 1] = keep;
            level = keep;
            prune();
            if (levels[0].length === 0) level = undefined;
          }
        }
      }
      if (!cert.selfIssued) {
        if (explicitPolicy > 0) explicitPolicy--;
        if (policyMapping > 0) policyMapping--;
        if (inhibitAny > 0) inhibitAny--;
      }
      const pc = cert.ext.policyConstraints;
      if (pc?.ok) {
        if (pc.value.requireExplicitPolicy !== undefined) explicitPolicy = Math.min(explicitPolicy, pc.value.requireExplicitPolicy);
        if (pc.value.inhibitPolicyMapping !== undefined) policyMapping = Math.min(policyMapping, pc.value.inhibitPolicyMapping);
      }
      const iap = cert.ext.inhibitAnyPolicy;
      if (iap?.ok) inhibitAny = Math.min(inhibitAny, iap.value);
    } else {
      if (explicitPolicy > 0) explicitPolicy--;
      const pc = cert.ext.policyConstraints;
      if (pc?.ok && pc.value.requireExplicitPolicy === 0) explicitPolicy = 0;
    }
  }
  if (explicitPolicy <= 0 && !level) return 'the path does not satisfy an explicit certificate policy requirement';
  return undefined;
}
