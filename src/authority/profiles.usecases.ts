import type { Services } from '../context.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { newId } from '../lib/ids.js';
import { isUniqueViolation } from '../store/db.js';
import * as profiles from '../store/profiles.repository.js';
import * as authorities from '../store/authorities.repository.js';
import type { Page } from '../store/pagination.js';
import type { Schemas } from '../spec.js';
import { checkPolicy, defaultPolicy, type ProfilePolicy } from './policy.js';

type Profile = Schemas['Profile'];

export function policyOf(row: profiles.ProfileRow): ProfilePolicy {
  return defaultPolicy(JSON.parse(row.policy));
}

export function toProfile(row: profiles.ProfileRow): Profile {
  const p = policyOf(row);
  return { id: row.id, name: row.name, authorityId: row.authority_id, ...p, description: p.description ?? '', createdAt: row.created_at, updatedAt: row.updated_at };
}

export async function getProfileRow(svc: Services, idOrName: string): Promise<profiles.ProfileRow> {
  const row = await profiles.findProfile(svc.db, idOrName);
  if (!row) throw notFound('profile');
  return row;
}

export async function listProfiles(svc: Services, q: { limit: number; cursor?: string; authorityId?: string }): Promise<Page<Profile>> {
  const page = await profiles.listProfiles(svc.db, q);
  return { items: page.items.map(toProfile), nextCursor: page.nextCursor };
}

export async function getProfile(svc: Services, idOrName: string): Promise<Profile> {
  return toProfile(await getProfileRow(svc, idOrName));
}

export async function createProfile(svc: Services, input: Schemas['ProfileCreate']): Promise<Profile> {
  const { name, authorityId, ...rest } = input;
  const authority = await authorities.findAuthority(svc.db, authorityId);
  if (!authority) throw badRequest(`no authority "${authorityId}"`, [{ field: '/body/authorityId', message: 'no such authority' }]);
  if (!authority.key_secret_id) throw badRequest(`authority "${authority.name}" is a trust anchor without a key; it cannot issue`, [{ field: '/body/authorityId', message: 'cannot issue' }]);
  const policy = defaultPolicy(rest as Partial<ProfilePolicy>);
  const problems = checkPolicy(policy);
  if (problems.length) throw badRequest('the profile is invalid', problems);
  const now = svc.clock.now().toISOString();
  const id = newId();
  try {
    await profiles.insertProfile(svc.db, { id, name, authority_id: authority.id, policy: JSON.stringify(policy), created_at: now, updated_at: now });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a profile named "${name}" already exists`);
    throw e;
  }
  return getProfile(svc, id);
}

export async function updateProfile(svc: Services, idOrName: string, patch: Schemas['ProfileUpdate']): Promise<Profile> {
  const row = await getProfileRow(svc, idOrName);
  const policy = defaultPolicy({ ...policyOf(row), ...(patch as Partial<ProfilePolicy>) });
  const problems = checkPolicy(policy);
  if (problems.length) throw badRequest('the profile is invalid', problems);
  await profiles.updateProfile(svc.db, row.id, JSON.stringify(policy), svc.clock.now().toISOString());
  return getProfile(svc, row.id);
}

export async function deleteProfile(svc: Services, idOrName: string): Promise<void> {
  const row = await getProfileRow(svc, idOrName);
  await profiles.deleteProfile(svc.db, row.id);
}
