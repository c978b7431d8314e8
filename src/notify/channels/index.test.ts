import { describe, expect, it } from 'vitest';
import type { ChannelSpec } from '../channel.types.js';
import { mixedDigest } from '../testing/fixtures.js';
import { createChannelSender } from './index.js';

const SPECS: ChannelSpec[] = [
  { type: 'discord', config: { url: 'https://discord.com/api/webhooks/1/x' } },
  { type: 'slack', config: { url: 'https://hooks.slack.com/services/T/B/x' } },
  { type: 'teams', config: { url: 'https://x.logic.azure.com/workflows/1' } },
  { type: 'webhook', config: { url: 'https://hooks.example.com/x', secret: '0123456789abcdef' } },
  { type: 'email', config: { host: 'smtp.example.com', port: 587, secure: false, from: 'certa@example.com', to: ['ops@example.com'] } },
];

describe('createChannelSender', () => {
  it.each(SPECS)('$type/messages are tagged with their channel and survive a JSON round trip', (spec) => {
    const sender = createChannelSender(spec);
    expect(sender.type).toBe(spec.type);
    const messages = sender.format(mixedDigest());
    expect(messages.length).toBeGreaterThan(0);
    for (const m of messages) {
      expect(m.channel).toBe(spec.type);
      expect(JSON.parse(JSON.stringify(m))).toEqual(m); // storable in the outbox as is
    }
  });

  it.each(SPECS)('$type/an empty digest gives no message', (spec) => {
    expect(createChannelSender(spec).format({ events: [] })).toEqual([]);
  });

  it.each(SPECS)('$type/formatting is deterministic (a retry re-renders the same text)', (spec) => {
    const sender = createChannelSender(spec);
    expect(sender.format(mixedDigest())).toEqual(sender.format(mixedDigest()));
  });
});
