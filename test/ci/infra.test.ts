/**
 * Static checks of the OpenTofu code in infra/ (no tofu binary, no provider download):
 * declarations match their uses, modules are called with what they declare, nothing
 * secret is written in the code, and the infrastructure agrees with the service's
 * contracts (configuration variables, health endpoints, public /pki/ paths).
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
  it('has the network, database and service modules and the production and staging environments', () => {
    expect(moduleNames).toEqual(expect.arrayContaining(['network', 'database', 'service']));
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

  it.each(envNames)('envs/%s keeps encrypted state in S3 with a key of its own and locking', (env) => {
    const d = dirs.get(`envs/${env}`)!;
    const tf = ofType(d, 'terraform')[0];
    const backend = blocks(tf.body, tf.file, tf.masked).find((b) => b.type === 'backend');
    expect(backend?.labels).toEqual(['s3']);
    const attrs = attributes(backend!);
    expect(attrs.get('encrypt')).toBe('true');
    expect(attrs.get('key')).toContain(env);
    // Locking: configured in the block, or passed at init by the deploy script.
    const deploy = readFileSync(join(infra, 'scripts/deploy.sh'), 'utf8');
    const locked = attrs.has('dynamodb_table') || attrs.get('use_lockfile') === 'true' || /-backend-config="?dynamodb_table=/.test(deploy);
    expect(locked).toBe(true);
  });

  it('state keys differ between environments', () => {
    const keys = envNames.map((e) => {
      const tf = ofType(dirs.get(`envs/${e}`)!, 'terraform')[0];
      return attributes(blocks(tf.body, tf.file, tf.masked).find((b) => b.type === 'backend')!).get('key');
    });
    expect(new Set(keys).size).toBe(keys.length);
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

  it('the deploy script reads outputs every environment declares', () => {
    const deploy = readFileSync(join(infra, 'scripts/deploy.sh'), 'utf8');
    const wanted = refs(deploy, /output -raw ([a-z_]+)/g);
    expect(wanted.size).toBeGreaterThan(0);
    for (const env of envNames) expect([...wanted].filter((o) => !named(dirs.get(`envs/${env}`)!, 'output').has(o)), env).toEqual([]);
  });

  it('the deploy script is valid bash', () => {
    execFileSync('bash', ['-n', join(infra, 'scripts/deploy.sh')]);
    expect(statSync(join(infra, 'scripts/deploy.sh')).mode & 0o111).not.toBe(0);
  });
});

describe('no secrets in the code', () => {
  const files = [...tfFiles(infra), ...readdirSync(join(infra, 'scripts')).map((f) => join(infra, 'scripts', f))];

  it.each(files.map((f) => [relative(root, f), f]))('%s holds no credentials', (_name, file) => {
    const src = readFileSync(file, 'utf8');
    expect(src).not.toMatch(/AKIA[0-9A-Z]{16}/); // AWS access key id
    expect(src).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(src).not.toMatch(/aws_secret_access_key|secret_key\s*=/i);
    // A literal string assigned to a secret-looking attribute.
    expect(src).not.toMatch(/^\s*[a-z_]*(password|secret_string|token|private_key)[a-z_]*\s*=\s*"[^"$]+"/im);
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
    expect(locals.get('database_url')).toMatch(/^"postgres:\/\/\$\{var\.database_host\}/);
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
    for (const file of [...tfFiles(infra), join(infra, 'scripts/deploy.sh')]) {
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
