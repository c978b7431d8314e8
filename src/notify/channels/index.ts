/**
 * Entry point of the channels: build the sender for a configured channel.
 */
import type { ChannelMessage, ChannelSender, ChannelSpec, SenderDeps } from '../channel.types.js';
import { DiscordSender, type DiscordFormatOptions } from './discord.channel.js';
import { EmailSender, type EmailSenderOptions } from './email.channel.js';
import { SlackSender, type SlackFormatOptions } from './slack.channel.js';
import { TeamsSender, type TeamsFormatOptions } from './teams.channel.js';
import { WebhookSender, type WebhookFormatOptions } from './webhook.channel.js';

/** Per-platform knobs; all optional. */
export interface ChannelOptions {
  discord?: DiscordFormatOptions;
  slack?: SlackFormatOptions;
  teams?: TeamsFormatOptions;
  webhook?: WebhookFormatOptions;
  email?: EmailSenderOptions;
}

export function createChannelSender(spec: ChannelSpec, deps?: SenderDeps, options: ChannelOptions = {}): ChannelSender<ChannelMessage> {
  switch (spec.type) {
    case 'discord':
      return new DiscordSender(spec.config, deps, options.discord);
    case 'slack':
      return new SlackSender(spec.config, deps, options.slack);
    case 'teams':
      return new TeamsSender(spec.config, deps, options.teams);
    case 'webhook':
      return new WebhookSender(spec.config, deps, options.webhook);
    case 'email':
      return new EmailSender(spec.config, deps, options.email);
  }
}

export { DiscordSender, formatDiscordDigest, classifyDiscordResponse, DISCORD_LIMITS } from './discord.channel.js';
export type { DiscordPayload, DiscordEmbed, DiscordFormatOptions } from './discord.channel.js';
export { SlackSender, formatSlackDigest, SLACK_LIMITS } from './slack.channel.js';
export type { SlackPayload, SlackBlock, SlackFormatOptions } from './slack.channel.js';
export { TeamsSender, formatTeamsDigest, TEAMS_LIMITS } from './teams.channel.js';
export type { TeamsPayload, AdaptiveCard, TeamsFormatOptions } from './teams.channel.js';
export { WebhookSender, formatWebhookDigest, webhookBody } from './webhook.channel.js';
export type { WebhookPayload, WebhookBody, WebhookCertificate, WebhookFormatOptions } from './webhook.channel.js';
export { signWebhook, verifyWebhookSignature, WEBHOOK_HEADERS } from './webhook.signature.js';
export type { VerifyOptions, VerifyResult } from './webhook.signature.js';
export { EmailSender, formatEmailDigest, classifySmtpError } from './email.channel.js';
export type { EmailContent, EmailSenderOptions } from './email.channel.js';
export { classifyHttpResponse, parseRetryAfter } from './http.transport.js';
export type { ChatFormatOptions } from './digest-packer.js';
