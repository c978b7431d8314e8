/** The clock is a dependency so tests can pin time. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };
export const iso = (d: Date) => d.toISOString();

/**
 * A client's RFC 3339 time as the stored form (UTC `toISOString()`), or undefined if it is
 * not one: year 0000 passes the date-time format but PostgreSQL refuses it (a 500), and an
 * offset such as `+14:00` compared as text on SQLite gave other rows than on PostgreSQL.
 */
export function storedTime(value: string): string | undefined {
  const d = new Date(value);
  const year = d.getUTCFullYear();
  return Number.isNaN(d.getTime()) || year < 1 || year > 9999 ? undefined : d.toISOString();
}
