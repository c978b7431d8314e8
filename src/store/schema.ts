/**
 * Table types: the one place that says what the database holds. Timestamps are ISO 8601
 * UTC strings on both dialects (TEXT on SQLite, timestamptz on PostgreSQL normalised by
 * the pool's type parser), booleans are booleans (the SQLite plugin stores 0/1), binary
 * is Buffer (BLOB / bytea).
 */
import type { Generated } from 'kysely';


export type Bool = boolean;

export interface UsersTable {
  id: string;
  email: string;
  display_name: string;
  password_hash: string;
  disabled: Bool;
  created_at: string;
  updated_at: string;
}

export interface RolesTable {
  id: string;
  name: string;
  description: string;
  /** JSON array of permission names. */
  permissions: string;
  builtin: Bool;
  created_at: string;
  updated_at: string;
}

export interface UserRolesTable {
  user_id: string;
  role_id: string;
}

export interface TokensTable {
  id: string;
  kind: 'session' | 'api';
  user_id: string;
  name: string;
  /** SHA-256 (hex) of the secret; the secret itself is never stored. */
  token_hash: string;
  prefix: string;
  /** JSON array; null for sessions (they carry the user's permissions). */
  permissions: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface AuditEventsTable {
  id: string;
  at: string;
  actor_user_id: string | null;
  actor_email: string | null;
  actor_token_id: string | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure' | 'denied';
  status: number;
  request_id: string;
  ip: string | null;
  detail: string | null;
}

export interface SecretsTable {
  /** A named, envelope-encrypted secret (e.g. the signing key of an authority). */
  id: string;
  purpose: string;
  kek_id: string;
  sealed: Buffer;
  created_at: string;
  updated_at: string;
}

export interface Database {
  users: UsersTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  tokens: TokensTable;
  audit_events: AuditEventsTable;
  secrets: SecretsTable;
}

export type { Generated };
