import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CHECK_OF_ERROR, VERIFY_ERROR_CODES, VERIFY_WARNING_CODES } from './types.js';

// The issue codes the engine emits, read from its source: `err('code'`, `warn('code'`,
// `code: 'code'` and `cond ? 'code' : 'code'` inside err(...).
const DIR = fileURLToPath(new URL('.', import.meta.url));
const SOURCES = readdirSync(DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.includes('fixture') && f !== 'types.ts');
const source = SOURCES.map((f) => readFileSync(`${DIR}/${f}`, 'utf8')).join('\n');
const emitted = (re: RegExp) => new Set([...source.matchAll(re)].flatMap((m) => m.slice(1).filter(Boolean)));
const errors = emitted(/\berr\((?:[^'()]*\? '(\w+)' : '(\w+)'|'(\w+)')/g);
const warnings = emitted(/\bwarn\('(\w+)'/g);
const pushed = emitted(/\bcode: '(\w+)'/g);

const spec = parse(readFileSync(fileURLToPath(new URL('../../../openapi/schemas/verification.yaml', import.meta.url)), 'utf8'));

describe('verification issue codes: engine, type lists and spec enums agree', () => {
  it('ok/the source scan finds codes (the patterns still fit the code)', () => {
    expect(SOURCES).toContain('rules.ts');
    expect(errors.size).toBeGreaterThan(10);
    expect(warnings.size).toBeGreaterThan(3);
  });

  it('ok/every code the engine emits is in VERIFY_ERROR_CODES or VERIFY_WARNING_CODES', () => {
    for (const c of errors) expect(VERIFY_ERROR_CODES, `err('${c}')`).toContain(c);
    for (const c of warnings) expect(VERIFY_WARNING_CODES, `warn('${c}')`).toContain(c);
    const all: readonly string[] = [...VERIFY_ERROR_CODES, ...VERIFY_WARNING_CODES];
    for (const c of pushed) expect(all, `code: '${c}'`).toContain(c);
  });

  it('ok/every listed code is emitted somewhere (no dead codes in the public enums)', () => {
    for (const c of VERIFY_ERROR_CODES) expect(errors.has(c) || pushed.has(c), c).toBe(true);
    for (const c of VERIFY_WARNING_CODES) expect(warnings.has(c) || pushed.has(c), c).toBe(true);
  });

  it('ok/the spec enums list exactly the type lists, in the same order (append-only)', () => {
    expect(spec.VerifyErrorCode.enum).toEqual([...VERIFY_ERROR_CODES]);
    expect(spec.VerifyWarningCode.enum).toEqual([...VERIFY_WARNING_CODES]);
  });

  it('ok/the report schema types its errors and warnings by those enums', () => {
    expect(spec.VerifyReport.properties.errors.items.$ref).toBe('#/VerifyError');
    expect(spec.VerifyError.properties.code.$ref).toBe('#/VerifyErrorCode');
    expect(spec.VerifyReport.properties.warnings.items.$ref).toBe('#/VerifyWarning');
    expect(spec.VerifyWarning.properties.code.$ref).toBe('#/VerifyWarningCode');
  });

  it('ok/every error code belongs to a check', () => {
    for (const c of VERIFY_ERROR_CODES) expect(CHECK_OF_ERROR[c], c).toBeDefined();
  });
});
