/**
 * Static checks of the OpenTofu code in infra/ (no tofu binary, no provider download):
 * declarations match their uses, modules are called with what they declare, nothing
 * secret is written in the code, the infrastructure agrees with the service's contracts
 * (configuration variables, health endpoints, public /pki/ paths), and the security
 * posture holds: no public address on tasks, database or bastion; no ingress from the
 * world except the load balancer's listeners; no SSH anywhere (SSM Session Manager);
 * IMDSv2; encryption of logs, buckets, volumes, secrets and the database with explicit
 * KMS key policies; VPC endpoints for the AWS APIs; the SQLite/Litestream variant.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { attributes, blocks, readDir, refs, type Block, type HclDir } from './hcl.js';

const root = resolve(import.meta.dirname, '../..');
const infra = join(root, 'infra');
const moduleNames = readdirSync(join(infra, 'modules')).sort();
const envNames = readdirSync(join(infra, 'envs')).sort();
const dirs = new Map<string, HclDir>([
  ...moduleNames.map((m) => [`modules/${m}`, readDir(join(infra, 'modules', m))] as const),
  ...envNames.map((e) => [`envs/${e}`, readDir(join(infra, 'envs', e))] as const),
]);

const ofType = (d: HclDir, type: string) => d.blocks.filter((b) => b.type === type);
const named = (d: HclDir, type: string) => new Set(ofType(d, type).map((b) => b.labels[0]));
const where = (b: Block) => `${relative(root, b.file)}:${b.line}`;
const resources = (d: HclDir, type: string) => ofType(d, 'resource').filter((b) => b.labels[0] === type);
const nested = (b: Block, type: string) => blocks(b.body, b.file, b.masked).filter((x) => x.type === type);
const allResources = (type: string) => [...dirs.values()].flatMap((d) => resources(d, type));
const scripts = readdirSync(join(infra, 'scripts')).map((f) => join(infra, 'scripts', f));

/** Configuration variables the service actually reads. */
function serviceEnvVars(): Set<string> {
  const src = readFileSync(join(root, 'src/config/config.ts'), 'utf8');
  return refs(src, /'(CERTA_[A-Z0-9_]+)'/g);
}

function tfFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.tf') && !f.includes('.terraform'))
    .map((f) => join(dir, f));
}

describe('infra layout', () => {
  it('has the network, database, service and bastion modules and the production and staging environments', () => {
    expect(moduleNames).toEqual(expect.arrayContaining(['network', 'database', 'service', 'bastion']));
    expect(envNames).toEqual(expect.arrayContaining(['production', 'staging']));
  });

  it.each([...dirs.keys()])('%s has versions.tf, variables.tf, main.tf and outputs.tf', (name) => {
    const d = dirs.get(name)!;
    for (const f of ['versions.tf', 'variables.tf', 'main.tf', 'outputs.tf']) expect([...d.files.keys()], `${name}/${f}`).toContain(f);
  });

  it('pins OpenTofu >= 1.6 and the AWS provider ~> 5 everywhere', () => {
    for (const [name, d] of dirs) {
      const tf = ofType(d, 'terraform');
      expect(tf, name).toHaveLength(1);
      const attrs = attributes(tf[0]);
      expect(attrs.get('required_version'), name).toMatch(/^">=\s*1\.([6-9]|1\d)(\.\d+)?"$/);
      const providers = blocks(tf[0].body, tf[0].file, tf[0].masked).find((b) => b.type === 'required_providers');
      expect(providers, name).toBeDefined();
      const aws = attributes(providers!).get('aws') ?? '';
      expect(aws, name).toMatch(/source\s*=\s*"hashicorp\/aws"/);
      expect(aws, name).toMatch(/version\s*=\s*"~>\s*5(\.\d+)?"/);
    }
  });

  it.each(envNames)('envs/%s keeps its state in GitLab (http backend, nothing in the code)', (env) => {
    const d = dirs.get(`envs/${env}`)!;
    const tf = ofType(d, 'terraform')[0];
    const backend = blocks(tf.body, tf.file, tf.masked).find((b) => b.type === 'backend');
    expect(backend?.labels).toEqual(['http']);
    // Address and credentials come from TF_HTTP_* at init, never from the code.
    expect(backend!.body.trim()).toBe('');
  });

  it('the state of each environment is its own GitLab state, locked, authenticated by the job token', () => {
    const backend = readFileSync(join(infra, 'scripts/backend.sh'), 'utf8');
    expect(backend).toMatch(/\$CI_API_V4_URL\/projects\/\$CI_PROJECT_ID\/terraform\/state\/\$\{TF_STATE_NAME:-\$env_name\}/);
    expect(backend).toMatch(/TF_HTTP_LOCK_ADDRESS=.*\/lock/);
    expect(backend).toMatch(/TF_HTTP_LOCK_METHOD=POST/);
    expect(backend).toMatch(/TF_HTTP_UNLOCK_METHOD=DELETE/);
    expect(backend).toMatch(/TF_HTTP_PASSWORD=.*CI_JOB_TOKEN/);
    for (const script of ['plan.sh', 'apply.sh']) {
      const src = readFileSync(join(infra, 'scripts', script), 'utf8');
      expect(src, script).toMatch(/envs\/\$env_name/);
      expect(src, script).toMatch(/\. "\$\(dirname "\$0"\)\/backend\.sh"/);
    }
  });
});

describe('infra style (what `tofu fmt` would also enforce)', () => {
  const files = tfFiles(infra);

  it.each(files.map((f) => [relative(root, f), f]))('%s: spaces, no trailing blanks, final newline', (_name, file) => {
    const src = readFileSync(file, 'utf8');
    expect(src).not.toMatch(/\t/);
    expect(src).not.toMatch(/\r/);
    expect(src).not.toMatch(/[ \t]+$/m);
    expect(src.endsWith('\n') && !src.endsWith('\n\n')).toBe(true);
    for (const [i, line] of src.split('\n').entries()) {
      const indent = /^( *)/.exec(line)![1].length;
      if (line.trim() !== '') expect(indent % 2, `${file}:${i + 1} indentation`).toBe(0);
    }
  });

  const fmt = ['tofu', 'terraform'].find((bin) => {
    try {
      execFileSync(bin, ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  it.skipIf(!fmt)(`${fmt ?? 'tofu'} fmt -check -recursive infra`, () => {
    // Throws (with the offending files on stdout) when anything is not formatted.
    execFileSync(fmt!, ['fmt', '-check', '-recursive', '-diff', infra], { stdio: 'pipe', env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' } });
  });
});

describe('infra declarations and references', () => {
  it.each([...dirs.keys()])('%s: every variable has a description, a type and self-contained validations', (name) => {
    const d = dirs.get(name)!;
    expect(ofType(d, 'variable').length).toBeGreaterThan(0);
    for (const v of ofType(d, 'variable')) {
      const attrs = attributes(v);
      expect(attrs.get('description') ?? '', `${where(v)} description`).toMatch(/^"[^"]{10,}/);
      expect(attrs.get('type'), `${where(v)} type`).toBeTruthy();
      for (const val of blocks(v.body, v.file, v.masked).filter((b) => b.type === 'validation')) {
        const va = attributes(val);
        expect(va.get('error_message') ?? '', `${where(v)} error_message`).toMatch(/^"/);
        // OpenTofu 1.6 allows a condition to refer to its own variable only.
        const used = refs(val.masked, /\bvar\.([a-z_][a-z0-9_]*)/g);
        expect([...used], `${where(v)} validation`).toEqual([v.labels[0]]);
      }
    }
  });

  it.each([...dirs.keys()])('%s: every output has a description', (name) => {
    for (const o of ofType(dirs.get(name)!, 'output')) expect(attributes(o).get('description') ?? '', where(o)).toMatch(/^"[^"]{10,}/);
  });

  it.each([...dirs.keys()])('%s: every var.x used is declared, and every declared variable is used', (name) => {
    const d = dirs.get(name)!;
    const declared = named(d, 'variable');
    const used = refs(d.masked, /\bvar\.([a-z_][a-z0-9_]*)/g);
    expect([...used].filter((u) => !declared.has(u)), 'undeclared').toEqual([]);
    // Uses outside the variable's own block (its validation does not count).
    const outside = refs(
      d.blocks
        .filter((b) => b.type !== 'variable')
        .map((b) => b.masked)
        .join('\n'),
      /\bvar\.([a-z_][a-z0-9_]*)/g,
    );
    expect([...declared].filter((v) => !outside.has(v)), 'declared but unused').toEqual([]);
  });

  it.each([...dirs.keys()])('%s: every local.x used is declared', (name) => {
    const d = dirs.get(name)!;
    const declared = new Set(ofType(d, 'locals').flatMap((b) => [...attributes(b).keys()]));
    const used = refs(d.masked, /\blocal\.([a-z_][a-z0-9_]*)/g);
    expect([...used].filter((u) => !declared.has(u))).toEqual([]);
  });

  it.each([...dirs.keys()])('%s: every resource and data source referenced is declared', (name) => {
    const d = dirs.get(name)!;
    const resources = new Set(ofType(d, 'resource').map((b) => `${b.labels[0]}.${b.labels[1]}`));
    const data = new Set(ofType(d, 'data').map((b) => `${b.labels[0]}.${b.labels[1]}`));
    const missing: string[] = [];
    for (const m of d.masked.matchAll(/(?<![\w.])(data\.)?(aws_[a-z0-9_]+)\.([a-z_][a-z0-9_]*)/g)) {
      const key = `${m[2]}.${m[3]}`;
      if (!(m[1] ? data : resources).has(key)) missing.push(m[0]);
    }
    expect(missing).toEqual([]);
  });
});

describe('environments compose the modules', () => {
  for (const env of envNames) {
    const d = dirs.get(`envs/${env}`)!;
    const calls = ofType(d, 'module');

    it(`envs/${env} uses network, database and service`, () => {
      expect(calls.map((c) => c.labels[0]).sort()).toEqual(expect.arrayContaining(['database', 'network', 'service']));
    });

    it.each(calls.map((c) => [c.labels[0], c] as const))(`envs/${env}: module %s exists and gets exactly what it declares`, (_label, call) => {
      const attrs = attributes(call);
      const source = /^"(.+)"$/.exec(attrs.get('source') ?? '')?.[1];
      expect(source, `${where(call)} source`).toMatch(/^\.\.\/\.\.\/modules\//);
      const target = resolve(d.dir, source!);
      expect(existsSync(target) && statSync(target).isDirectory(), `${source} exists`).toBe(true);
      const mod = readDir(target);
      const inputs = new Map(ofType(mod, 'variable').map((v) => [v.labels[0], attributes(v).has('default')]));
      const passed = [...attrs.keys()].filter((k) => !['source', 'version', 'providers', 'count', 'for_each', 'depends_on'].includes(k));
      expect(passed.filter((p) => !inputs.has(p)), 'unknown inputs').toEqual([]);
      const required = [...inputs].filter(([, hasDefault]) => !hasDefault).map(([n]) => n);
      expect(required.filter((r) => !passed.includes(r)), 'missing required inputs').toEqual([]);
    });

    it(`envs/${env}: every module.x.y refers to a module call and one of its outputs`, () => {
      const bad: string[] = [];
      for (const m of d.masked.matchAll(/\bmodule\.([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)/g)) {
        const call = calls.find((c) => c.labels[0] === m[1]);
        if (!call) {
          bad.push(`${m[0]} (no module "${m[1]}")`);
          continue;
        }
        const source = /^"(.+)"$/.exec(attributes(call).get('source') ?? '')![1];
        if (!named(readDir(resolve(d.dir, source)), 'output').has(m[2])) bad.push(`${m[0]} (no such output)`);
      }
      expect(bad).toEqual([]);
    });
  }

  it('the plan and apply scripts read outputs every environment declares', () => {
    const wanted = refs(scripts.map((f) => readFileSync(f, 'utf8')).join('\n'), /output -raw ([a-z_]+)/g);
    expect(wanted.size).toBeGreaterThan(0);
    for (const env of envNames) expect([...wanted].filter((o) => !named(dirs.get(`envs/${env}`)!, 'output').has(o)), env).toEqual([]);
  });

  it.each(['plan.sh', 'apply.sh', 'backend.sh'])('scripts/%s is valid bash (plan.sh and apply.sh executable)', (name) => {
    execFileSync('bash', ['-n', join(infra, 'scripts', name)]);
    if (name !== 'backend.sh') expect(statSync(join(infra, 'scripts', name)).mode & 0o111).not.toBe(0);
  });

  it('apply.sh applies the saved plan file and nothing else; plan.sh saves it with the report GitLab shows', () => {
    const apply = readFileSync(join(infra, 'scripts/apply.sh'), 'utf8');
    const applies = apply.split('\n').filter((l) => /\btofu apply\b/.test(l));
    expect(applies).toEqual(['tofu apply -input=false tfplan']);
    expect(apply).not.toMatch(/auto-approve|tofu plan/);
    const plan = readFileSync(join(infra, 'scripts/plan.sh'), 'utf8');
    expect(plan).toMatch(/tofu plan -input=false -out=tfplan /);
    expect(plan).toMatch(/tofu show -json tfplan \| jq/);
    expect(plan).toMatch(/create:[\s\S]*update:[\s\S]*delete:/);
    // The only apply in plan.sh is the first deployment's ECR repository, targeted.
    for (const l of plan.split('\n').filter((x) => /\btofu apply\b/.test(x))) expect(l).toMatch(/-target=module\.service\.aws_ecr_repository\.this|\\$/);
    expect(plan).toMatch(/-target=module\.service\.aws_ecr_repository\.this/);
  });
});

describe('no secrets in the code', () => {
  const files = [...tfFiles(infra), ...scripts];

  it.each(files.map((f) => [relative(root, f), f]))('%s holds no credentials', (_name, file) => {
    const src = readFileSync(file, 'utf8');
    expect(src).not.toMatch(/AKIA[0-9A-Z]{16}/); // AWS access key id
    expect(src).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(src).not.toMatch(/aws_secret_access_key|secret_key\s*=/i);
    // A literal string assigned to a secret-looking attribute.
    expect(src).not.toMatch(/^\s*(?!http_tokens\b)[a-z_]*(password|secret_string|token|private_key)[a-z_]*\s*=\s*"[^"$]+"/im);
    expect(src).not.toMatch(/aws_secretsmanager_secret_version|random_password/);
  });

  it('the database password is generated and kept by RDS, never passed in', () => {
    const db = dirs.get('modules/database')!;
    const cluster = ofType(db, 'resource').find((b) => b.labels[0] === 'aws_rds_cluster')!;
    const attrs = attributes(cluster);
    expect(attrs.get('manage_master_user_password')).toBe('true');
    expect(attrs.has('master_password')).toBe(false);
    expect(attrs.get('storage_encrypted')).toBe('true');
    expect(attrs.get('kms_key_id')).toMatch(/aws_kms_key\./);
  });

  it('the database accepts connections from the given security groups only', () => {
    const db = dirs.get('modules/database')!;
    const ingress = ofType(db, 'resource').filter((b) => b.labels[0] === 'aws_vpc_security_group_ingress_rule' || b.labels[0] === 'aws_security_group_rule');
    expect(ingress.length).toBeGreaterThan(0);
    for (const r of ingress) {
      const attrs = attributes(r);
      expect(attrs.has('cidr_ipv4') || attrs.has('cidr_blocks'), where(r)).toBe(false);
      expect(attrs.get('referenced_security_group_id'), where(r)).toBeTruthy();
    }
    expect(ofType(db, 'resource').some((b) => b.labels[0] === 'aws_security_group' && /ingress\s*\{/.test(b.masked))).toBe(false);
  });

  it('secret settings reach the task as ECS secrets, never as plain environment', () => {
    const svc = dirs.get('modules/service')!;
    const locals = new Map(ofType(svc, 'locals').flatMap((b) => [...attributes(b)]));
    const environment = locals.get('environment') ?? '';
    expect(environment).toMatch(/CERTA_PUBLIC_URL/);
    for (const secret of ['CERTA_MASTER_KEY', 'CERTA_ADMIN_PASSWORD', 'CERTA_PREVIOUS_MASTER_KEYS', 'PGPASSWORD']) {
      expect(environment).not.toContain(secret);
    }
    expect(locals.get('secrets')).toMatch(/CERTA_MASTER_KEY/);
    // The URL built in the module carries no credentials (they come as PGUSER/PGPASSWORD).
    expect(locals.get('database_url')).toMatch(/^local\.postgres \? "postgres:\/\/\$\{var\.database_host\}/);
    expect(locals.get('database_credential_secrets')).toMatch(/PGPASSWORD\s*=\s*"\$\{var\.database_secret_arn\}:password::"/);
  });
});

describe('infra agrees with the service contracts', () => {
  const spec = JSON.parse(readFileSync(join(root, 'generated/openapi.json'), 'utf8'));
  const svc = dirs.get('modules/service')!;
  const svcSource = [...svc.files.values()].join('\n');

  it('every CERTA_* variable the infrastructure sets is one the service reads', () => {
    const known = serviceEnvVars();
    expect(known.size).toBeGreaterThan(5);
    const used = new Set<string>();
    for (const file of [...tfFiles(infra), ...scripts]) {
      for (const v of refs(readFileSync(file, 'utf8'), /\b(CERTA_[A-Z0-9_]+)\b/g)) used.add(v);
    }
    expect([...used].filter((v) => !known.has(v))).toEqual([]);
    for (const v of ['CERTA_PORT', 'CERTA_HOST', 'CERTA_PUBLIC_URL', 'CERTA_DATABASE_URL', 'CERTA_MASTER_KEY', 'CERTA_ADMIN_EMAIL', 'CERTA_LOG_LEVEL', 'CERTA_DB_POOL_SIZE', 'CERTA_NOTIFY_INTERVAL']) {
      expect(used, v).toContain(v);
    }
  });

  it('the load balancer routes on /readyz and the container probe is /healthz, both in the spec', () => {
    const tg = ofType(svc, 'resource').find((b) => b.labels[0] === 'aws_lb_target_group')!;
    const hc = blocks(tg.body, tg.file, tg.masked).find((b) => b.type === 'health_check')!;
    expect(attributes(hc).get('path')).toBe('"/readyz"');
    expect(svcSource).toMatch(/\/healthz/);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/readyz', '/healthz']));
  });

  it('the plain-HTTP listener forwards exactly the public PKI paths of the spec', () => {
    const pkiPaths: string[] = [];
    for (const [path, item] of Object.entries<any>(spec.paths)) {
      for (const op of Object.values<any>(item)) if (op?.tags?.includes('pki-public')) pkiPaths.push(path);
    }
    expect(pkiPaths.length).toBeGreaterThan(0);
    const rule = ofType(svc, 'resource').find((b) => b.labels[0] === 'aws_lb_listener_rule' && /aws_lb_listener\.http\.arn/.test(b.body))!;
    const patterns = [...rule.body.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]);
    const matches = (p: string) => patterns.some((pat) => new RegExp('^' + pat.replace(/\*/g, '.*') + '$').test(p.replace(/\{[^}]+\}/g, 'x')));
    expect(pkiPaths.filter((p) => !matches(p))).toEqual([]);
    // Nothing but /pki/ is served over plain HTTP.
    expect(patterns.every((p) => p.startsWith('/pki/'))).toBe(true);
  });

  it('the load balancer does not forward /metrics (it answers without a token)', () => {
    expect(spec.paths['/metrics']).toBeDefined();
    const rule = ofType(svc, 'resource').find((b) => b.labels[0] === 'aws_lb_listener_rule' && /"\/metrics"/.test(b.body));
    expect(rule?.body).toMatch(/fixed-response/);
    expect(rule?.body).toMatch(/aws_lb_listener\.https\.arn/);
  });

  it('the task runs the image non-root with a read-only root filesystem and the ECS probe', () => {
    const td = ofType(svc, 'resource').find((b) => b.labels[0] === 'aws_ecs_task_definition')!;
    expect(td.body).toMatch(/readonlyRootFilesystem\s*=\s*true/);
    expect(td.body).not.toMatch(/\buser\s*=\s*"(root|0)/);
    expect(td.body).toMatch(/healthCheck\s*=/);
    expect(attributes(td).get('requires_compatibilities')).toBe('["FARGATE"]');
  });

  it('the service scales on CPU and rolls back failed deployments', () => {
    expect(svcSource).toMatch(/ECSServiceAverageCPUUtilization/);
    const service = ofType(svc, 'resource').find((b) => b.labels[0] === 'aws_ecs_service')!;
    const breaker = blocks(service.body, service.file, service.masked).find((b) => b.type === 'deployment_circuit_breaker')!;
    expect(attributes(breaker).get('rollback')).toBe('true');
  });

  it('the HTTPS listener takes its certificate from a variable, with a TLS 1.2+ policy', () => {
    const https = ofType(svc, 'resource').find((b) => b.labels[0] === 'aws_lb_listener' && b.labels[1] === 'https')!;
    const attrs = attributes(https);
    expect(attrs.get('protocol')).toBe('"HTTPS"');
    expect(attrs.get('certificate_arn')).toBe('var.certificate_arn');
    const policy = attributes(ofType(svc, 'variable').find((v) => v.labels[0] === 'ssl_policy')!).get('default');
    expect(policy).toMatch(/TLS13-1-2|TLS-1-2/);
  });
});

describe('posture: no public addresses', () => {
  it('tasks get no public IP', () => {
    const services = allResources('aws_ecs_service');
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) for (const nc of nested(s, 'network_configuration')) expect(attributes(nc).get('assign_public_ip'), where(s)).toBe('false');
  });

  it('database instances are not publicly accessible', () => {
    const instances = allResources('aws_rds_cluster_instance');
    expect(instances.length).toBeGreaterThan(0);
    for (const i of instances) expect(attributes(i).get('publicly_accessible'), where(i)).toBe('false');
  });

  it('the bastion (every EC2 instance) gets no public IP', () => {
    const instances = allResources('aws_instance');
    expect(instances.length).toBeGreaterThan(0);
    for (const i of instances) expect(attributes(i).get('associate_public_ip_address'), where(i)).toBe('false');
    for (const s of allResources('aws_subnet')) expect(attributes(s).get('map_public_ip_on_launch') ?? 'false', where(s)).toBe('false');
  });

  it('the only Elastic IPs are the NAT gateways\'', () => {
    expect(allResources('aws_eip').map((e) => e.labels[1])).toEqual(['nat']);
  });
});

describe('posture: ingress', () => {
  const ingress = [...dirs.values()].flatMap((d) => [
    ...resources(d, 'aws_vpc_security_group_ingress_rule'),
    ...resources(d, 'aws_security_group_rule').filter((r) => attributes(r).get('type') === '"ingress"'),
  ]);

  it('security groups declare no inline rules (every rule is a resource this test sees)', () => {
    for (const sg of allResources('aws_security_group')) expect(nested(sg, 'ingress').concat(nested(sg, 'egress')), where(sg)).toEqual([]);
  });

  it('nothing is open to 0.0.0.0/0 or ::/0 except the load balancer listeners, and those only when an operator says so', () => {
    expect(ingress.length).toBeGreaterThan(3);
    for (const r of ingress) {
      expect(r.body, where(r)).not.toMatch(/0\.0\.0\.0\/0|::\/0/);
      const a = attributes(r);
      const cidr = a.get('cidr_ipv4') ?? a.get('cidr_blocks') ?? a.get('cidr_ipv6') ?? a.get('ipv6_cidr_blocks');
      if (!cidr) {
        expect(a.get('referenced_security_group_id'), where(r)).toBeTruthy();
        continue;
      }
      if (r.labels[1] === 'load_balancer') {
        // The listeners: ports 80 and 443 from the configured ranges.
        expect(r.body, where(r)).toMatch(/var\.ingress_cidr_blocks/);
        expect(r.body, where(r)).toMatch(/\[80, 443\]/);
      } else {
        // Anything else from an address range: HTTPS from inside the VPC (the endpoints).
        expect(cidr, where(r)).toMatch(/^aws_vpc\.this\.cidr_block$/);
        expect([a.get('from_port'), a.get('to_port')], where(r)).toEqual(['443', '443']);
      }
    }
  });

  it('a world-open load balancer is never a default: ingress_cidr_blocks defaults to private ranges', () => {
    for (const [name, d] of dirs) {
      const v = ofType(d, 'variable').find((x) => x.labels[0] === 'ingress_cidr_blocks');
      if (v) expect(attributes(v).get('default') ?? '', name).not.toMatch(/0\.0\.0\.0\/0/);
    }
  });

  it('no SSH: no port 22, no key pair, and the bastion accepts no inbound traffic at all', () => {
    for (const r of ingress) {
      const a = attributes(r);
      expect([a.get('from_port'), a.get('to_port')], where(r)).not.toContain('22');
    }
    for (const [name, d] of dirs) expect(d.masked, name).not.toMatch(/\bkey_name\b|aws_key_pair|\bport\s*=\s*22\b/);
    const bastion = dirs.get('modules/bastion')!;
    expect(resources(bastion, 'aws_vpc_security_group_ingress_rule').concat(resources(bastion, 'aws_security_group_rule'))).toEqual([]);
  });
});

describe('posture: the bastion is reached through SSM Session Manager', () => {
  const bastion = dirs.get('modules/bastion')!;
  // Without comments (which may name what the code avoids).
  const src = [...bastion.files.values()].join('\n').replace(/^\s*#.*$/gm, '');

  it('IMDSv2 only, one hop, on every instance', () => {
    for (const i of allResources('aws_instance')) {
      const md = nested(i, 'metadata_options');
      expect(md, where(i)).toHaveLength(1);
      expect(attributes(md[0]).get('http_tokens'), where(i)).toBe('"required"');
      expect(attributes(md[0]).get('http_put_response_hop_limit'), where(i)).toBe('1');
    }
  });

  it('the root volume is encrypted with a customer-managed key', () => {
    for (const i of allResources('aws_instance')) {
      const root = nested(i, 'root_block_device');
      expect(root, where(i)).toHaveLength(1);
      expect(attributes(root[0]).get('encrypted'), where(i)).toBe('true');
      expect(attributes(root[0]).get('kms_key_id'), where(i)).toMatch(/^aws_kms_key\./);
    }
  });

  it('the instance role holds the Session Manager channels only (no managed policy with wide SSM reads)', () => {
    expect(src).toMatch(/ssmmessages:OpenDataChannel/);
    expect(src).toMatch(/ssm:UpdateInstanceInformation/);
    expect(src).not.toMatch(/AmazonSSMManagedInstanceCore|"ssm:\*"|"s3:\*"|"\*:\*"/);
    expect(resources(bastion, 'aws_iam_role_policy_attachment')).toEqual([]);
  });

  it('operators get a policy for port forwarding to the database through this instance only', () => {
    expect(src).toMatch(/document\/AWS-StartPortForwardingSessionToRemoteHost/);
    expect(src).toMatch(/ssm:SessionDocumentAccessCheck/);
    const egress = resources(bastion, 'aws_vpc_security_group_egress_rule');
    expect(egress.some((e) => attributes(e).get('referenced_security_group_id') === 'var.database_security_group_id')).toBe(true);
  });

  it.each(envNames)('envs/%s: the bastion is a toggle, and the database lets it in when on', (env) => {
    const d = dirs.get(`envs/${env}`)!;
    const v = ofType(d, 'variable').find((x) => x.labels[0] === 'enable_bastion');
    expect(attributes(v!).get('type')).toBe('bool');
    const call = ofType(d, 'module').find((m) => m.labels[0] === 'bastion')!;
    expect(attributes(call).get('count')).toBe('var.enable_bastion ? 1 : 0');
    const db = ofType(d, 'module').find((m) => m.labels[0] === 'database')!;
    expect(attributes(db).get('allowed_security_group_ids')).toMatch(/var\.enable_bastion \? \{ bastion = module\.bastion\[0\]\.security_group_id \}/);
  });
});

describe('posture: encryption everywhere', () => {
  it('every log group is encrypted with a customer-managed key', () => {
    const groups = allResources('aws_cloudwatch_log_group');
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const g of groups) expect(attributes(g).get('kms_key_id'), where(g)).toMatch(/^(aws_kms_key\.[a-z_]+\.arn|var\.logs_kms_key_arn)$/);
  });

  it('every KMS key rotates and has an explicit policy in which the account administers but does not use the key', () => {
    for (const [name, d] of dirs) {
      for (const key of resources(d, 'aws_kms_key')) {
        const a = attributes(key);
        expect(a.get('enable_key_rotation'), where(key)).toBe('true');
        const doc = /^data\.aws_iam_policy_document\.([a-z_]+)\.json$/.exec(a.get('policy') ?? '');
        expect(doc, `${where(key)} policy`).not.toBeNull();
        const policy = ofType(d, 'data').find((b) => b.labels[0] === 'aws_iam_policy_document' && b.labels[1] === doc![1]);
        expect(policy, `${name}: ${doc![1]}`).toBeDefined();
        for (const st of nested(policy!, 'statement')) {
          const principals = nested(st, 'principals').map((p) => attributes(p).get('identifiers') ?? '');
          const unconditioned = nested(st, 'condition').length === 0;
          const raw = attributes(st).get('actions') ?? '';
          // local.kms_admin_actions: the list itself, from the module's locals.
          const actions = raw === 'local.kms_admin_actions' ? (ofType(d, 'locals').flatMap((b) => [...attributes(b)]).find(([k]) => k === 'kms_admin_actions')?.[1] ?? 'undefined local') : raw;
          expect(actions, where(st)).not.toMatch(/"kms:\*"/);
          // The whole account, without a condition, only ever administers.
          if (unconditioned && principals.some((p) => /account_root/.test(p))) {
            expect(actions, `${where(policy!)} ${attributes(st).get('sid')}`).not.toMatch(/Decrypt|Encrypt|GenerateDataKey/);
          }
        }
      }
    }
  });

  it('every bucket is private, versioned, encrypted and TLS-only', () => {
    const buckets = allResources('aws_s3_bucket');
    expect(buckets.length).toBeGreaterThanOrEqual(2);
    for (const b of buckets) {
      const d = [...dirs.values()].find((x) => x.blocks.includes(b))!;
      const ref = new RegExp(`aws_s3_bucket\\.${b.labels[1]}(\\[0\\])?\\.id`);
      const of = (type: string) => resources(d, type).find((r) => ref.test(attributes(r).get('bucket') ?? ''));
      const pab = of('aws_s3_bucket_public_access_block');
      expect(pab, `${where(b)} public access block`).toBeDefined();
      for (const k of ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets']) expect(attributes(pab!).get(k), k).toBe('true');
      expect(of('aws_s3_bucket_versioning')?.body, `${where(b)} versioning`).toMatch(/status\s*=\s*"Enabled"/);
      expect(of('aws_s3_bucket_server_side_encryption_configuration')?.body, `${where(b)} encryption`).toMatch(/sse_algorithm\s*=\s*"(aws:kms|AES256)"/);
      expect(of('aws_s3_bucket_ownership_controls')?.body, `${where(b)} ownership`).toMatch(/BucketOwnerEnforced/);
      const policy = of('aws_s3_bucket_policy');
      expect(policy, `${where(b)} policy`).toBeDefined();
      expect(d.masked.length && [...d.files.values()].join('\n'), where(b)).toMatch(/aws:SecureTransport/);
    }
  });

  it('the load balancer writes access logs to its bucket (SSE-S3: the only encryption ELB can write to)', () => {
    const svc = dirs.get('modules/service')!;
    const lb = resources(svc, 'aws_lb')[0];
    const logs = nested(lb, 'access_logs');
    expect(logs).toHaveLength(1);
    expect(attributes(logs[0]).get('enabled')).toBe('true');
    expect(attributes(logs[0]).get('bucket')).toBe('aws_s3_bucket.access_logs.id');
  });

  it('secrets, database storage, image repository and the master-key secret use KMS', () => {
    for (const s of allResources('aws_secretsmanager_secret')) expect(attributes(s).get('kms_key_id'), where(s)).toMatch(/^aws_kms_key\./);
    for (const c of allResources('aws_rds_cluster')) {
      expect(attributes(c).get('storage_encrypted'), where(c)).toBe('true');
      expect(attributes(c).get('master_user_secret_kms_key_id'), where(c)).toMatch(/^aws_kms_key\./);
    }
    for (const r of allResources('aws_ecr_repository')) expect(r.body, where(r)).toMatch(/encryption_type\s*=\s*"KMS"/);
  });
});

describe('posture: AWS API traffic stays off the NAT', () => {
  const net = dirs.get('modules/network')!;
  const endpoints = ofType(net, 'locals').flatMap((b) => [...attributes(b)]).find(([k]) => k === 'interface_endpoints')?.[1] ?? '';

  it('interface endpoints for ECR, Secrets Manager, KMS and CloudWatch Logs (and Session Manager), private DNS on', () => {
    for (const svc of ['ecr.api', 'ecr.dkr', 'secretsmanager', 'kms', 'logs', 'ssm', 'ssmmessages', 'ec2messages']) expect(endpoints, svc).toContain(`"${svc}"`);
    const ep = resources(net, 'aws_vpc_endpoint').find((e) => e.labels[1] === 'interface')!;
    expect(attributes(ep).get('private_dns_enabled')).toBe('true');
    expect(attributes(ep).get('subnet_ids')).toMatch(/aws_subnet\.private/);
  });

  it('an S3 gateway endpoint on the private route tables (image layers, the Litestream replica)', () => {
    const s3 = resources(net, 'aws_vpc_endpoint').find((e) => e.labels[1] === 's3')!;
    expect(attributes(s3).get('vpc_endpoint_type')).toBe('"Gateway"');
    expect(attributes(s3).get('route_table_ids')).toMatch(/aws_route_table\.private/);
  });

  it('on by default, and no environment turns them off', () => {
    const v = ofType(net, 'variable').find((x) => x.labels[0] === 'enable_vpc_endpoints')!;
    expect(attributes(v).get('default')).toBe('true');
    for (const env of envNames) expect(dirs.get(`envs/${env}`)!.masked).not.toMatch(/enable_vpc_endpoints\s*=\s*false/);
  });
});

describe('the SQLite variant: one task, Litestream sidecar, restore on start', () => {
  const svc = dirs.get('modules/service')!;
  const src = [...svc.files.values()].join('\n');
  const locals = new Map(ofType(svc, 'locals').flatMap((b) => [...attributes(b)]));
  const containers = locals.get('litestream_containers') ?? '';

  it('an init container restores the database only when it is missing and a replica exists', () => {
    expect(containers).toMatch(/name\s*=\s*"litestream-restore"[\s\S]*?essential\s*=\s*false/);
    expect(containers).toMatch(/command\s*=\s*\["restore", "-if-db-not-exists", "-if-replica-exists", "-o", "\$\{local\.sqlite_data_dir\}\/certa\.db", local\.replica_url\]/);
    expect(locals.get('replica_url')).toMatch(/"s3:\/\/\$\{aws_s3_bucket\.replica\[0\]\.bucket\}\/certa\.db"/);
  });

  it('the service starts after the restore succeeded; the replicating sidecar is essential and stops after it', () => {
    expect(src).toMatch(/dependsOn = local\.sqlite \? \[\{ containerName = "litestream-restore", condition = "SUCCESS" \}\]/);
    expect(containers).toMatch(/name\s*=\s*"litestream"\s[\s\S]*?essential\s*=\s*true[\s\S]*?command\s*=\s*\["replicate",/);
    expect(containers).toMatch(/containerName = local\.container_name, condition = "HEALTHY"/);
  });

  it('the database is on the task\'s storage, the service on SQLite (no database URL), the KEK still from Secrets Manager', () => {
    expect(locals.get('sqlite_data_dir')).toBe('"/data"');
    expect(locals.get('environment')).toMatch(/local\.sqlite \? tomap\(\{ CERTA_DATA_DIR = local\.sqlite_data_dir \}\)/);
    expect(locals.get('environment')).toMatch(/local\.postgres && !local\.use_url_secret \? tomap\(\{ CERTA_DATABASE_URL/);
    expect(locals.get('secrets')).toMatch(/^merge\(\s*\{ CERTA_MASTER_KEY = aws_secretsmanager_secret\.master_key\.arn \}/);
  });

  it('exactly one task, never two at once (two tasks would be two databases replicating to one place)', () => {
    const service = resources(svc, 'aws_ecs_service')[0];
    const a = attributes(service);
    expect(a.get('deployment_minimum_healthy_percent')).toBe('local.sqlite ? 0 : 100');
    expect(a.get('deployment_maximum_percent')).toBe('local.sqlite ? 100 : 200');
    expect(service.body).toMatch(/condition\s*=\s*!local\.sqlite \|\| var\.max_count == 1/);
  });

  it('the replica bucket is encrypted with its own key, which the task role uses through S3 only', () => {
    const sse = resources(svc, 'aws_s3_bucket_server_side_encryption_configuration').find((r) => r.labels[1] === 'replica')!;
    expect(sse.body).toMatch(/kms_master_key_id\s*=\s*aws_kms_key\.replica\[0\]\.arn/);
    const key = ofType(svc, 'data').find((b) => b.labels[1] === 'replica_key')!;
    expect(key.body).toMatch(/aws_iam_role\.task\.arn[\s\S]*kms:ViaService[\s\S]*s3\./);
  });
});
