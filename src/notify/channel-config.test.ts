import { describe, expect, it } from 'vitest';
import { DomainError } from '../errors.js';
import { redactChannelConfig, validateChannelConfig } from './channel-config.js';
import type { ChannelType } from './channel.types.js';

describe('redactChannelConfig', () => {
  it.each([
    {
      name: 'discord/path and query hidden',
      type: 'discord' as const,
      config: { url: 'https://discord.com/api/webhooks/123/tok3n?thread_id=9' },
      expected: { url: 'https://discord.com/***' },
    },
    { name: 'slack', type: 'slack' as const, config: { url: 'https://hooks.slack.com/services/T0/B0/xyz' }, expected: { url: 'https://hooks.slack.com/***' } },
    {
      name: 'teams/signature in query hidden',
      type: 'teams' as const,
      config: { url: 'https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=SECRET' },
      expected: { url: 'https://prod-01.westeurope.logic.azure.com/***' },
    },
    {
      name: 'webhook/secret and credentials hidden',
      type: 'webhook' as const,
      config: { url: 'https://user:pw@hooks.example.com:8443/certa?token=abc', secret: 's3cr3t-value-123456' },
      expected: { url: 'https://hooks.example.com:8443/***', secret: '***' },
    },
    { name: 'webhook/no secret stays absent', type: 'webhook' as const, config: { url: 'https://hooks.example.com/x' }, expected: { url: 'https://hooks.example.com/***' } },
    { name: 'discord/unparseable URL hidden entirely', type: 'discord' as const, config: { url: 'not a url with token' }, expected: { url: '***' } },
    {
      name: 'email/password hidden, rest kept',
      type: 'email' as const,
      config: { host: 'smtp.example.com', port: 587, secure: false, username: 'certa', password: 'hunter2', from: 'certa@example.com', to: ['ops@example.com'] },
      expected: { host: 'smtp.example.com', port: 587, secure: false, username: 'certa', password: '***', from: 'certa@example.com', to: ['ops@example.com'] },
    },
  ])('$name', ({ type, config, expected }) => {
    const before = JSON.stringify(config);
    const redacted = redactChannelConfig(type as ChannelType, config as never);
    expect(redacted).toEqual(expected);
    expect(JSON.stringify(config)).toBe(before); // input untouched
  });
});

describe('validateChannelConfig', () => {
  const email = { host: 'smtp.example.com', port: 587, secure: false, from: 'certa@example.com', to: ['ops@example.com'] };
  it.each([
    { name: 'ok/discord', type: 'discord', input: { url: 'https://discord.com/api/webhooks/1/abc' } },
    { name: 'ok/slack', type: 'slack', input: { url: 'https://hooks.slack.com/services/T/B/x' } },
    { name: 'ok/teams any https host', type: 'teams', input: { url: 'https://x.logic.azure.com/workflows/1' } },
    { name: 'ok/webhook with secret', type: 'webhook', input: { url: 'https://hooks.example.com/x', secret: '0123456789abcdef' } },
    { name: 'ok/email', type: 'email', input: email },
    { name: 'ok/email with auth', type: 'email', input: { ...email, username: 'u', password: 'p' } },
  ])('$name', ({ type, input }) => {
    expect(validateChannelConfig(type as ChannelType, input)).toEqual(input);
  });

  it.each([
    { name: 'error/not an object', type: 'slack', input: 'https://hooks.slack.com', fields: ['/config'] },
    { name: 'error/http refused', type: 'webhook', input: { url: 'http://hooks.example.com/x' }, fields: ['/config/url'] },
    { name: 'error/discord URL elsewhere', type: 'discord', input: { url: 'https://evil.example/api/webhooks/1/x' }, fields: ['/config/url'] },
    { name: 'error/slack workflow trigger path', type: 'slack', input: { url: 'https://hooks.slack.com/triggers/x' }, fields: ['/config/url'] },
    { name: 'error/credentials in URL', type: 'teams', input: { url: 'https://u:p@x.example/' }, fields: ['/config/url'] },
    { name: 'error/short secret', type: 'webhook', input: { url: 'https://h.example/x', secret: 'short' }, fields: ['/config/secret'] },
    { name: 'error/email header injection', type: 'email', input: { ...email, from: 'a@b.c\r\nBcc: x@y.z' }, fields: ['/config/from'] },
    { name: 'error/email bad port, no recipients', type: 'email', input: { ...email, port: 70000, to: [] }, fields: ['/config/port', '/config/to'] },
    { name: 'error/email username without password', type: 'email', input: { ...email, username: 'u' }, fields: ['/config/password'] },
    { name: 'error/unknown type', type: 'pager', input: {}, fields: ['/type'] },
  ])('$name', ({ type, input, fields }) => {
    try {
      validateChannelConfig(type as ChannelType, input);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe('validation_failed');
      expect((err as DomainError).errors?.map((e) => e.field)).toEqual(fields);
    }
  });

  it('ok/test options allow local http receivers', () => {
    expect(validateChannelConfig('discord', { url: 'http://127.0.0.1:9/hook' }, { allowHttp: true, allowAnyHost: true })).toEqual({ url: 'http://127.0.0.1:9/hook' });
  });
});
