/**
 * Notification channels: create, read, update, delete and test.
 *
 * The full config (platform webhook URLs are credentials, the webhook signing secret, the
 * SMTP password) exists only envelope-encrypted in `secrets`; the channel row keeps the
 * redacted copy the API shows.
 */
import { randomBytes } from 'node:crypto';
import type { Services } from '../context.js';
import { conflict, DomainError, notFound } from '../errors.js';
import { newId } from '../lib/ids.js';
import { isUniqueViolation } from '../store/db.js';
import type { Page } from '../store/pagination.js';
import type { Db } from '../store/types.js';
import * as repo from '../store/notifications.repository.js';
import type { ChannelRow } from '../store/notifications.repository.js';
import type { Schemas } from '../spec.js';
import type { ChannelConfig, ChannelMessage, ChannelSender, ChannelSpec, ChannelType, SendResult } from './channel.types.js';
import { redactChannelConfig, validateChannelConfig } from './channel-config.js';
import { createChannelSender } from './channels/index.js';
import { TargetGuard } from './target-guard.js';
import { toChannel } from './notify.mappers.js';

type Channel = Schemas['Channel'];

/** `purpose` of the channel configs in the secret store (bound into the ciphertext). */
export const CHANNEL_SECRET_PURPOSE = 'notification-channel';

function validate(svc: Services, type: ChannelType, input: unknown): ChannelConfig {
  const insecure = svc.config.notifyAllowInsecureUrls;
  return validateChannelConfig(type, input, { allowHttp: insecure, allowAnyHost: insecure });
}

export function targetGuard(svc: Services): TargetGuard {
  return new TargetGuard(svc.config.verifyDeny, undefined, { open: svc.config.targetAllow });
}

/** The host a channel connects to, and the config field that names it. */
export function channelTarget(spec: ChannelSpec): { host: string; field: string } {
  return spec.type === 'email' ? { host: spec.config.host, field: '/config/host' } : { host: TargetGuard.hostOf(spec.config.url), field: '/config/url' };
}

async function assertTargetAllowed(svc: Services, spec: ChannelSpec): Promise<void> {
  const { host, field } = channelTarget(spec);
  const reason = await targetGuard(svc).check(host);
  if (reason) throw new DomainError('validation_failed', 'invalid channel config', [{ field, message: reason }]);
}

export async function loadChannelSpec(svc: Services, c: ChannelRow, db: Db = svc.db): Promise<ChannelSpec> {
  const config = JSON.parse((await svc.secrets.get(c.secretId, db)).toString('utf8')) as ChannelConfig;
  return { type: c.type, config } as ChannelSpec;
}

/** A sender that connects only to addresses the target guard checked at send time. */
export function buildSender(svc: Services, spec: ChannelSpec): ChannelSender<ChannelMessage> {
  const guard = targetGuard(svc);
  return createChannelSender(
    spec,
    { now: () => svc.clock.now(), timeoutMs: svc.config.notifyTimeoutMs, resolveTarget: (host) => guard.connectAddresses(host) },
    { email: { allowPlaintextAuth: svc.config.notifyAllowInsecureUrls } },
  );
}

async function findOr404(svc: Services, idOrName: string): Promise<ChannelRow> {
  const c = await repo.findChannel(svc.db, idOrName);
  if (!c) throw notFound('notification channel');
  return c;
}

export async function listChannels(svc: Services, q: { limit: number; cursor?: string }): Promise<Page<Channel>> {
  const page = await repo.listChannels(svc.db, q);
  const now = svc.clock.now().toISOString();
  return { items: page.items.map((c) => toChannel(c, now)), nextCursor: page.nextCursor };
}

export async function getChannel(svc: Services, idOrName: string): Promise<Channel> {
  return toChannel(await findOr404(svc, idOrName), svc.clock.now().toISOString());
}

export async function createChannel(svc: Services, input: Schemas['ChannelCreate']): Promise<Schemas['ChannelCreated']> {
  // Step 1: validate the config for its type.
  let config = validate(svc, input.type, input.config);
  // Step 2: a webhook without a secret gets a generated one, shown once in the answer.
  let generated: string | undefined;
  if (input.type === 'webhook' && !(config as { secret?: string }).secret) {
    generated = randomBytes(32).toString('base64url');
    config = { ...config, secret: generated };
  }
  const spec = { type: input.type, config } as ChannelSpec;
  // Step 3: never a cloud metadata endpoint (or whatever the deployment denies).
  await assertTargetAllowed(svc, spec);
  // Step 4: the config sealed in the secret store, the redacted copy in the row.
  const now = svc.clock.now().toISOString();
  const row: ChannelRow = {
    id: newId(),
    name: input.name,
    type: input.type,
    secretId: '',
    configRedacted: redactChannelConfig(input.type, config) as unknown as Record<string, unknown>,
    enabled: input.enabled ?? true,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await svc.db.transaction().execute(async (trx) => {
      row.secretId = await svc.secrets.put(CHANNEL_SECRET_PURPOSE, Buffer.from(JSON.stringify(config)), trx);
      await repo.insertChannel(trx, row);
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a notification channel named "${input.name}" already exists`);
    throw e;
  }
  return { ...toChannel(row, svc.clock.now().toISOString()), ...(generated ? { secret: generated } : {}) };
}

export async function updateChannel(svc: Services, idOrName: string, patch: Schemas['ChannelUpdate']): Promise<Channel> {
  const c = await findOr404(svc, idOrName);
  let config: ChannelConfig | undefined;
  if (patch.config !== undefined) {
    config = validate(svc, c.type, patch.config);
    // A new webhook URL without a secret keeps the current secret: receivers keep verifying.
    if (c.type === 'webhook' && !(config as { secret?: string }).secret) {
      const current = (await loadChannelSpec(svc, c)).config as { secret?: string };
      if (current.secret) config = { ...config, secret: current.secret };
    }
    await assertTargetAllowed(svc, { type: c.type, config } as ChannelSpec);
  }
  const now = svc.clock.now().toISOString();
  try {
    await svc.db.transaction().execute(async (trx) => {
      if (config) await svc.secrets.replace(c.secretId, Buffer.from(JSON.stringify(config)), trx);
      await repo.updateChannel(trx, c.id, {
        name: patch.name,
        enabled: patch.enabled,
        configRedacted: config && (redactChannelConfig(c.type, config) as unknown as Record<string, unknown>),
        updatedAt: now,
      });
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a notification channel named "${patch.name}" already exists`);
    throw e;
  }
  return getChannel(svc, c.id);
}

export async function deleteChannel(svc: Services, idOrName: string): Promise<void> {
  const c = await findOr404(svc, idOrName);
  const now = svc.clock.now().toISOString();
  await svc.db.transaction().execute(async (trx) => {
    await repo.deleteChannel(trx, c.id, now);
    await svc.secrets.delete(c.secretId, trx);
  });
}

function toTestResult(r: SendResult): Schemas['ChannelTestResult'] {
  return r.ok
    ? { ok: true, status: r.status, response: r.body ?? null, error: null, retryable: null }
    : { ok: false, status: r.status ?? null, response: null, error: r.error, retryable: r.retryable };
}

/** Sends a real `test` event through the channel now (enabled or not) and reports the receiver's answer. */
export async function testChannel(svc: Services, idOrName: string): Promise<Schemas['ChannelTestResult']> {
  const c = await findOr404(svc, idOrName);
  const spec = await loadChannelSpec(svc, c);
  const denied = await targetGuard(svc).check(channelTarget(spec).host);
  if (denied) return { ok: false, status: null, response: null, error: denied, retryable: false };
  const sender = buildSender(svc, spec);
  const messages = sender.format({
    events: [{ type: 'test', occurredAt: svc.clock.now().toISOString(), message: `Test of the notification channel "${c.name}".`, certificates: [] }],
  });
  const deliveryId = `test-${newId()}`;
  let last: SendResult = { ok: false, retryable: false, error: 'nothing to send' };
  for (const m of messages) {
    last = await sender.send(m, { deliveryId });
    if (!last.ok) break;
  }
  return toTestResult(last);
}
