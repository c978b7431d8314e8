/**
 * Text no column can hold as given: U+0000 (PostgreSQL text refuses it) and unpaired
 * UTF-16 surrogates (not encodable as UTF-8: both engines silently store U+FFFD instead).
 */
// eslint-disable-next-line no-control-regex -- matching NUL is the point
export const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `s` cannot be stored, or null. */
export function unstorableReason(s: string): string | null {
  const m = UNSTORABLE_TEXT.exec(s);
  if (!m) return null;
  return m[0] === '\u0000' ? 'contains a NUL character (U+0000)' : 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
}
