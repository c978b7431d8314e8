/** Structured JSON logs. Secrets are redacted by path wherever they might appear. */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/config.js';

export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  'token',
  '*.token',
  '*.privateKeyPem',
  '*.passphrase',
  '*.secret',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.config.url',
  '*.config.password',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'certa' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * For a condition that recurs on every request while it lasts (a database outage): `log`
 * runs at most once per `everyMs`, and is told how many occurrences were left out since.
 */
export function throttled(everyMs: number): (log: (suppressed: number) => void) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (log) => {
    const now = performance.now();
    if (now - last < everyMs) {
      suppressed++;
      return;
    }
    last = now;
    log(suppressed);
    suppressed = 0;
  };
}
