/**
 * Just enough HCL reading for static checks of infra/ (no OpenTofu binary or provider
 * download needed): comments and string literals are masked out so that braces and
 * references can be found reliably, while `${...}` interpolations stay visible.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Block {
  type: string;
  labels: string[];
  /** Source text between the braces. */
  body: string;
  /** The same text with comments and string literals blanked (interpolations kept). */
  masked: string;
  file: string;
  line: number;
}

/**
 * Replaces comments and the literal parts of strings and heredocs with spaces, keeping
 * newlines and length (so offsets in the masked text are offsets in the source).
 */
export function mask(src: string): string {
  const out = src.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Stack of contexts: code, string, or an interpolation inside a string (with its brace depth).
  const stack: { mode: 'code' | 'string' | 'interp'; depth: number }[] = [{ mode: 'code', depth: 0 }];
  let i = 0;
  while (i < src.length) {
    const top = stack[stack.length - 1];
    const c = src[i];
    if (top.mode === 'string') {
      if (c === '\\') {
        blank(i, i + 2);
        i += 2;
      } else if ((c === '$' || c === '%') && src[i + 1] === '{') {
        blank(i, i + 2);
        stack.push({ mode: 'interp', depth: 0 });
        i += 2;
      } else if (c === '"') {
        stack.pop();
        i++;
      } else {
        blank(i, i + 1);
        i++;
      }
      continue;
    }
    // code or interpolation
    if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      const end = src.indexOf('\n', i);
      const stop = end === -1 ? src.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end === -1 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"') {
      stack.push({ mode: 'string', depth: 0 });
      i++;
    } else if (c === '<' && src.startsWith('<<', i) && /^<<-?([A-Za-z_][A-Za-z0-9_]*)\n/.test(src.slice(i, i + 80))) {
      const m = /^<<-?([A-Za-z_][A-Za-z0-9_]*)\n/.exec(src.slice(i, i + 80))!;
      const bodyStart = i + m[0].length;
      const close = new RegExp(`^[ \\t]*${m[1]}[ \\t]*$`, 'm');
      const rest = src.slice(bodyStart);
      const found = close.exec(rest);
      const stop = found ? bodyStart + found.index : src.length;
      blank(bodyStart, stop);
      i = found ? stop + found[0].length : src.length;
    } else if (top.mode === 'interp' && c === '{') {
      top.depth++;
      i++;
    } else if (top.mode === 'interp' && c === '}') {
      if (top.depth === 0) {
        blank(i, i + 1);
        stack.pop();
      } else top.depth--;
      i++;
    } else {
      i++;
    }
  }
  return out.join('');
}

/** Index of the brace closing the one at `open` in masked text. */
function matchBrace(masked: string, open: number): number {
  let depth = 0;
  for (let k = open; k < masked.length; k++) {
    if (masked[k] === '{') depth++;
    else if (masked[k] === '}') {
      depth--;
      if (depth === 0) return k;
    }
  }
  throw new Error(`unbalanced brace at offset ${open}`);
}

/** The blocks directly inside `src` (a file, or the body of another block). */
export function blocks(src: string, file = '<inline>', masked = mask(src)): Block[] {
  const out: Block[] = [];
  // Labels are quoted (masked to blanks between quotes, so the pattern still matches).
  const header = /^[ \t]*([a-z_][a-z0-9_]*)((?:[ \t]+"[^"\n]*")*)[ \t]*\{/i;
  let depth = 0;
  let pos = 0;
  while (pos < masked.length) {
    const nl = masked.indexOf('\n', pos);
    const end = nl === -1 ? masked.length : nl;
    const line = masked.slice(pos, end);
    const m = depth === 0 ? header.exec(line) : null;
    if (m) {
      const open = pos + m[0].length - 1;
      const close = matchBrace(masked, open);
      out.push({
        type: m[1],
        labels: [...src.slice(pos, open).matchAll(/"([^"]*)"/g)].map((x) => x[1]),
        body: src.slice(open + 1, close),
        masked: masked.slice(open + 1, close),
        file,
        line: src.slice(0, pos).split('\n').length,
      });
      const after = masked.indexOf('\n', close);
      pos = after === -1 ? masked.length : after + 1;
      continue;
    }
    for (const ch of line) {
      if (ch === '{' || ch === '[' || ch === '(') depth++;
      else if (ch === '}' || ch === ']' || ch === ')') depth--;
    }
    pos = end + 1;
  }
  return out;
}

/** Top-level `name = expression` attributes of a block body (expression as source text). */
export function attributes(block: Pick<Block, 'body' | 'masked'>): Map<string, string> {
  const out = new Map<string, string>();
  const { body, masked } = block;
  const attr = /^[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=(?!=)/;
  let depth = 0;
  let pos = 0;
  while (pos < masked.length) {
    const nl = masked.indexOf('\n', pos);
    const end = nl === -1 ? masked.length : nl;
    const line = masked.slice(pos, end);
    const m = depth === 0 ? attr.exec(line) : null;
    if (m) {
      // The expression runs until its brackets are closed at a line end.
      let d = 0;
      let e = pos + m[0].length;
      for (; e < masked.length; e++) {
        const c = masked[e];
        if (c === '{' || c === '[' || c === '(') d++;
        else if (c === '}' || c === ']' || c === ')') d--;
        else if (c === '\n' && d <= 0) break;
      }
      out.set(m[1], body.slice(pos + m[0].length, e).trim());
      pos = e + 1;
      continue;
    }
    for (const c of line) {
      if (c === '{' || c === '[' || c === '(') depth++;
      else if (c === '}' || c === ']' || c === ')') depth--;
    }
    pos = end + 1;
  }
  return out;
}

export interface HclDir {
  dir: string;
  files: Map<string, string>;
  blocks: Block[];
  /** All masked source of the directory, for reference scanning. */
  masked: string;
}

/** Reads every *.tf file of a directory (not recursive). */
export function readDir(dir: string): HclDir {
  const files = new Map<string, string>();
  const all: Block[] = [];
  let maskedAll = '';
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.tf')).sort()) {
    const src = readFileSync(join(dir, name), 'utf8');
    files.set(name, src);
    const masked = mask(src);
    maskedAll += masked + '\n';
    all.push(...blocks(src, join(dir, name), masked));
  }
  return { dir, files, blocks: all, masked: maskedAll };
}

/** Distinct captures of `re` (global, one group) in text. */
export function refs(text: string, re: RegExp): Set<string> {
  return new Set([...text.matchAll(re)].map((m) => m[1]));
}
