/**
 * .gitlab-ci.yml: valid against GitLab's own JSON schema, and coherent in the ways the
 * schema cannot see (every job runs something, stages/needs/extends/!reference point at
 * things that exist), plus the pipeline's contract: PostgreSQL for the tests, Node 24,
 * no Docker daemon, Pages from public/, GitLab's security scanners and npm audit, tofu
 * from a pinned image, plan before apply (the plan shown in the merge request, applied
 * exactly, production by hand after staging), nothing read from a private repository.
 *
 * The schema is GitLab's own, kept in the repository (test/fixtures/gitlab-ci/, with its
 * provenance and licence in the README there).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse, type ScalarTag, type CollectionTag } from 'yaml';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;

const root = resolve(import.meta.dirname, '../..');
const schemaPath = join(root, 'test/fixtures/gitlab-ci/ci.schema.json');

/** `!reference [job, key]`: kept as an array (what the schema expects), recognisable by class. */
class Reference extends Array<string> {}
const referenceTag: CollectionTag = {
  tag: '!reference',
  collection: 'seq',
  resolve(seq: any) {
    const r = new Reference();
    for (const item of seq.items) r.push(String(item?.value ?? item));
    return r;
  },
} as CollectionTag;

function load(src: string): any {
  return parse(src, { customTags: [referenceTag as CollectionTag | ScalarTag], merge: true });
}

const source = readFileSync(join(root, '.gitlab-ci.yml'), 'utf8');
const config = load(source);

const GLOBAL_KEYWORDS = new Set(['$schema', 'spec', 'default', 'include', 'stages', 'variables', 'workflow', 'image', 'services', 'cache', 'before_script', 'after_script']);
const jobNames = Object.keys(config).filter((k) => !GLOBAL_KEYWORDS.has(k) && !k.startsWith('.'));

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** GitLab's `extends` merge: hashes deep-merged, everything else replaced. */
function deepMerge(base: any, over: any): any {
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

function resolveJob(name: string, seen: string[] = []): Record<string, any> {
  if (seen.includes(name)) throw new Error(`extends cycle: ${[...seen, name].join(' -> ')}`);
  const job = config[name];
  if (!isObject(job)) throw new Error(`no job or template named ${name}`);
  const parents = job.extends === undefined ? [] : ([] as string[]).concat(job.extends);
  let merged: Record<string, any> = {};
  for (const p of parents) merged = deepMerge(merged, resolveJob(p, [...seen, name]));
  const { extends: _ignored, ...own } = job;
  return deepMerge(merged, own);
}

const jobs = new Map(jobNames.map((n) => [n, resolveJob(n)]));

/** Jobs defined by an included GitLab template and only adjusted here (stage, rules, variables). */
const TEMPLATE_JOBS: Record<string, string> = { container_scanning: 'Jobs/Container-Scanning.gitlab-ci.yml' };
const includedTemplates = ([] as any[]).concat(config.include ?? []).map((i) => (typeof i === 'string' ? i : i.template)).filter(Boolean);

/** Script lines, with `!reference` entries replaced by what they point at. */
function lines(script: unknown): string[] {
  if (script === undefined || script === null) return [];
  if (typeof script === 'string') return [script];
  if (script instanceof Reference) return lines(lookup(script));
  if (Array.isArray(script)) return script.flatMap((s) => lines(s));
  return [String(script)];
}

function lookup(path: string[]): unknown {
  let node: any = config;
  for (const key of path) node = isObject(node) ? node[key] : undefined;
  return node;
}

function allScript(job: Record<string, any>): string {
  return [...lines(config.default?.before_script), ...lines(job.before_script), ...lines(job.script)].join('\n');
}

/** `$VAR` / `${VAR}` expanded with the job's and the global variables (one level). */
function expand(value: string, job: Record<string, any>): string {
  const vars = { ...(config.variables ?? {}), ...(job.variables ?? {}) };
  return value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, name) => (typeof vars[name] === 'string' ? vars[name] : m));
}

function imageOf(job: Record<string, any>): string {
  const image = job.image ?? config.default?.image ?? config.image;
  const name = typeof image === 'string' ? image : image?.name;
  return name ? expand(name, job) : '';
}

function walk(node: unknown, visit: (key: string, value: unknown, path: string[]) => void, path: string[] = []) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      visit(String(i), v, [...path, String(i)]);
      walk(v, visit, [...path, String(i)]);
    });
  } else if (isObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      visit(k, v, [...path, k]);
      walk(v, visit, [...path, k]);
    }
  }
}

function rulesMention(job: Record<string, any>, text: RegExp): boolean {
  return (job.rules ?? []).some((r: any) => typeof r.if === 'string' && text.test(r.if));
}

describe('.gitlab-ci.yml against GitLab\'s schema', () => {
  it('the schema is in the repository', () => {
    expect(existsSync(schemaPath), schemaPath).toBe(true);
  });

  const validator = () => {
    const ajv = new Ajv({ strict: false, allowUnionTypes: true, allErrors: true });
    addFormats(ajv);
    return ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
  };

  it('validates', () => {
    const validate = validator();
    const ok = validate(config);
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    expect(errors, errors.slice(0, 20).join('\n')).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects a broken pipeline (the validator is not vacuous)', () => {
    const validate = validator();
    expect(validate(load('stages: [test]\njob:\n  stage: test\n  script: echo\n  when: sometimes\n'))).toBe(false);
    expect(validate(load('job:\n  script: echo\n  rules:\n    - if: $X\n      when: later\n'))).toBe(false);
    expect(validate(load('job:\n  script: [echo]\n  needs: 42\n'))).toBe(false);
  });
});

describe('pipeline coherence', () => {
  it('has the lint, test, build, docs and deploy stages in that order', () => {
    expect(config.stages).toEqual(['lint', 'test', 'build', 'docs', 'deploy']);
  });

  it('uses rules:, never only:/except:', () => {
    const found: string[] = [];
    walk(config, (key, _v, path) => {
      if ((key === 'only' || key === 'except') && path.length === 2) found.push(path.join('.'));
    });
    expect(found).toEqual([]);
    for (const [name, job] of jobs) expect(job.only ?? job.except, name).toBeUndefined();
  });

  it.each(jobNames)('job %s runs something (script or trigger), or adjusts a job of an included template', (name) => {
    const job = jobs.get(name)!;
    if (name in TEMPLATE_JOBS) {
      expect(includedTemplates, name).toContain(TEMPLATE_JOBS[name]);
      expect(job.script, `${name} keeps the template's script`).toBeUndefined();
      return;
    }
    expect(lines(job.script).length > 0 || job.trigger !== undefined, name).toBe(true);
  });

  it.each(jobNames)('job %s is in a declared stage', (name) => {
    const stage = jobs.get(name)!.stage ?? 'test';
    expect([...config.stages, '.pre', '.post']).toContain(stage);
  });

  it('extends, needs and !reference point at things that exist', () => {
    const problems: string[] = [];
    for (const [name, raw] of Object.entries<any>(config)) {
      if (!isObject(raw) || GLOBAL_KEYWORDS.has(name)) continue;
      for (const p of raw.extends === undefined ? [] : ([] as string[]).concat(raw.extends)) {
        if (!isObject(config[p])) problems.push(`${name} extends missing ${p}`);
      }
    }
    for (const [name, job] of jobs) {
      for (const n of job.needs ?? []) {
        const target = typeof n === 'string' ? n : n.job;
        if (!jobs.has(target)) problems.push(`${name} needs missing job ${target}`);
      }
    }
    walk(config, (_k, v, path) => {
      if (v instanceof Reference && lookup(v) === undefined) problems.push(`${path.join('.')}: !reference [${v.join(', ')}] resolves to nothing`);
    });
    expect(problems).toEqual([]);
  });

  it('every repository script the pipeline runs exists and is executable', () => {
    const scripts = new Set<string>();
    for (const job of jobs.values()) for (const m of allScript(job).matchAll(/(?:^|\s)((?:scripts|infra\/scripts)\/[\w./-]+\.sh)\b/g)) scripts.add(m[1]);
    expect(scripts.size).toBeGreaterThan(0);
    for (const s of scripts) {
      expect(existsSync(join(root, s)), s).toBe(true);
      expect(statSync(join(root, s)).mode & 0o111, `${s} is executable`).not.toBe(0);
    }
  });

  it('every Node job runs Node 24', () => {
    const nodeJobs = [...jobs].filter(([, j]) => /(^|\/)node:/.test(imageOf(j)));
    expect(nodeJobs.length).toBeGreaterThan(3);
    for (const [name, job] of nodeJobs) expect(imageOf(job), name).toMatch(/(^|\/)node:24(\b|-)/);
  });

  it('npm jobs install from the lock file with a cached npm directory', () => {
    for (const [name, job] of jobs) {
      const script = allScript(job);
      if (!/\bnpm (test|run)\b/.test(script)) continue;
      expect(script, name).toMatch(/\bnpm ci\b/);
      const cache = [].concat(job.cache ?? []) as any[];
      expect(cache.some((c) => (c.paths ?? []).some((p: string) => p.startsWith('.npm')) && c.key?.files?.includes('package-lock.json')), name).toBe(true);
    }
    expect(expand(config.variables.npm_config_cache, {})).toMatch(/\.npm$/);
  });
});

describe('pipeline contract', () => {
  it('test: npm ci then npm test, against a postgres:15 service the tests are pointed at', () => {
    const job = jobs.get('test')!;
    expect(job.stage).toBe('test');
    const script = allScript(job);
    expect(script.indexOf('npm ci')).toBeGreaterThan(-1);
    expect(script.indexOf('npm test')).toBeGreaterThan(script.indexOf('npm ci'));
    const services = ([] as any[]).concat(job.services ?? []).map((s) => (typeof s === 'string' ? { name: s } : s));
    const pg = services.find((s) => /^postgres:15\b/.test(s.name));
    expect(pg).toBeDefined();
    const host = pg.alias ?? 'postgres';
    const url = new URL(expand(job.variables.CERTA_TEST_PG_ADMIN_URL, job));
    expect(url.protocol).toBe('postgres:');
    expect(url.hostname).toBe(host);
    // Trust auth (no password in the pipeline), as the tests expect.
    expect(pg.variables?.POSTGRES_HOST_AUTH_METHOD ?? job.variables.POSTGRES_HOST_AUTH_METHOD).toBe('trust');
  });

  it('limbo: scores the x509-limbo vectors kept in the repository, keeps the result, never blocks', () => {
    const job = jobs.get('limbo')!;
    const script = allScript(job);
    const m = /npm run limbo -- "?\$\{?([A-Z_]+)\}?"? limbo-results\.json/.exec(script);
    expect(m, script).not.toBeNull();
    const vectors = expand(`$${m![1]}`, job);
    expect(vectors).toMatch(/^test\/fixtures\/limbo\/.+\.json$/);
    expect(existsSync(join(root, vectors)), vectors).toBe(true);
    expect(job.artifacts.paths).toContain('limbo-results.json');
    const tolerant = job.allow_failure === true || (job.rules ?? []).every((r: any) => r.when === 'never' || r.allow_failure === true);
    expect(tolerant).toBe(true);
  });

  it('image: built without a Docker daemon and pushed to $CI_REGISTRY_IMAGE', () => {
    const builders = [...jobs].filter(([, j]) => /buildah|kaniko/.test(imageOf(j)));
    expect(builders.length).toBe(1);
    const [name, job] = builders[0];
    expect(job.stage, name).toBe('build');
    const script = allScript(job);
    expect(script).toMatch(/buildah (build|bud)|\/kaniko\/executor/);
    expect(script).toMatch(/\$CI_REGISTRY_IMAGE/);
    expect(script).toMatch(/--password-stdin|\/kaniko\/\.docker\/config\.json/);
    for (const [n, j] of jobs) {
      expect(JSON.stringify(j.services ?? []), n).not.toMatch(/dind/);
      expect(allScript(j), n).not.toMatch(/(^|\s)docker (build|push|login)\b/m);
    }
  });

  it('pages: builds the docs (MkDocs + Redoc) into public/ from the default branch', () => {
    const job = jobs.get('pages')!;
    expect(job.stage).toBe('docs');
    expect(job.artifacts.paths).toContain('public/');
    expect(allScript(job)).toMatch(/scripts\/build-docs\.sh public\b/);
    expect(allScript(job)).toMatch(/apt-get install[^\n]*\bmkdocs\b[^\n]*\bmkdocs-material\b/);
    expect(rulesMention(job, /\$CI_COMMIT_BRANCH == \$CI_DEFAULT_BRANCH/)).toBe(true);
  });

  it('infra: tofu fmt -check and tofu validate for every environment', () => {
    const tofuJobs = [...jobs].filter(([, j]) => /\btofu (fmt|validate)\b/.test(allScript(j)));
    expect(tofuJobs.length).toBeGreaterThan(0);
    const script = tofuJobs.map(([, j]) => allScript(j)).join('\n');
    expect(script).toMatch(/tofu fmt -check\b[^\n]*-recursive[^\n]*infra/);
    expect(script).toMatch(/tofu[^\n]*\bvalidate\b/);
    expect(script).toMatch(/init -backend=false/);
    expect(tofuJobs.every(([, j]) => j.stage === 'lint')).toBe(true);
  });

  it('nothing needs a private repository or variable to test: no CERTA_SHARED_*, no ../shared', () => {
    expect(source).not.toMatch(/CERTA_SHARED|\.\.\/shared/);
    const test = jobs.get('test')!;
    expect(JSON.stringify(test.rules ?? [])).not.toMatch(/\$[A-Z]/);
  });

  it('GitLab\'s SAST, Secret Detection, Dependency Scanning and Container Scanning templates are included', () => {
    for (const t of ['Jobs/SAST.gitlab-ci.yml', 'Jobs/Secret-Detection.gitlab-ci.yml', 'Jobs/Dependency-Scanning.gitlab-ci.yml', 'Jobs/Container-Scanning.gitlab-ci.yml']) {
      expect(includedTemplates).toContain(t);
    }
    // The image is scanned where it was pushed, after it was built.
    const cs = jobs.get('container_scanning')!;
    expect(expand(cs.variables.CS_IMAGE, cs)).toBe('$CI_REGISTRY_IMAGE:$CI_COMMIT_SHA');
    expect(cs.needs.map((n: any) => n.job ?? n)).toContain('container-image');
    const pushes = jobs.get('container-image')!.rules.filter((r: any) => r.variables?.PUSH === 'true').map((r: any) => r.if);
    expect(cs.rules.map((r: any) => r.if).sort()).toEqual(pushes.sort());
  });

  it('npm audit of the runtime dependencies fails on high and critical, unless a waiver is recorded', () => {
    const job = jobs.get('audit:npm')!;
    expect(allScript(job)).toMatch(/npm audit --omit=dev --audit-level=high\b/);
    const waiver = job.rules.find((r: any) => /NPM_AUDIT_WAIVER/.test(r.if ?? ''));
    expect(waiver?.allow_failure).toBe(true);
    expect(job.allow_failure).toBeUndefined();
  });

  it('tofu comes from a pinned image, never from a script downloaded at job time', () => {
    expect(source).not.toMatch(/curl[^\n]*\|\s*(ba)?sh|install-opentofu\.sh/);
    const tofuJobs = [...jobs].filter(([, j]) => /\btofu\b|infra\/scripts\/(plan|apply)\.sh/.test(allScript(j)));
    expect(tofuJobs.length).toBeGreaterThan(4);
    for (const [name, job] of tofuJobs) {
      const image = imageOf(job);
      expect(image, name).toMatch(/opentofu[^:]*:\d+\.\d+\.\d+-opentofu\d+\.\d+\.\d+|@sha256:[0-9a-f]{64}$/);
      expect(allScript(job), name).not.toMatch(/apt-get install[^\n]*\btofu\b/);
    }
  });

  it('merge requests get a plan with GitLab\'s Terraform report; it is never applied', () => {
    const job = jobs.get('plan:review')!;
    expect(job.stage).toBe('deploy');
    expect(rulesMention(job, /\$CI_PIPELINE_SOURCE == "merge_request_event"/)).toBe(true);
    expect(job.variables.PLAN_ONLY).toBe('true');
    expect(job.artifacts.reports.terraform).toMatch(/tfplan\.json$/);
    expect(allScript(job)).toMatch(/infra\/scripts\/plan\.sh "\$DEPLOY_ENV"/);
    for (const [name, j] of jobs) for (const n of j.needs ?? []) expect(n.job ?? n, name).not.toBe('plan:review');
  });

  it.each(['staging', 'production'])('%s: a plan job saves the plan, its apply job applies exactly that file', (env) => {
    const plan = jobs.get(`plan:${env}`)!;
    const apply = jobs.get(`apply:${env}`)!;
    expect(expand('$DEPLOY_ENV', plan)).toBe(env);
    expect(expand('$DEPLOY_ENV', apply)).toBe(env);
    expect(plan.artifacts.paths).toContain('infra/envs/*/tfplan');
    expect(plan.artifacts.paths).toContain('infra/envs/*/.terraform.lock.hcl');
    expect(plan.artifacts.reports.terraform).toMatch(/tfplan\.json$/);
    expect(plan.artifacts.access).toBe('developer');
    expect(apply.needs).toContainEqual({ job: `plan:${env}`, artifacts: true });
    expect(allScript(apply)).toMatch(/infra\/scripts\/apply\.sh "\$DEPLOY_ENV"/);
    expect(allScript(apply)).not.toMatch(/plan\.sh|tofu plan/);
    // Environments with URLs (from the apply's dotenv report) and one change at a time.
    expect(apply.environment.name).toBe(env);
    expect(apply.environment.url).toBe('https://$ENVIRONMENT_HOST');
    expect(apply.artifacts.reports.dotenv).toBe('deploy.env');
    expect(readFileSync(join(root, 'infra/scripts/apply.sh'), 'utf8')).toMatch(/ENVIRONMENT_HOST=/);
    expect(apply.resource_group).toBe(env);
    expect(apply.id_tokens?.AWS_ID_TOKEN?.aud).toBe('sts.amazonaws.com');
    expect(plan.environment).toEqual({ name: env, action: 'prepare' });
    expect(apply.interruptible).toBe(false);
  });

  it('apply:production: manual, default branch only, after staging applied', () => {
    const job = jobs.get('apply:production')!;
    expect(job.stage).toBe('deploy');
    const rules = job.rules as any[];
    expect(rules.length).toBeGreaterThan(0);
    // Every rule that lets the job in is manual and requires the default branch.
    for (const r of rules.filter((x) => x.when !== 'never')) {
      expect(r.when).toBe('manual');
      expect(r.if).toMatch(/\$CI_COMMIT_BRANCH == \$CI_DEFAULT_BRANCH/);
    }
    const needs = (job.needs as any[]).map((n) => n.job ?? n);
    expect(needs).toEqual(expect.arrayContaining(['plan:production', 'apply:staging']));
    // Production is planned only after staging applied, under the same conditions.
    const plan = jobs.get('plan:production')!;
    expect(plan.needs.map((n: any) => n.job ?? n)).toContain('apply:staging');
    expect(JSON.stringify(plan.rules.map((r: any) => r.if))).toBe(JSON.stringify(jobs.get('apply:staging')!.rules.map((r: any) => r.if)));
    expect(JSON.stringify(job.rules.map((r: any) => r.if))).toBe(JSON.stringify(plan.rules.map((r: any) => r.if)));
    expect(job.environment.deployment_tier).toBe('production');
    // AWS access through OIDC, not static keys.
    expect(source).not.toMatch(/AWS_SECRET_ACCESS_KEY|AKIA[0-9A-Z]{16}/);
  });
});
