/**
 * Table types: the one place that says what the database holds. Timestamps are ISO 8601
 * UTC strings on both dialects (TEXT on SQLite, timestamptz on PostgreSQL normalised by
 * the pool's type parser), booleans are booleans (the SQLite driver binds them as 0/1), binary
 * is Buffer (BLOB / bytea).
 */
import type { ColumnType, Generated } from 'kysely';


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

export interface AuthoritiesTable {
  id: string;
  name: string;
  description: string | null;
  kind: 'root' | 'intermediate' | 'import' | 'external';
  status: 'pending' | 'active' | 'disabled' | 'revoked';
  parent_id: string | null;
  /** JSON of the subject fields. */
  subject: string;
  subject_dn: string;
  key_algorithm: string | null;
  /** secrets.id of the envelope-encrypted private key; null for trust anchors. */
  key_secret_id: string | null;
  certificate_der: Buffer | null;
  chain_pem: string | null;
  csr_pem: string | null;
  serial: string | null;
  not_before: string | null;
  not_after: string | null;
  ski: string | null;
  fingerprint_sha256: string | null;
  path_length: number | null;
  /** JSON NameConstraints or null. */
  name_constraints: string | null;
  created_at: string;
  updated_at: string;
  revoked_at: string | null;
  revocation_reason: string | null;
}

export interface ProfilesTable {
  id: string;
  name: string;
  authority_id: string;
  /** JSON of the whole policy (see Profile in the spec). */
  policy: string;
  created_at: string;
  updated_at: string;
}

export interface CertificatesTable {
  id: string;
  /** Null for external (imported) certificates: Certa did not issue them. */
  authority_id: string | null;
  profile_id: string | null;
  /** Lower-case hex, no leading zeros beyond what DER needs. */
  serial: string;
  common_name: string;
  /** JSON of the subject fields. */
  subject: string;
  /** JSON {dns, ip, email, uri}. */
  sans: string;
  /** Lower-case CN and SANs, space-separated, for `q` searches. */
  search_text: string;
  not_before: string;
  not_after: string;
  fingerprint_sha256: string;
  key_algorithm: string;
  usage: string | null;
  der: Buffer;
  server_key: boolean;
  owner: string | null;
  notes: string | null;
  issued_by: string | null;
  predecessor_id: string | null;
  successor_id: string | null;
  revoked_at: string | null;
  revocation_reason: string | null;
  invalidity_date: string | null;
  /** When a certificateHold was lifted (delta CRLs announce removeFromCRL). */
  hold_released_at: string | null;
  archived_at: string | null;
  created_at: string;
  updated_at: string;
  /** 'issued' by Certa or 'external' (imported; never revoked, renewed or in CRLs/OCSP). */
  source: ColumnType<CertificateSource, CertificateSource | undefined, never>;
  /** Issuer DN of external certificates (Certa-issued ones name their authority). */
  issuer_dn: ColumnType<string | null, string | null | undefined, string | null>;
  /** PEM of the chain an external certificate was imported with (issuers only). */
  chain_pem: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON verification outcome at import (external certificates). */
  verification: ColumnType<string | null, string | null | undefined, string | null>;
}

export type CertificateSource = 'issued' | 'external';

export interface CertificateLabelsTable {
  certificate_id: string;
  key: string;
  value: string;
}

export interface CrlsTable {
  authority_id: string;
  /** bigint: a string when read from PostgreSQL, a number from SQLite; always Number()/BigInt() it. */
  crl_number: string | number;
  /** Set on delta CRLs: the full CRL number they apply to. */
  delta_base: string | number | null;
  this_update: string;
  next_update: string;
  entries: number;
  der: Buffer;
  created_at: string;
}

export interface CrlStateTable {
  authority_id: string;
  /** Set by a revocation; the CRL job regenerates soon after and clears it. */
  dirty_since: string | null;
  last_full_number: string | number | null;
  last_full_at: string | null;
  next_update: string | null;
  /** The last CRL number handed out (full and delta share it); null before the first. */
  last_crl_number: ColumnType<string | number | null, string | null | undefined, string | null>;
}

export interface OcspRespondersTable {
  id: string;
  authority_id: string;
  certificate_der: Buffer;
  key_secret_id: string;
  not_before: string;
  not_after: string;
  created_at: string;
}

export interface NotificationChannelsTable {
  id: string;
  name: string;
  type: 'discord' | 'slack' | 'teams' | 'webhook' | 'email';
  /** secrets.id of the envelope-encrypted config (URLs, signing secret, SMTP password). */
  secret_id: string;
  /** JSON of the config with secrets redacted: what the API shows. */
  config_redacted: string;
  enabled: Bool;
  created_at: string;
  updated_at: string;
  /** Set when a receiver asked to wait (429 + Retry-After): no claim of its deliveries before. */
  paused_until: string | null;
}

export interface NotificationRulesTable {
  id: string;
  name: string;
  /** JSON array of days, descending. */
  thresholds: string;
  include_expired: Bool;
  /** JSON array of 'issued' | 'revoked' | 'renewed'. */
  events: string;
  /** JSON {authorityId?, profileId?, labels?, owner?}. */
  selector: string;
  enabled: Bool;
  created_at: string;
  updated_at: string;
}

export interface NotificationRuleChannelsTable {
  rule_id: string;
  channel_id: string;
  position: number;
}

export interface NotificationMarksTable {
  certificate_id: string;
  /** Threshold in days; -1 for "expired". Unique with certificate_id and channel_id. */
  threshold: number;
  channel_id: string;
  rule_id: string;
  not_after: string;
  created_at: string;
}

export interface NotificationDeliveriesTable {
  id: string;
  channel_id: string;
  rule_id: string | null;
  kind: 'expiring' | 'expired' | 'issued' | 'revoked' | 'renewed' | 'test';
  threshold_days: number | null;
  occurred_at: string;
  /** JSON of event facts (revocation reason, previous certificate id). */
  detail: string | null;
  dedupe_key: string | null;
  status: 'pending' | 'sending' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  locked_until: string | null;
  claim_token: string | null;
  /** JSON array of platform messages, fixed at the first attempt. */
  messages: string | null;
  messages_sent: number;
  last_error: string | null;
  last_status: number | null;
  sent_at: string | null;
  created_at: string;
  updated_at: string;
}

/** The transactional outbox: written in the transaction of the change it announces. */
export interface NotificationEventsTable {
  id: string;
  type: 'issued' | 'revoked' | 'renewed';
  certificate_id: string;
  /** JSON of the event's facts at the change (revocation reason, previous certificate id). */
  detail: string | null;
  created_at: string;
  /** Set in the transaction that wrote the event's deliveries; null while pending. */
  processed_at: string | null;
}

export interface NotificationDeliveryCertificatesTable {
  delivery_id: string;
  certificate_id: string;
  position: number;
}

export interface Database {
  users: UsersTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  tokens: TokensTable;
  audit_events: AuditEventsTable;
  secrets: SecretsTable;
  authorities: AuthoritiesTable;
  profiles: ProfilesTable;
  certificates: CertificatesTable;
  certificate_labels: CertificateLabelsTable;
  crls: CrlsTable;
  crl_state: CrlStateTable;
  ocsp_responders: OcspRespondersTable;
  notification_channels: NotificationChannelsTable;
  notification_rules: NotificationRulesTable;
  notification_rule_channels: NotificationRuleChannelsTable;
  notification_marks: NotificationMarksTable;
  notification_deliveries: NotificationDeliveriesTable;
  notification_delivery_certificates: NotificationDeliveryCertificatesTable;
  notification_events: NotificationEventsTable;
}

export type { Generated };
