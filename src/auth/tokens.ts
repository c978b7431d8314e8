/**
 * Opaque bearer tokens: `certa_<kind>_<43 chars base64url of 32 random bytes>`. Only the
 * SHA-256 of a token is stored; with 256 bits of entropy a fast hash is the right tool
 * (a slow KDF protects low-entropy passwords, not random secrets) and it keeps the
 * per-request lookup to one indexed equality match.
 */
import { createHash, randomBytes } from 'node:crypto';

export type TokenKind = 'session' | 'api';

export function newToken(kind: TokenKind): { token: string; hash: string; prefix: string } {
  const token = `certa_${kind === 'session' ? 's' : 'a'}_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashToken(token), prefix: token.slice(0, 14) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
