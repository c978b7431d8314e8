/**
 * Notification rules: which certificates (selector), when (thresholds in days before
 * notAfter, "expired"), on which events, to which channels.
 */
import type { Services } from '../context.js';
import { conflict, DomainError, notFound, type FieldError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { isUniqueViolation } from '../store/db.js';
import type { Page } from '../store/pagination.js';
import * as repo from '../store/notifications.repository.js';
import type { RuleRow, RuleSelector } from '../store/notifications.repository.js';
import { findAuthority } from '../store/authorities.repository.js';
import { findProfile } from '../store/profiles.repository.js';
import type { Schemas } from '../spec.js';
import { toRule } from './notify.mappers.js';

type Rule = Schemas['Rule'];

export const DEFAULT_THRESHOLDS_DAYS = [30, 14, 7, 1];

/** Channel ids or names -> ids, in the given order; every one must exist. */
async function resolveChannels(svc: Services, refs: string[]): Promise<string[]> {
  const found = await repo.findChannelsByRefs(svc.db, refs);
  const errors: FieldError[] = [];
  const ids = refs.map((ref, i) => {
    const c = found.find((f) => f.id === ref) ?? found.find((f) => f.name === ref);
    if (!c) errors.push({ field: `/body/channelIds/${i}`, message: `no notification channel "${ref}"` });
    return c?.id ?? '';
  });
  if (errors.length) throw new DomainError('validation_failed', 'unknown notification channel', errors);
  return [...new Set(ids)];
}

/** Authority and profile by id or name -> ids; labels and owner kept as given. */
async function resolveSelector(svc: Services, s: Schemas['RuleSelector'] | undefined): Promise<RuleSelector> {
  const out: RuleSelector = {};
  if (!s) return out;
  const errors: FieldError[] = [];
  if (s.authorityId) {
    const a = await findAuthority(svc.db, s.authorityId);
    if (a) out.authorityId = a.id;
    else errors.push({ field: '/body/selector/authorityId', message: `no authority "${s.authorityId}"` });
  }
  if (s.profileId) {
    const p = await findProfile(svc.db, s.profileId);
    if (p) out.profileId = p.id;
    else errors.push({ field: '/body/selector/profileId', message: `no profile "${s.profileId}"` });
  }
  if (s.labels && Object.keys(s.labels).length) out.labels = { ...s.labels };
  if (s.owner) out.owner = s.owner;
  if (errors.length) throw new DomainError('validation_failed', 'invalid rule selector', errors);
  return out;
}

const normaliseThresholds = (t: number[]) => [...new Set(t)].sort((a, b) => b - a);

async function findOr404(svc: Services, idOrName: string): Promise<RuleRow> {
  const r = await repo.findRule(svc.db, idOrName);
  if (!r) throw notFound('notification rule');
  return r;
}

export async function listRules(svc: Services, q: { limit: number; cursor?: string }): Promise<Page<Rule>> {
  const page = await repo.listRules(svc.db, q);
  return { items: page.items.map(toRule), nextCursor: page.nextCursor };
}

export async function getRule(svc: Services, idOrName: string): Promise<Rule> {
  return toRule(await findOr404(svc, idOrName));
}

export async function createRule(svc: Services, input: Schemas['RuleCreate']): Promise<Rule> {
  const now = svc.clock.now().toISOString();
  const row: RuleRow = {
    id: newId(),
    name: input.name,
    thresholds: normaliseThresholds(input.thresholdsDays ?? DEFAULT_THRESHOLDS_DAYS),
    includeExpired: input.includeExpired ?? true,
    events: [...new Set(input.events ?? [])],
    selector: await resolveSelector(svc, input.selector),
    enabled: input.enabled ?? true,
    channelIds: await resolveChannels(svc, input.channelIds),
    createdAt: now,
    updatedAt: now,
  };
  try {
    await svc.db.transaction().execute((trx) => repo.insertRule(trx, row));
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a notification rule named "${input.name}" already exists`);
    throw e;
  }
  return getRule(svc, row.id);
}

export async function updateRule(svc: Services, idOrName: string, patch: Schemas['RuleUpdate']): Promise<Rule> {
  const r = await findOr404(svc, idOrName);
  const changes = {
    name: patch.name,
    thresholds: patch.thresholdsDays && normaliseThresholds(patch.thresholdsDays),
    includeExpired: patch.includeExpired,
    events: patch.events && [...new Set(patch.events)],
    selector: patch.selector && (await resolveSelector(svc, patch.selector)),
    enabled: patch.enabled,
    channelIds: patch.channelIds && (await resolveChannels(svc, patch.channelIds)),
    updatedAt: svc.clock.now().toISOString(),
  };
  try {
    await svc.db.transaction().execute((trx) => repo.updateRule(trx, r.id, changes));
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a notification rule named "${patch.name}" already exists`);
    throw e;
  }
  return getRule(svc, r.id);
}

export async function deleteRule(svc: Services, idOrName: string): Promise<void> {
  const r = await findOr404(svc, idOrName);
  await svc.db.transaction().execute((trx) => repo.deleteRule(trx, r.id));
}

/** Whether a certificate matches a rule's selector (event notifications; the sweep does this in SQL). */
export function matchesSelector(s: RuleSelector, c: { authorityId: string | null; profileId: string | null; owner: string | null; labels: Record<string, string> }): boolean {
  if (s.authorityId && s.authorityId !== c.authorityId) return false;
  if (s.profileId && s.profileId !== c.profileId) return false;
  if (s.owner && s.owner !== c.owner) return false;
  return Object.entries(s.labels ?? {}).every(([k, v]) => c.labels[k] === v);
}
