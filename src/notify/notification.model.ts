/**
 * The neutral message model for notifications. Channels (Discord, Slack, Teams, generic
 * webhook, email) only ever see these types; how they look on each platform is decided
 * by the formatters in `channels/`.
 *
 * Every instant is an ISO-8601 string so a digest can be stored as JSON (outbox) and
 * rendered later to exactly the same text.
 */

/** One certificate as notifications show it. */
export interface CertificateRef {
  /** Inventory id of the certificate. */
  id: string;
  commonName: string;
  /** Subject alternative names, as display strings (`DNS:a.example`, `IP:10.0.0.1` or bare values). */
  sans: string[];
  /** Serial number in hex, as the API shows it. */
  serialNumber: string;
  /** End of validity (ISO-8601 instant). */
  notAfter: string;
  /** Name of the issuing authority. */
  authorityName: string;
  profileName?: string;
  /** Team or person responsible for the certificate. */
  owner?: string;
  labels?: Record<string, string>;
  /** Link to the certificate in the API/docs; only http(s) links are ever rendered. */
  url?: string;
}

/** The certificate a renewal replaced. */
export interface PreviousCertificate {
  id: string;
  serialNumber: string;
  notAfter: string;
}

export interface RenewedCertificateRef extends CertificateRef {
  previous: PreviousCertificate;
}

interface EventBase {
  /**
   * When the event happened (for expiry events: the sweep time). "Days left" is computed
   * against this instant, never against the send time, so a retried message is identical.
   */
  occurredAt: string;
}

/** Certificates that crossed an expiry threshold (e.g. 30, 14, 7, 1 days). */
export interface ExpiringEvent extends EventBase {
  type: 'expiring';
  /** The threshold that was crossed, in days. Days left are per certificate (see `daysLeft`). */
  thresholdDays: number;
  certificates: CertificateRef[];
}

export interface ExpiredEvent extends EventBase {
  type: 'expired';
  certificates: CertificateRef[];
}

export interface IssuedEvent extends EventBase {
  type: 'issued';
  certificates: CertificateRef[];
}

export interface RevokedEvent extends EventBase {
  type: 'revoked';
  /** RFC 5280 reason name, e.g. `keyCompromise`, `superseded`, `unspecified`. */
  reason: string;
  certificates: CertificateRef[];
}

/** Renewals: each certificate is the new one and names the one it replaced. */
export interface RenewedEvent extends EventBase {
  type: 'renewed';
  certificates: RenewedCertificateRef[];
}

/** Sent when an operator tests a channel; may carry no certificate at all. */
export interface TestEvent extends EventBase {
  type: 'test';
  message?: string;
  certificates: CertificateRef[];
}

export type NotificationEvent = ExpiringEvent | ExpiredEvent | IssuedEvent | RevokedEvent | RenewedEvent | TestEvent;
export type NotificationEventType = NotificationEvent['type'];

/** Many events going to one channel, formatted together (and split only where a platform limit forces it). */
export interface Digest {
  events: NotificationEvent[];
}
