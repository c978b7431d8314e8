/**
 * The ordered list of migrations. Static imports (not a directory scan) so the same list
 * works under tsx, in the compiled dist/ and in tests. Names are timestamps: append only.
 */
import type { Migration } from 'kysely';
import * as foundation from './2026-11-28T00-00-foundation.js';
import * as pki from './2026-11-28T01-00-pki.js';
import * as revocation from './2026-11-28T02-00-revocation.js';
import * as notifications from './2026-11-28T03-00-notifications.js';
import * as inventoryIndexes from './2026-11-29T00-00-inventory-indexes.js';
import * as crlIndex from './2026-11-29T01-00-crl-index.js';
import * as notificationEvents from './2026-12-04T00-00-notification-events.js';
import * as crlCounter from './2026-12-04T18-40-crl-counter.js';
import * as externalCertificates from './2026-12-04T19-00-external-certificates.js';

export const migrations: Record<string, Migration> = {
  '2026-11-28T00-00-foundation': foundation,
  '2026-11-28T01-00-pki': pki,
  '2026-11-28T02-00-revocation': revocation,
  '2026-11-28T03-00-notifications': notifications,
  '2026-11-29T00-00-inventory-indexes': inventoryIndexes,
  '2026-11-29T01-00-crl-index': crlIndex,
  '2026-12-04T00-00-notification-events': notificationEvents,
  '2026-12-04T18-40-crl-counter': crlCounter,
  '2026-12-04T19-00-external-certificates': externalCertificates,
};
