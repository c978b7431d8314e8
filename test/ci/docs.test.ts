/**
 * The docs site: mkdocs.yml only uses what the targeted MkDocs 1.4 / Material 8.2.5 /
 * pymdown-extensions 9.5 provide, the nav and the links resolve, and the prose agrees
 * with the contracts (configuration variables read by src/config, enums and paths of
 * the spec). When mkdocs is installed, the real build (scripts/build-docs.sh) runs too.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { parse, type ScalarTag, type CollectionTag } from 'yaml';

const root = resolve(import.meta.dirname, '../..');
const docsDir = join(root, 'docs');
const spec = JSON.parse(readFileSync(join(root, 'generated/openapi.json'), 'utf8'));
// Enums from the spec sources (the bundle drops schemas no operation references).
const schemas: Record<string, any> = { ...spec.components.schemas };
for (const f of readdirSync(join(root, 'openapi/schemas')).filter((f) => f.endsWith('.yaml'))) {
  for (const [name, schema] of Object.entries<any>(parse(readFileSync(join(root, 'openapi/schemas', f), 'utf8')) ?? {})) schemas[name] ??= schema;
}

// MkDocs' `!ENV [NAME, default]`: resolve to the default, as a build without the variable does.
const envTag: CollectionTag = {
  tag: '!ENV',
  collection: 'seq',
  resolve(seq: any) {
    const items = seq.items.map((i: any) => i?.value ?? i);
    return process.env[items[0]] ?? items[items.length - 1];
  },
} as CollectionTag;
const mkdocs = parse(readFileSync(join(root, 'mkdocs.yml'), 'utf8'), { customTags: [envTag as CollectionTag | ScalarTag] });

/** Features present in the mkdocs-material 8.2.5 bundle (grepped from its templates and JS). */
const MATERIAL_825_FEATURES = new Set([
  'content.code.annotate',
  'header.autohide',
  'navigation.expand',
  'navigation.indexes',
  'navigation.instant',
  'navigation.sections',
  'navigation.tabs',
  'navigation.tabs.sticky',
  'navigation.top',
  'navigation.tracking',
  'search.highlight',
  'search.share',
  'search.suggest',
  'toc.integrate',
]);
/** Extensions available with Debian bookworm's python3-markdown 3.4 and python3-pymdownx 9.5. */
const AVAILABLE_EXTENSIONS = /^(abbr|admonition|attr_list|def_list|footnotes|md_in_html|meta|sane_lists|smarty|tables|toc|pymdownx\.[a-z]+)$/;
/** Files the docs build generates (never committed under docs/). */
const GENERATED = new Set(['api/index.html']);

function markdownFiles(dir = docsDir): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => f.split('\\').join('/'))
    .sort();
}

function navFiles(nav: unknown): string[] {
  if (typeof nav === 'string') return [nav];
  if (Array.isArray(nav)) return nav.flatMap(navFiles);
  if (nav && typeof nav === 'object') return Object.values(nav).flatMap(navFiles);
  return [];
}

const read = (f: string) => readFileSync(join(docsDir, f), 'utf8');
const allDocs = markdownFiles().map((f) => [f, read(f)] as const);

/** Text outside fenced code blocks (prose, tables, inline code). */
function prose(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '');
}

describe('mkdocs.yml', () => {
  it('uses the Material theme offline (no Google Fonts, no CDN assets)', () => {
    expect(mkdocs.theme.name).toBe('material');
    expect(mkdocs.theme.font).toBe(false);
    for (const key of ['extra_javascript', 'extra_css']) {
      for (const asset of mkdocs[key] ?? []) expect(String(asset), key).not.toMatch(/^https?:/);
    }
  });

  it('uses only features that exist in Material 8.2.5', () => {
    expect((mkdocs.theme.features ?? []).filter((f: string) => !MATERIAL_825_FEATURES.has(f))).toEqual([]);
  });

  it('uses only markdown extensions and plugins Debian ships', () => {
    const names = (mkdocs.markdown_extensions ?? []).map((e: unknown) => (typeof e === 'string' ? e : Object.keys(e as object)[0]));
    expect(names.filter((n: string) => !AVAILABLE_EXTENSIONS.test(n))).toEqual([]);
    // Material 8 has no plugins of its own beyond search and tags; no PyPI here.
    const plugins = (mkdocs.plugins ?? []).map((p: unknown) => (typeof p === 'string' ? p : Object.keys(p as object)[0]));
    expect(plugins.filter((p: string) => !['search', 'tags'].includes(p))).toEqual([]);
  });

  it('reads docs from docs/ unless the build script stages them elsewhere', () => {
    expect(mkdocs.docs_dir).toBe(process.env.CERTA_DOCS_DIR ?? 'docs');
    expect(mkdocs.site_dir).toBe('site');
    // api.md becomes api.html, so the Redoc page can be api/index.html.
    expect(mkdocs.use_directory_urls).toBe(false);
  });

  it('every nav entry exists and every page is in the nav', () => {
    const nav = navFiles(mkdocs.nav);
    expect(nav.filter((f) => !GENERATED.has(f) && !existsSync(join(docsDir, f)))).toEqual([]);
    expect(markdownFiles().filter((f) => !nav.includes(f))).toEqual([]);
    expect(nav).toContain('api/index.html');
  });

  it('has the pages the project promises', () => {
    const pages = markdownFiles();
    for (const p of ['index.md', 'getting-started.md', 'configuration.md', 'security.md', 'api.md']) expect(pages).toContain(p);
    for (const c of ['authorities', 'profiles', 'certificates', 'revocation', 'verification', 'notifications']) expect(pages).toContain(`concepts/${c}.md`);
    for (const o of ['docker', 'deployment', 'backups', 'kek-rotation', 'scaling', 'monitoring']) expect(pages).toContain(`operations/${o}.md`);
  });
});

describe('docs content', () => {
  it.each(allDocs.map(([f]) => f))('%s: relative links resolve', (file) => {
    const broken: string[] = [];
    for (const m of prose(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split('#')[0];
      if (!target || /^[a-z]+:/.test(target)) continue;
      const path = normalize(join(dirname(file), target)).split('\\').join('/');
      if (GENERATED.has(path)) continue;
      if (!existsSync(join(docsDir, path))) broken.push(m[1]);
    }
    expect(broken).toEqual([]);
  });

  it('getting started gives the two newcomer commands', () => {
    const gs = read('getting-started.md');
    expect(gs).toContain('npm ci && npm start');
    expect(gs).toContain('npm ci && npm test');
  });

  it('configuration.md documents exactly the variables src/config reads', () => {
    const configSrc = readFileSync(join(root, 'src/config/config.ts'), 'utf8');
    const readByService = new Set([...configSrc.matchAll(/'(CERTA_[A-Z0-9_]+)'/g)].map((m) => m[1]));
    const documented = new Set([...read('configuration.md').matchAll(/^\| `(CERTA_[A-Z0-9_]+)`/gm)].map((m) => m[1]));
    const missing = [...readByService].filter((v) => !documented.has(v));
    expect(missing, `document ${missing.join(', ')} in docs/configuration.md`).toEqual([]);
    expect([...documented].filter((v) => !readByService.has(v)), 'documented but not read by the service').toEqual([]);
  });

  it('every CERTA_* variable named anywhere in the docs exists', () => {
    const known = new Set([...readFileSync(join(root, 'src/config/config.ts'), 'utf8').matchAll(/'(CERTA_[A-Z0-9_]+)'/g)].map((m) => m[1]));
    // CERTA_DOCS_DIR belongs to the docs build; CERTA_TEST_* and CERTA_SHARED_* to the tests and CI.
    const other = /^CERTA_(DOCS_DIR|TEST_[A-Z_]+|SHARED_[A-Z_]+|AWS_ROLE_ARN_[A-Z]+)$/;
    const unknown = new Set<string>();
    for (const [, md] of allDocs) for (const m of md.matchAll(/\b(CERTA_[A-Z0-9_]*[A-Z0-9])\b/g)) if (!known.has(m[1]) && !other.test(m[1])) unknown.add(m[1]);
    expect([...unknown]).toEqual([]);
  });

  // Each enum of the spec is spelled out, value by value, where it is explained.
  const enums: [schema: string, page: string][] = [
    ['KeyAlgorithm', 'concepts/authorities.md'],
    ['KeyAlgorithm', 'concepts/profiles.md'],
    ['AuthorityKind', 'concepts/authorities.md'],
    ['AuthorityStatus', 'concepts/authorities.md'],
    ['Usage', 'concepts/profiles.md'],
    ['CertificateStatus', 'concepts/certificates.md'],
    ['RevocationReason', 'concepts/revocation.md'],
    ['TrustSource', 'concepts/verification.md'],
    ['VerifyPurpose', 'concepts/verification.md'],
    ['VerifyMode', 'concepts/verification.md'],
    ['VerifyErrorCode', 'concepts/verification.md'],
    ['ChannelType', 'concepts/notifications.md'],
    ['RuleEvent', 'concepts/notifications.md'],
    ['Permission', 'concepts/access-control.md'],
  ];
  it.each(enums)('%s: every value is in %s', (schema, page) => {
    const values: string[] = schemas[schema]?.enum ?? [];
    expect(values.length, `${schema} enum in the spec`).toBeGreaterThan(0);
    const text = read(page);
    expect(values.filter((v) => !text.includes(`\`${v}\``))).toEqual([]);
  });

  it('the default key algorithm is the one the spec names', () => {
    expect(schemas.KeyAlgorithm.description).toMatch(/`ecdsa-p256` is the default/);
    expect(read('concepts/authorities.md')).toMatch(/`ecdsa-p256`[^\n]*default/i);
  });

  it('every API path the docs mention exists in the spec', () => {
    const specPaths = Object.keys(spec.paths).map((p) => p.split('/'));
    // A spec parameter segment ({certificateId}, {crlFile}) matches any doc segment
    // ({id}, $CA.crl, <authorityId>.pem); a literal must match literally.
    const seg = (specSeg: string, docSeg: string | undefined) => docSeg !== undefined && docSeg !== '' && (specSeg === docSeg || /^\{[^}]+\}$/.test(specSeg));
    const matches = (docPath: string) => {
      const segs = docPath.split('/');
      if (docPath.endsWith('/')) {
        const prefix = segs.slice(0, -1); // "/pki/" -> ["", "pki"]: a prefix of some path
        return specPaths.some((sp) => sp.length > prefix.length && prefix.every((s, i) => s === '' ? sp[i] === '' : seg(sp[i], s)));
      }
      return specPaths.some((sp) => sp.length === segs.length && sp.every((s, i) => (s === '' ? segs[i] === '' : seg(s, segs[i]))));
    };
    const unknown = new Set<string>();
    let seen = 0;
    for (const [file, md] of allDocs) {
      for (const m of md.matchAll(/(\/(?:api\/v1|pki)\/[A-Za-z0-9_\-{}$<>./]*)/g)) {
        const p = m[1].replace(/[.]+$/, '');
        seen++;
        if (!matches(p)) unknown.add(`${file}: ${p}`);
      }
    }
    expect(seen).toBeGreaterThan(20);
    expect([...unknown]).toEqual([]);
  });

  it('the API page points at the rendered reference and names real operations', () => {
    const api = read('api.md');
    expect(api).toContain('](api/index.html)');
    const ids = new Set<string>();
    for (const item of Object.values<any>(spec.paths)) for (const op of Object.values<any>(item)) if (op?.operationId) ids.add(op.operationId);
    const tags = new Set(spec.tags.map((t: any) => t.name));
    const table = api.slice(api.indexOf('## Where things are'));
    const named = [...table.matchAll(/`([a-zA-Z-]+)`/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((n) => !ids.has(n) && !tags.has(n))).toEqual([]);
  });
});

describe('scripts/build-docs.sh', () => {
  const script = join(root, 'scripts/build-docs.sh');
  const src = readFileSync(script, 'utf8');

  it('is executable, valid bash, strict, offline and telemetry-free', () => {
    expect(statSync(script).mode & 0o111).not.toBe(0);
    execFileSync('bash', ['-n', script]);
    expect(src).toMatch(/set -euo pipefail/);
    expect(src).toMatch(/REDOCLY_TELEMETRY=off/);
    expect(src).toMatch(/redocly build-docs generated\/openapi\.json/);
    expect(src).toMatch(/--inlineBundle/);
    expect(src).toMatch(/mkdocs build --strict/);
    expect(src).toMatch(/api\/index\.html/);
  });

  const hasMkdocs = (() => {
    try {
      execFileSync('mkdocs', ['--version'], { stdio: 'ignore' });
      return existsSync(join(root, 'node_modules/.bin/redocly'));
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasMkdocs)('builds the site with the Redoc reference inside, loading nothing from the network', { timeout: 120_000 }, () => {
    const out = mkdtempSync(join(tmpdir(), 'certa-docs-'));
    try {
      execFileSync(script, [out], { cwd: root, stdio: 'pipe', env: { ...process.env, REDOCLY_TELEMETRY: 'off' } });
      for (const page of ['index.html', 'getting-started.html', 'configuration.html', 'api.html', 'concepts/revocation.html', 'operations/deployment.html']) {
        expect(existsSync(join(out, page)), page).toBe(true);
      }
      const redoc = readFileSync(join(out, 'api/index.html'), 'utf8');
      expect(redoc).toContain(spec.info.title);
      expect(redoc.length).toBeGreaterThan(100_000); // the inlined Redoc bundle
      for (const page of ['index.html', 'api/index.html']) {
        const html = readFileSync(join(out, page), 'utf8');
        expect(html, page).not.toMatch(/<script[^>]+src="https?:/);
        expect(html, page).not.toMatch(/<link[^>]+href="https?:\/\/[^"]*(css|font)/);
      }
      expect(relative(root, out).startsWith('..')).toBe(true);
      expect(existsSync(join(root, 'site-src')), 'staging dir cleaned up').toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
