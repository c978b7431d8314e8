/** Handlers for the notifications tag. Named by operationId. */
import type { HandlerMap } from '../handler.js';
import { created, noContent, ok } from '../handler.js';
import * as channels from '../../notify/channels.usecases.js';
import * as rules from '../../notify/rules.usecases.js';
import * as deliveries from '../../notify/deliveries.usecases.js';
import { runExpirySweep as sweep } from '../../notify/sweep.usecases.js';

const DEFAULT_LIMIT = 50;

export const notificationsHandlers: HandlerMap = {
  async listNotificationChannels(c) {
    return ok(await channels.listChannels(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createNotificationChannel(c) {
    const channel = await channels.createChannel(c.svc, c.body);
    c.audit(channel.id, `${channel.type}:${channel.name}`);
    return created(channel, { Location: `/api/v1/notification-channels/${channel.id}` });
  },
  async getNotificationChannel(c) {
    return ok(await channels.getChannel(c.svc, c.params.channelId));
  },
  async updateNotificationChannel(c) {
    c.audit(c.params.channelId);
    return ok(await channels.updateChannel(c.svc, c.params.channelId, c.body));
  },
  async deleteNotificationChannel(c) {
    c.audit(c.params.channelId);
    await channels.deleteChannel(c.svc, c.params.channelId);
    return noContent();
  },
  async testNotificationChannel(c) {
    c.audit(c.params.channelId);
    return ok(await channels.testChannel(c.svc, c.params.channelId));
  },

  async listNotificationRules(c) {
    return ok(await rules.listRules(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async createNotificationRule(c) {
    const rule = await rules.createRule(c.svc, c.body);
    c.audit(rule.id, rule.name);
    return created(rule, { Location: `/api/v1/notification-rules/${rule.id}` });
  },
  async getNotificationRule(c) {
    return ok(await rules.getRule(c.svc, c.params.ruleId));
  },
  async updateNotificationRule(c) {
    c.audit(c.params.ruleId);
    return ok(await rules.updateRule(c.svc, c.params.ruleId, c.body));
  },
  async deleteNotificationRule(c) {
    c.audit(c.params.ruleId);
    await rules.deleteRule(c.svc, c.params.ruleId);
    return noContent();
  },

  async runExpirySweep(c) {
    const result = await sweep(c.svc);
    c.audit(null, `enqueued ${result.enqueued} for ${result.certificatesMatched} certificates`);
    return ok(result);
  },
  async listNotificationDeliveries(c) {
    return ok(await deliveries.listDeliveries(c.svc, { ...c.query, limit: c.query.limit ?? DEFAULT_LIMIT }));
  },
  async retryNotificationDelivery(c) {
    c.audit(c.params.deliveryId);
    return ok(await deliveries.retryDelivery(c.svc, c.params.deliveryId));
  },
};
