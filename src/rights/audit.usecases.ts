import type { Services } from '../context.js';
import * as audit from '../store/audit.repository.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { toAuditEvent } from './mappers.js';
import { newId } from '../lib/ids.js';

export async function listAuditEvents(svc: Services, q: audit.AuditQuery): Promise<Page<Schemas['AuditEvent']>> {
  const page = await audit.listAuditEvents(svc.db, q);
  return { items: page.items.map(toAuditEvent), nextCursor: page.nextCursor };
}

export interface AuditRecord {
  actor: { userId: string | null; email: string | null; tokenId: string | null } | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure' | 'denied';
  status: number;
  requestId: string;
  ip: string | null;
  detail?: string | null;
}

export async function recordAuditEvent(svc: Services, r: AuditRecord): Promise<void> {
  await audit.insertAuditEvent(svc.db, {
    id: newId(),
    at: svc.clock.now().toISOString(),
    actor_user_id: r.actor?.userId ?? null,
    actor_email: r.actor?.email ?? null,
    actor_token_id: r.actor?.tokenId ?? null,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    status: r.status,
    request_id: r.requestId,
    ip: r.ip,
    detail: r.detail ?? null,
  });
}
