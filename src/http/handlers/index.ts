/**
 * Every operation's handler, keyed by operationId. Adding an operation to the spec means
 * adding a function of the same name to one of these modules (a test checks it).
 */
import type { HandlerMap } from '../handler.js';
import { systemHandlers } from './system.handlers.js';
import { rightsHandlers } from './rights.handlers.js';
import { pkiHandlers } from './pki.handlers.js';
import { notificationsHandlers } from './notifications.handlers.js';
import { verificationHandlers } from './verification.handlers.js';
import { revocationHandlers } from './revocation.handlers.js';

export function allHandlers(deps: { renderMetrics: () => Promise<string> }): HandlerMap {
  return { ...systemHandlers(deps), ...rightsHandlers, ...pkiHandlers, ...notificationsHandlers, ...revocationHandlers, ...verificationHandlers };
}
