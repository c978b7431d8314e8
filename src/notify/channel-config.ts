/**
 * Channel configs: validation of untrusted input and redaction for responses and logs.
 *
 * Discord, Slack and Teams webhook URLs carry their credential in the path/query, so a
 * URL is never shown past its origin.
 */
import { DomainError, type FieldError } from '../errors.js';
import type {
  ChannelConfig,
  ChannelConfigs,
  ChannelType,
  EmailChannelConfig,
  WebhookChannelConfig,
} from './channel.types.js';
import { CHANNEL_TYPES } from './channel.types.js';

export const REDACTED = '***';

/** `https://discord.com/***`: origin kept (useful to tell channels apart), path, query and credentials hidden. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/${REDACTED}`;
  } catch {
    return REDACTED;
  }
}

/** A copy of `config` safe to return from the API or to log. */
export function redactChannelConfig<T extends ChannelType>(type: T, config: ChannelConfigs[T]): ChannelConfigs[T];
export function redactChannelConfig(type: ChannelType, config: ChannelConfig): ChannelConfig {
  switch (type) {
    case 'discord':
    case 'slack':
    case 'teams': {
      const c = config as ChannelConfigs['discord'];
      return { ...c, url: redactUrl(c.url) };
    }
    case 'webhook': {
      const c = config as WebhookChannelConfig;
      return { ...c, url: redactUrl(c.url), ...(c.secret !== undefined ? { secret: REDACTED } : {}) };
    }
    case 'email': {
      const c = config as EmailChannelConfig;
      return { ...c, to: [...c.to], ...(c.password !== undefined ? { password: REDACTED } : {}) };
    }
  }
}

export interface ValidateOptions {
  /** Accept `http:` URLs (tests, local receivers). Default false: https only. */
  allowHttp?: boolean;
  /**
   * Accept any host for Discord/Slack (tests). Default false: Discord and Slack URLs must
   * point at the platform, which keeps a "Discord" channel from posting anywhere else.
   */
  allowAnyHost?: boolean;
}

const PLATFORM_HOSTS: Partial<Record<ChannelType, { hosts: string[]; pathPrefix: string }>> = {
  discord: { hosts: ['discord.com', 'discordapp.com', 'ptb.discord.com', 'canary.discord.com'], pathPrefix: '/api/webhooks/' },
  slack: { hosts: ['hooks.slack.com'], pathPrefix: '/services/' },
};

const EMAIL_RE = /^[^\s@<>",;]+@[^\s@<>",;]+$/;
const MAX_RECIPIENTS = 50;

/**
 * Checks an untrusted config for `type` and returns it typed, keeping only known keys.
 * Throws `DomainError('validation_failed')` listing every problem.
 *
 * Whether a generic webhook may target private addresses is a deployment policy and is
 * not decided here.
 */
export function validateChannelConfig<T extends ChannelType>(type: T, input: unknown, opts?: ValidateOptions): ChannelConfigs[T];
export function validateChannelConfig(type: ChannelType, input: unknown, opts: ValidateOptions = {}): ChannelConfig {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string) => errors.push({ field: `/config/${field}`, message });
  if (!(CHANNEL_TYPES as readonly string[]).includes(type)) {
    throw new DomainError('validation_failed', 'invalid channel config', [{ field: '/type', message: `must be one of ${CHANNEL_TYPES.join(', ')}` }]);
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new DomainError('validation_failed', 'invalid channel config', [{ field: '/config', message: 'must be an object' }]);
  }
  const o = input as Record<string, unknown>;
  let result: ChannelConfig;

  if (type === 'email') {
    const str = (k: string, required: boolean): string | undefined => {
      const v = o[k];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string' || v.length === 0) fail(k, 'must be a non-empty string');
      else if (/[\r\n]/.test(v)) fail(k, 'must not contain line breaks');
      else return v;
      return undefined;
    };
    const host = str('host', true);
    const username = str('username', false);
    const password = str('password', false);
    const from = str('from', true);
    if (from !== undefined && !EMAIL_RE.test(from)) fail('from', 'must be an email address');
    const port = o.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail('port', 'must be an integer between 1 and 65535');
    if (typeof o.secure !== 'boolean') fail('secure', 'must be a boolean');
    if ((username === undefined) !== (password === undefined)) fail(username === undefined ? 'username' : 'password', 'username and password go together');
    const to = o.to;
    if (!Array.isArray(to) || to.length === 0 || to.length > MAX_RECIPIENTS) fail('to', `must list 1 to ${MAX_RECIPIENTS} addresses`);
    else to.forEach((a, i) => (typeof a !== 'string' || !EMAIL_RE.test(a)) && fail(`to/${i}`, 'must be an email address'));
    result = {
      host: host!,
      port: port as number,
      secure: o.secure as boolean,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      from: from!,
      to: Array.isArray(to) ? (to as string[]) : [],
    };
  } else {
    const url = o.url;
    if (typeof url !== 'string') {
      fail('url', 'must be a URL');
    } else {
      checkUrl(type, url, opts, (m) => fail('url', m));
    }
    result = { url: url as string };
    if (type === 'webhook' && o.secret !== undefined) {
      if (typeof o.secret !== 'string' || o.secret.length < 16) fail('secret', 'must be a string of at least 16 characters');
      result = { url: url as string, secret: o.secret as string };
    }
  }
  if (errors.length > 0) throw new DomainError('validation_failed', 'invalid channel config', errors);
  return result;
}

function checkUrl(type: ChannelType, raw: string, opts: ValidateOptions, fail: (m: string) => void): void {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    fail('must be an absolute URL');
    return;
  }
  if (u.protocol !== 'https:' && !(opts.allowHttp && u.protocol === 'http:')) {
    fail(opts.allowHttp ? 'must be an http(s) URL' : 'must be an https URL');
    return;
  }
  if (u.username || u.password) fail('must not contain credentials');
  const platform = PLATFORM_HOSTS[type];
  if (platform && !opts.allowAnyHost && (!platform.hosts.includes(u.hostname) || !u.pathname.startsWith(platform.pathPrefix))) {
    fail(`must be a ${type} webhook URL (https://${platform.hosts[0]}${platform.pathPrefix}…)`);
  }
}
