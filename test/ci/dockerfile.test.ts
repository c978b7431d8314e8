/**
 * The Dockerfile and .dockerignore, read as data (no Docker engine here): a multi-stage
 * Node 24 build that compiles the native modules and prunes dev dependencies, a
 * runtime stage that runs the compiled entry point as a non-root user with a health
 * check, a build context that carries what the build needs and nothing secret.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

interface Instruction {
  cmd: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comments dropped. */
function instructions(src: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = src.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*(#|$)/.test(lines[i])) continue;
    const start = i;
    let text = lines[i];
    while (/\\\s*$/.test(text) && i + 1 < lines.length) {
      i++;
      if (/^\s*#/.test(lines[i])) continue; // comments inside a continuation are dropped
      text = text.replace(/\\\s*$/, ' ') + lines[i];
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(text);
    if (m) out.push({ cmd: m[1].toUpperCase(), args: m[2].trim(), line: start + 1 });
  }
  return out;
}

interface Stage {
  from: string;
  name: string | null;
  body: Instruction[];
}

function stages(all: Instruction[]): { globalArgs: Map<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>();
  const out: Stage[] = [];
  for (const ins of all) {
    if (ins.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      const image = m[1].replace(/\$\{?(\w+)\}?/g, (_, n) => globalArgs.get(n) ?? '');
      out.push({ from: image, name: m[2] ?? null, body: [] });
    } else if (out.length === 0 && ins.cmd === 'ARG') {
      const [k, v = ''] = ins.args.split('=');
      globalArgs.set(k.trim(), v.trim());
    } else if (out.length > 0) {
      out[out.length - 1].body.push(ins);
    }
  }
  return { globalArgs, stages: out };
}

/** Exec form `["a", "b"]` as an array, or null for the shell form. */
function execForm(args: string): string[] | null {
  try {
    const v = JSON.parse(args);
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const all = instructions(dockerfile);
const { stages: st } = stages(all);
const build = st.find((s) => s.name === 'build')!;
const runtime = st[st.length - 1];
const runs = (s: Stage) => s.body.filter((i) => i.cmd === 'RUN').map((i) => i.args);

/** .dockerignore semantics (moby patternmatcher): last matching pattern wins; a pattern also matches everything under a matching directory. */
function ignored(path: string, patterns: string[]): boolean {
  let excluded = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = posix.normalize(negate ? raw.slice(1) : raw).replace(/\/$/, '');
    const re = new RegExp(
      '^' +
        pattern
          .split('/')
          .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
          .join('/')
          .replace(/\.\*\//g, '(?:.*/)?') +
        '(?:/.*)?$',
    );
    if (re.test(path)) excluded = !negate;
  }
  return excluded;
}

const dockerignore = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('is a multi-stage build on Node 24', () => {
    expect(st.length).toBeGreaterThanOrEqual(2);
    for (const s of st) expect(s.from, `FROM of stage ${s.name}`).toMatch(/^node:24(-|$|\.)/);
    expect(build, 'a stage named build').toBeDefined();
    expect(runtime.name).not.toBe('build');
  });

  it('build: toolchain for native modules, npm ci, npm run build, then prune the dev dependencies', () => {
    const r = runs(build).join('\n');
    expect(r).toMatch(/apt-get install[^\n]*\bpython3\b/);
    expect(r).toMatch(/apt-get install[^\n]*\bmake\b/);
    expect(r).toMatch(/apt-get install[^\n]*\bg\+\+/);
    const ci = r.indexOf('npm ci');
    const compile = r.indexOf('npm run build');
    const prune = r.search(/npm prune --omit=dev/);
    expect(ci).toBeGreaterThan(-1);
    expect(compile).toBeGreaterThan(ci);
    expect(prune).toBeGreaterThan(compile);
  });

  it('build: copies the lock file before the sources (dependency layer cached across code changes)', () => {
    const copies = build.body.filter((i) => i.cmd === 'COPY').map((i) => i.args);
    const lock = copies.findIndex((c) => /package-lock\.json/.test(c));
    const srcCopy = copies.findIndex((c) => /^src\b/.test(c));
    expect(lock).toBeGreaterThan(-1);
    expect(srcCopy).toBeGreaterThan(lock);
    const npmCi = build.body.findIndex((i) => i.cmd === 'RUN' && /npm ci/.test(i.args));
    const firstSrc = build.body.findIndex((i) => i.cmd === 'COPY' && /^src\b/.test(i.args));
    expect(npmCi).toBeLessThan(firstSrc);
  });

  it('build: copies everything tsconfig.build.json compiles', () => {
    const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
    const copied = build.body.filter((i) => i.cmd === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const dir of tsconfig.include as string[]) expect(copied, dir).toContain(dir);
    expect(copied).toContain('tsconfig.build.json');
    if (tsconfig.extends) expect(copied).toContain(tsconfig.extends.replace(/^\.\//, ''));
  });

  it('puts the bundled spec where the compiled service reads it', () => {
    // src/spec.ts loads the spec relative to its own file; compiled, that file is dist/src/spec.js.
    const specTs = readFileSync(join(root, 'src/spec.ts'), 'utf8');
    const rel = /new URL\('([^']+openapi\.json)', import\.meta\.url\)/.exec(specTs)?.[1];
    expect(rel, 'src/spec.ts loads the bundled spec by URL').toBeDefined();
    const expected = posix.normalize(posix.join('dist/src', rel!));
    const r = runs(build).join('\n');
    expect(r).toMatch(new RegExp(`cp generated/openapi\\.json ${expected.replace(/[.]/g, '\\.')}`));
    const runtimeCopies = runtime.body.filter((i) => i.cmd === 'COPY').map((i) => i.args);
    expect(runtimeCopies.some((c) => /--from=build\b.*\/app\/dist\s/.test(c))).toBe(true);
  });

  it('runtime: no compilers, only production artefacts from the build stage', () => {
    const r = runs(runtime).join('\n');
    expect(r).not.toMatch(/\b(g\+\+|gcc|make|python3|build-essential)\b/);
    const copies = runtime.body.filter((i) => i.cmd === 'COPY').map((i) => i.args);
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c, 'runtime copies come from the build stage').toMatch(/--from=build\b/);
    expect(copies.some((c) => /\/app\/node_modules\b/.test(c))).toBe(true);
  });

  it('runtime: runs as a non-root user, set before the command', () => {
    const users = runtime.body.filter((i) => i.cmd === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const last = users[users.length - 1].args.split(':')[0];
    expect(['root', '0']).not.toContain(last);
    const userIdx = runtime.body.indexOf(users[users.length - 1]);
    const cmdIdx = runtime.body.findIndex((i) => i.cmd === 'CMD');
    expect(userIdx).toBeLessThan(cmdIdx);
  });

  it('runtime: /data volume, port 8080, CERTA_DATA_DIR pointing at the volume', () => {
    const volume = runtime.body.find((i) => i.cmd === 'VOLUME');
    expect(execForm(volume!.args) ?? volume!.args.split(/\s+/)).toContain('/data');
    expect(runtime.body.find((i) => i.cmd === 'EXPOSE')?.args).toBe('8080');
    const env = runtime.body.filter((i) => i.cmd === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/CERTA_DATA_DIR=\/data\b/);
    expect(env).toMatch(/CERTA_PORT=8080\b/);
    // The volume directory belongs to the user the service runs as.
    expect(runs(runtime).join('\n')).toMatch(/chown node:node \/data/);
  });

  it('runtime: a HEALTHCHECK on /healthz with node (the slim image has no curl)', () => {
    const hc = runtime.body.find((i) => i.cmd === 'HEALTHCHECK');
    expect(hc).toBeDefined();
    const cmd = execForm(hc!.args.replace(/^(--\S+\s+)*CMD\s+/, ''));
    expect(cmd, 'exec form').not.toBeNull();
    expect(cmd![0]).toBe('node');
    expect(cmd!.join(' ')).toMatch(/\/healthz/);
    expect(hc!.args).not.toMatch(/\b(curl|wget)\b/);
    expect(hc!.args).toMatch(/--timeout=\d+s/);
  });

  it('runtime: starts the compiled ESM entry point under an init', () => {
    expect(execForm(runtime.body.find((i) => i.cmd === 'CMD')!.args)).toEqual(['node', 'dist/src/main.js']);
    const entry = execForm(runtime.body.find((i) => i.cmd === 'ENTRYPOINT')?.args ?? 'null');
    expect(entry?.[0]).toMatch(/tini$/);
    expect(runs(runtime).join('\n')).toMatch(/apt-get install[^\n]*\btini\b/);
  });

  it('cleans apt lists in the layer that fills them', () => {
    for (const s of st) {
      for (const r of runs(s).filter((x) => /apt-get install/.test(x))) {
        expect(r).toMatch(/apt-get update/);
        expect(r).toMatch(/--no-install-recommends/);
        expect(r).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
      }
    }
  });

  it('holds no secrets', () => {
    const secretName = /(PASSWORD|SECRET|TOKEN|MASTER_KEY|PRIVATE|CREDENTIAL|API_KEY|ACCESS_KEY)/i;
    for (const ins of all.filter((i) => i.cmd === 'ENV' || i.cmd === 'ARG')) {
      for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)) expect(m[1], `line ${ins.line}`).not.toMatch(secretName);
      expect(ins.args, `line ${ins.line}`).not.toMatch(secretName);
    }
    for (const ins of all.filter((i) => i.cmd === 'COPY' || i.cmd === 'ADD')) {
      expect(ins.args, `line ${ins.line}`).not.toMatch(/(^|\s|\/)(\.env|\.npmrc|id_rsa|[\w.-]+\.key|master\.key|data\/?)(\s|$)/);
    }
    expect(dockerfile).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}/);
  });
});

describe('.dockerignore', () => {
  it('keeps secrets, local state and dependencies out of the build context', () => {
    for (const p of ['.env', '.npmrc', 'data/certa.db', 'data/master.key', 'node_modules/koa/package.json', '.git/config', 'dist/src/main.js', 'site/index.html', 'infra/envs/production/terraform.tfstate', 'test/fixtures/ca.key']) {
      expect(ignored(p, dockerignore), p).toBe(true);
    }
  });

  it('sends what the Dockerfile copies, without the tests', () => {
    const sources = all
      .filter((i) => i.cmd === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => i.args.replace(/--\S+\s+/g, '').split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(ignored(s, dockerignore), `${s} is sent`).toBe(false);
    }
    expect(ignored('src/main.ts', dockerignore)).toBe(false);
    expect(ignored('src/store/migrations/index.ts', dockerignore)).toBe(false);
    expect(ignored('generated/openapi.json', dockerignore)).toBe(false);
    expect(ignored('src/config/config.test.ts', dockerignore)).toBe(true);
  });
});
