#!/usr/bin/env node
/**
 * `certa`: a command line for every operation of the Certa API, driven by the same
 * OpenAPI document as the typed client (so it never lags behind the server).
 *
 *   certa login --email admin@certa.local            # password from CERTA_PASSWORD or prompted
 *   certa operations                                 # every operationId with its summary
 *   certa help issueCertificate                      # parameters and body of one operation
 *   certa listCertificates --status active --limit 10
 *   certa issueCertificate --profile web --subject '{"commonName":"api.example.internal"}' \
 *                          --sans '{"dns":["api.example.internal"]}'
 *   certa issueCertificate --body @request.json
 *   certa getCrl --crlFile "$CA.crl" --out ca.crl      # binary answers go to a file
 *
 * Server and token: --url / CERTA_URL (default http://localhost:8080), --token /
 * CERTA_TOKEN, else the session saved by `certa login` in ~/.config/certa/session.json.
 * Options that are not parameters become top-level body fields (JSON values are parsed).
 * Exit status: 0 on 2xx, 1 on an HTTP error (the problem+json is printed on stderr),
 * 2 on a usage error.
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline/promises';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: { type?: string | string[]; items?: unknown };
}
interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: unknown }> };
  security?: unknown[];
}
interface Resolved {
  method: string;
  path: string;
  op: Operation;
  parameters: Parameter[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

export function loadSpec(): any {
  const here = dirname(fileURLToPath(import.meta.url));
  return JSON.parse(readFileSync(join(here, 'openapi.json'), 'utf8'));
}

/** Every operation of the spec by operationId, with path-level parameters merged in. */
export function operations(spec: any): Map<string, Resolved> {
  const out = new Map<string, Resolved>();
  for (const [path, item] of Object.entries<any>(spec.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method] as Operation | undefined;
      if (!op?.operationId) continue;
      const params = new Map<string, Parameter>();
      for (const raw of [...(item.parameters ?? []), ...(op.parameters ?? [])]) {
        const p = deref(spec, raw) as Parameter;
        params.set(`${p.in}:${p.name}`, p);
      }
      out.set(op.operationId, { method: method.toUpperCase(), path, op, parameters: [...params.values()] });
    }
  }
  return out;
}

/** `--name value`, `--name=value`, repeated options become arrays; bare words are positionals. */
export function parseArgs(argv: string[]): { positionals: string[]; options: Map<string, string[]> } {
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    let value: string;
    if (eq > 0) value = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i];
    else value = 'true';
    options.set(name, [...(options.get(name) ?? []), value]);
  }
  return { positionals, options };
}

function jsonOrString(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function readValue(v: string): string {
  return v.startsWith('@') ? readFileSync(v.slice(1), 'utf8') : v;
}

const GLOBAL_OPTIONS = new Set(['url', 'token', 'body', 'out', 'content-type', 'raw']);

export interface BuiltRequest {
  url: string;
  init: RequestInit & { headers: Record<string, string> };
}

/** Turn an operation and the command-line options into a fetch request. */
export function buildRequest(r: Resolved, options: Map<string, string[]>, baseUrl: string, token: string | undefined): BuiltRequest {
  let path = r.path;
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  const used = new Set<string>();
  for (const p of r.parameters) {
    const values = options.get(p.name);
    if (!values) {
      if (p.required) throw new UsageError(`--${p.name} is required (${p.in} parameter${p.description ? `: ${p.description}` : ''})`);
      continue;
    }
    used.add(p.name);
    if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(values[values.length - 1]));
    else if (p.in === 'query') for (const v of values) query.append(p.name, v);
    else if (p.in === 'header') headers[p.name] = values[values.length - 1];
  }
  let body: RequestInit['body'];
  const content = r.op.requestBody?.content ?? {};
  const explicit = options.get('body')?.at(-1);
  const rest = [...options].filter(([k]) => !used.has(k) && !GLOBAL_OPTIONS.has(k));
  if (content['application/json']) {
    let obj: Record<string, unknown> | undefined = explicit !== undefined ? (JSON.parse(readValue(explicit)) as Record<string, unknown>) : undefined;
    if (rest.length) {
      obj = { ...(obj ?? {}) };
      for (const [k, vs] of rest) obj[k] = vs.length > 1 ? vs.map((v) => jsonOrString(readValue(v))) : jsonOrString(readValue(vs[0]));
    }
    if (obj !== undefined) {
      body = JSON.stringify(obj);
      headers['content-type'] = 'application/json';
    } else if (r.op.requestBody?.required) {
      throw new UsageError('this operation needs a body: --body <json | @file> or --<field> <value> options');
    }
  } else if (Object.keys(content).length) {
    if (explicit === undefined) throw new UsageError('this operation needs --body @file (binary body)');
    body = explicit.startsWith('@') ? (readFileSync(explicit.slice(1)) as unknown as RequestInit['body']) : explicit;
    headers['content-type'] = options.get('content-type')?.at(-1) ?? Object.keys(content)[0];
  } else if (rest.length) {
    throw new UsageError(`unknown option(s) ${rest.map(([k]) => `--${k}`).join(', ')} for ${r.op.operationId}`);
  }
  if (token) headers.authorization = `Bearer ${token}`;
  const qs = query.toString();
  return { url: `${baseUrl.replace(/\/+$/, '')}${path}${qs ? `?${qs}` : ''}`, init: { method: r.method, headers, body } };
}

export class UsageError extends Error {}

const sessionFile = () => join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'certa', 'session.json');

function savedSession(): { url: string; token: string } | null {
  const f = sessionFile();
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, 'utf8'));
  } catch {
    return null;
  }
}

/** Follow a local `$ref` (the bundled spec keeps schemas under #/components). */
function deref(spec: any, schema: any): any {
  let s = schema;
  for (let i = 0; s && typeof s.$ref === 'string' && s.$ref.startsWith('#/') && i < 10; i++) {
    s = s.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }
  return s;
}

function describe(spec: any, r: Resolved): string {
  const lines = [`${r.op.operationId}: ${r.method} ${r.path}`, r.op.summary ?? ''];
  for (const p of r.parameters) lines.push(`  --${p.name}${p.required ? ' (required)' : ''}  ${p.in}${p.description ? `: ${p.description}` : ''}`);
  const content = r.op.requestBody?.content ?? {};
  if (content['application/json']) {
    const schema = deref(spec, content['application/json'].schema) as { properties?: Record<string, { description?: string }>; required?: string[] } | undefined;
    lines.push(`  body (JSON${r.op.requestBody?.required ? ', required' : ''}): --body <json|@file> or one option per field:`);
    for (const [k, v] of Object.entries(schema?.properties ?? {})) lines.push(`    --${k}${schema?.required?.includes(k) ? ' (required)' : ''}${v.description ? `  ${v.description.split('\n')[0]}` : ''}`);
  } else if (Object.keys(content).length) {
    lines.push(`  body: --body @file (${Object.keys(content).join(', ')})`);
  }
  return lines.filter(Boolean).join('\n');
}

export async function main(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const spec = loadSpec();
  const ops = operations(spec);
  const { positionals, options } = parseArgs(argv);
  const [command, arg] = positionals;
  const session = savedSession();
  const baseUrl = options.get('url')?.at(-1) ?? process.env.CERTA_URL ?? session?.url ?? 'http://localhost:8080';
  const token = options.get('token')?.at(-1) || process.env.CERTA_TOKEN || (session && session.url === baseUrl ? session.token : undefined);
  try {
    if (!command || command === 'help' || command === '--help') {
      if (arg && ops.has(arg)) io.out.write(describe(spec, ops.get(arg)!) + '\n');
      else io.out.write(`usage: certa <operationId> [--param value ...] [--body json|@file] [--out file]\n       certa login --email <email> | certa operations | certa help <operationId>\n`);
      return arg && !ops.has(arg) ? 2 : 0;
    }
    if (command === 'operations') {
      for (const [id, r] of [...ops].sort(([a], [b]) => a.localeCompare(b))) io.out.write(`${id.padEnd(32)} ${r.method.padEnd(6)} ${r.path}  ${r.op.summary ?? ''}\n`);
      return 0;
    }
    if (command === 'login') {
      const email = options.get('email')?.at(-1);
      if (!email) throw new UsageError('--email is required');
      let password = process.env.CERTA_PASSWORD;
      if (!password) {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        password = await rl.question('password: ');
        rl.close();
      }
      const res = await fetch(`${baseUrl.replace(/\/+$/, '')}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
      const body = (await res.json()) as { token?: string; expiresAt?: string };
      if (!res.ok || !body.token) {
        io.err.write(JSON.stringify(body, null, 2) + '\n');
        return 1;
      }
      const f = sessionFile();
      mkdirSync(dirname(f), { recursive: true, mode: 0o700 });
      writeFileSync(f, JSON.stringify({ url: baseUrl, token: body.token }), { mode: 0o600 });
      chmodSync(f, 0o600);
      io.out.write(`logged in to ${baseUrl} until ${body.expiresAt ?? 'the session expires'} (session saved in ${f})\n`);
      return 0;
    }
    const r = ops.get(command);
    if (!r) throw new UsageError(`unknown operation "${command}" (certa operations lists them)`);
    const req = buildRequest(r, options, baseUrl, token);
    const res = await fetch(req.url, req.init);
    const type = res.headers.get('content-type') ?? '';
    const bytes = Buffer.from(await res.arrayBuffer());
    const outFile = options.get('out')?.at(-1);
    if (!res.ok) {
      io.err.write(`${res.status} ${res.statusText}\n${bytes.toString('utf8')}\n`);
      return 1;
    }
    if (outFile) {
      writeFileSync(outFile, bytes);
      io.out.write(`${bytes.length} bytes written to ${outFile}\n`);
    } else if (/json/.test(type)) {
      io.out.write(JSON.stringify(JSON.parse(bytes.toString('utf8') || 'null'), null, 2) + '\n');
    } else if (/^text\/|pem|x-pem-file|pkcs10/.test(type) || !bytes.length) {
      io.out.write(bytes.toString('utf8'));
    } else if (process.stdout.isTTY && io.out === process.stdout) {
      throw new UsageError(`the answer is binary (${type}): use --out <file>`);
    } else {
      io.out.write(bytes);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err.write(`certa: ${e.message}\n`);
      return 2;
    }
    io.err.write(`certa: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
