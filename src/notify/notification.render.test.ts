import { describe, expect, it } from 'vitest';
import { cert, mixedDigest, OCCURRED_AT } from './testing/fixtures.js';
import { daysLeft, digestSummary, expiryStatus, listWithMore, safeHttpUrl, truncate, urgencyForExpiry } from './notification.render.js';

describe('expiry presentation', () => {
  it.each([
    { name: 'in 45 days', notAfter: '2025-07-16T00:00:00Z', days: 45, status: 'expires in 45 days', urgency: 'notice' },
    { name: 'in 30 days', notAfter: '2025-07-01T00:00:00Z', days: 30, status: 'expires in 30 days', urgency: 'warning' },
    { name: 'in 8 days', notAfter: '2025-06-09T00:00:00Z', days: 8, status: 'expires in 8 days', urgency: 'warning' },
    { name: 'in 7 days', notAfter: '2025-06-08T00:00:00Z', days: 7, status: 'expires in 7 days', urgency: 'critical' },
    { name: 'in 1 day', notAfter: '2025-06-02T00:00:00Z', days: 1, status: 'expires in 1 day', urgency: 'critical' },
    { name: 'in a few hours', notAfter: '2025-06-01T05:00:00Z', days: 0, status: 'expires in less than a day', urgency: 'critical' },
    { name: 'right now', notAfter: OCCURRED_AT, days: 0, status: 'expired today', urgency: 'expired' },
    { name: 'hours ago', notAfter: '2025-05-31T20:00:00Z', days: -1, status: 'expired today', urgency: 'expired' },
    { name: '3 days ago', notAfter: '2025-05-29T00:00:00Z', days: -3, status: 'expired 3 days ago', urgency: 'expired' },
  ])('$name', ({ notAfter, days, status, urgency }) => {
    expect(daysLeft(notAfter, OCCURRED_AT)).toBe(days);
    expect(expiryStatus(notAfter, OCCURRED_AT)).toBe(status);
    expect(urgencyForExpiry(notAfter, OCCURRED_AT)).toBe(urgency);
  });
});

describe('text helpers', () => {
  it.each([
    { name: 'truncate/short kept', got: truncate('abc', 5), want: 'abc' },
    { name: 'truncate/ellipsis', got: truncate('abcdef', 4), want: 'abc…' },
    { name: 'truncate/no split surrogate', got: truncate('ab😀cd', 4), want: 'ab…' },
    { name: 'listWithMore/counted', got: listWithMore(['a', 'b', 'c', 'd'], 2), want: 'a, b (+2 more)' },
    { name: 'safeHttpUrl/javascript dropped', got: String(safeHttpUrl('javascript:alert(1)')), want: 'undefined' },
    { name: 'safeHttpUrl/https kept', got: String(safeHttpUrl('https://x.example/a b')), want: 'https://x.example/a%20b' },
    { name: 'digestSummary/mixed', got: digestSummary(mixedDigest()), want: '7 certificates: 3 expiring, 1 expired, 1 revoked, 1 issued, 1 renewed, test' },
    {
      name: 'digestSummary/single event',
      got: digestSummary({ events: [{ type: 'expired', occurredAt: OCCURRED_AT, certificates: [cert(1)] }] }),
      want: '1 certificate expired',
    },
  ])('$name', ({ got, want }) => expect(got).toBe(want));
});
