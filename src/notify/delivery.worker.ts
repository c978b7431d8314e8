/**
 * The delivery worker: turns pending notification events into deliveries (the
 * transactional outbox, `dispatchEvents`), claims due deliveries, sends them through their
 * channel, and records the outcome with the retry policy (`decide`).
 *
 * - Claims are leased (`locked_until`) and fenced by a token: a worker that lost its lease
 *   cannot overwrite the row, and a crashed worker's rows come back when the lease ends.
 *   On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so replicas share the outbox.
 * - A digest's platform messages are fixed at the first attempt and sent in order; each
 *   accepted one is recorded at once, so a retry resumes after it and never re-posts it.
 * - Deliveries of one channel go out one after the other; when the receiver asks to wait
 *   (429 + Retry-After, Discord's retry_after), the channel is paused in the database
 *   (`paused_until`): no worker of any replica claims its deliveries before then, and the
 *   ones already claimed are given back, without spending an attempt.
 * - Time is `svc.clock`: tests move it forward and call `runOnce()`.
 */
import { randomUUID } from 'node:crypto';
import type { Services } from '../context.js';
import * as repo from '../store/notifications.repository.js';
import type { DeliveryRow } from '../store/notifications.repository.js';
import type { ChannelMessage, ChannelSender, SendResult } from './channel.types.js';
import { deliveryOutcomes, deliveryRetries } from './notify.metrics.js';
import { buildSender, channelTarget, loadChannelSpec, targetGuard } from './channels.usecases.js';
import { buildDigest } from './digest.builder.js';
import { onEnqueued } from './outbox.signal.js';
import { dispatchAllEvents } from './events.usecases.js';
import { decide, DEFAULT_BACKOFF, type BackoffOptions } from './retry.policy.js';
import { isDatabaseUnavailable } from '../store/db.js';

export interface DeliveryWorkerOptions {
  /** Deliveries claimed per round. Default 50. */
  batchSize?: number;
  /** Channels served in parallel within a round. Default 4. */
  concurrency?: number;
  /** Wait between polls when the outbox is idle, in ms (real time). Default 5000. */
  pollIntervalMs?: number;
  /** Claim lease, in ms. Default max(60 s, 3 × the send timeout); renewed while the round runs. */
  leaseMs?: number;
  /** Backoff (default 30 s doubling, capped at 6 h) and its jitter source. */
  backoff?: Partial<BackoffOptions>;
}

export interface RoundResult {
  /** Notification events turned into deliveries at the start of the round. */
  events: number;
  claimed: number;
  sent: number;
  retried: number;
  failed: number;
  /** Given back without an attempt (channel paused by a 429, shutdown). */
  released: number;
}

const emptyRound = (): RoundResult => ({ events: 0, claimed: 0, sent: 0, retried: 0, failed: 0, released: 0 });

type Failure = Extract<SendResult, { ok: false }>;

export class DeliveryWorker {
  readonly name = 'notify-delivery';
  readonly #svc: Services;
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #backoff: BackoffOptions;
  #abort = new AbortController();
  #stopping = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #nudged = false;
  #unsubscribe: (() => void) | null = null;

  constructor(svc: Services, opts: DeliveryWorkerOptions = {}) {
    this.#svc = svc;
    this.#batchSize = opts.batchSize ?? 50;
    this.#concurrency = opts.concurrency ?? 4;
    this.#pollMs = opts.pollIntervalMs ?? 5000;
    this.#leaseMs = opts.leaseMs ?? Math.max(60_000, 3 * svc.config.notifyTimeoutMs);
    this.#backoff = { ...DEFAULT_BACKOFF, random: Math.random, ...opts.backoff };
  }

  start(): void {
    this.#unsubscribe = onEnqueued(this.#svc.db, () => this.nudge());
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    this.#wake?.();
    this.#unsubscribe?.();
    await this.#loop;
  }

  /** Something was enqueued: poll now rather than at the next interval. */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let claimed = 0;
      try {
        claimed = (await this.runOnce()).claimed;
      } catch (err) {
        // Rows claimed by a failed round come back when their lease ends; the loop goes on.
        this.#svc.log[isDatabaseUnavailable(err) ? 'warn' : 'error']({ err }, 'notification delivery round failed');
      }
      if (claimed < this.#batchSize && !this.#nudged && !this.#stopping) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#pollMs);
          t.unref();
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.#wake = null;
      }
      this.#nudged = false;
    }
  }

  /** Rounds until nothing is due (tests, and draining). */
  async runUntilIdle(maxRounds = 10_000): Promise<RoundResult> {
    const total = emptyRound();
    for (let i = 0; i < maxRounds; i++) {
      const r = await this.runOnce();
      for (const k of Object.keys(total) as Array<keyof RoundResult>) total[k] += r[k];
      if (r.claimed === 0) break;
    }
    return total;
  }

  /** One round: claim up to a batch of due deliveries and serve them. */
  async runOnce(): Promise<RoundResult> {
    const svc = this.#svc;
    const round = emptyRound();
    // Step 1: events committed since the last round become deliveries. A failure here must
    // not stop what is already queued from going out.
    try {
      const dispatched = await dispatchAllEvents(svc);
      round.events = dispatched.events;
      // A backlog left for the next round: poll again at once.
      if (dispatched.more) this.#nudged = true;
    } catch (err) {
      svc.log.error({ err }, 'notification event dispatch failed');
    }
    // Step 2: claim and serve.
    const now = svc.clock.now();
    const token = randomUUID();
    const claimed = await repo.claimDueDeliveries(svc.db, {
      now: now.toISOString(),
      leaseUntil: new Date(now.getTime() + this.#leaseMs).toISOString(),
      token,
      limit: this.#batchSize,
    });
    round.claimed = claimed.length;
    if (!claimed.length) return round;

    const heartbeat = setInterval(() => {
      const until = new Date(svc.clock.now().getTime() + this.#leaseMs).toISOString();
      repo.extendLease(svc.db, token, until).catch((err) => svc.log.warn({ err }, 'notification lease renewal failed'));
    }, Math.max(1000, Math.floor(this.#leaseMs / 3)));
    heartbeat.unref();
    try {
      const byChannel = new Map<string, DeliveryRow[]>();
      for (const d of claimed) byChannel.set(d.channelId, [...(byChannel.get(d.channelId) ?? []), d]);
      const queue = [...byChannel];
      // Every lane finishes before the heartbeat stops (one failing must not leave the
      // others sending on leases nobody renews); the first failure is then rethrown.
      const lanes = await Promise.allSettled(
        Array.from({ length: Math.min(this.#concurrency, queue.length) }, async () => {
          for (let next = queue.shift(); next; next = queue.shift()) await this.#serveChannel(next[0], next[1], token, round);
        }),
      );
      const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      clearInterval(heartbeat);
    }
    return round;
  }

  async #serveChannel(channelId: string, rows: DeliveryRow[], token: string, round: RoundResult): Promise<void> {
    const before = { sent: round.sent, failed: round.failed, retried: round.retried };
    let channelType = 'unknown';
    try {
      channelType = (await this.#serveChannelRows(channelId, rows, token, round)) ?? channelType;
    } finally {
      const labels = { channel_type: channelType };
      if (round.sent > before.sent) deliveryOutcomes.inc({ ...labels, outcome: 'sent' }, round.sent - before.sent);
      if (round.failed > before.failed) deliveryOutcomes.inc({ ...labels, outcome: 'failed' }, round.failed - before.failed);
      if (round.retried > before.retried) deliveryRetries.inc(labels, round.retried - before.retried);
    }
  }

  /** Delivers one channel's claimed rows; returns the channel type (for metrics). */
  async #serveChannelRows(channelId: string, rows: DeliveryRow[], token: string, round: RoundResult): Promise<string | undefined> {
    const svc = this.#svc;
    const channel = await repo.findChannel(svc.db, channelId);
    if (!channel || channel.id !== channelId || !channel.enabled) {
      const error = channel?.id === channelId ? 'channel is disabled' : 'channel deleted';
      for (const d of rows) await this.#conclude(d, token, { ok: false, retryable: false, error }, round);
      return channel?.type;
    }
    let sender: ChannelSender<ChannelMessage>;
    let denied: string | null;
    try {
      const spec = await loadChannelSpec(svc, channel, svc.db);
      sender = buildSender(svc, spec);
      denied = await targetGuard(svc).check(channelTarget(spec).host);
    } catch (err) {
      // No database: not the channel's fault, no attempt spent (the rows' lease brings them back).
      if (isDatabaseUnavailable(err)) throw err;
      svc.log.error({ err, channelId }, 'notification channel config could not be read');
      for (const d of rows) await this.#conclude(d, token, { ok: false, retryable: true, error: 'channel configuration could not be read' }, round);
      return channel?.type;
    }
    let pausedUntil: string | null = null;
    for (const d of rows) {
      // Another worker (or replica) may have paused the channel since these were claimed.
      pausedUntil ??= await repo.channelPausedUntil(svc.db, channelId, svc.clock.now().toISOString());
      if (this.#stopping || pausedUntil) {
        await this.#release(d, token, pausedUntil ?? svc.clock.now().toISOString(), round);
        continue;
      }
      pausedUntil = await this.#deliver(d, sender, denied, token, round);
    }
    return channel.type;
  }

  /** Sends what is left of one delivery; returns an instant when the channel asked to pause. */
  async #deliver(d: DeliveryRow, sender: ChannelSender<ChannelMessage>, denied: string | null, token: string, round: RoundResult): Promise<string | null> {
    const svc = this.#svc;
    // Step 1: the messages, fixed at the first attempt.
    let messages = d.messages as ChannelMessage[] | null;
    if (!messages) {
      try {
        messages = sender.format(await buildDigest(svc, svc.db, d));
      } catch (err) {
        if (isDatabaseUnavailable(err)) throw err;
        return this.#conclude(d, token, { ok: false, retryable: false, error: `could not format the notification: ${(err as Error).message}` }, round);
      }
      if (!(await repo.saveMessages(svc.db, d.id, token, messages, svc.clock.now().toISOString()))) return this.#lost(d);
    }
    // Step 2: the target may have moved to a denied address since the channel was saved.
    if (denied) return this.#conclude(d, token, { ok: false, retryable: false, error: denied }, round);
    // Step 3: the remaining messages in order, each acceptance recorded before the next.
    let sent = d.messagesSent;
    let last: SendResult | null = null;
    while (sent < messages.length) {
      last = await sender.send(messages[sent], { deliveryId: d.id, signal: this.#abort.signal });
      if (!last.ok) return this.#conclude(d, token, last, round);
      sent++;
      if (!(await repo.recordProgress(svc.db, d.id, token, sent, svc.clock.now().toISOString()))) return this.#lost(d);
    }
    // Step 4: all accepted.
    const ok = await repo.finishDelivery(svc.db, d.id, token, { status: 'sent', at: svc.clock.now().toISOString(), lastStatus: last?.status ?? d.lastStatus });
    if (ok) round.sent++;
    else this.#lost(d);
    return null;
  }

  /** Applies the retry policy to a failed attempt. */
  async #conclude(d: DeliveryRow, token: string, result: Failure, round: RoundResult): Promise<string | null> {
    const svc = this.#svc;
    const now = svc.clock.now();
    if (this.#stopping && this.#abort.signal.aborted && result.retryable) {
      // Interrupted by shutdown: not the receiver's fault, give the attempt back.
      await this.#release(d, token, now.toISOString(), round);
      return null;
    }
    const decision = decide(result, d.attempts, svc.config.notifyMaxAttempts, this.#backoff);
    const lastStatus = result.status ?? null;
    // The receiver asked to wait: that holds for the whole channel, on every replica (the
    // same cap as a delivery's own Retry-After).
    let pausedUntil: string | null = null;
    if (result.retryAfterMs !== undefined && Number.isFinite(result.retryAfterMs)) {
      const waitMs = Math.min(Math.max(0, Math.ceil(result.retryAfterMs)), this.#backoff.maxMs);
      pausedUntil = new Date(now.getTime() + waitMs).toISOString();
      await repo.pauseChannel(svc.db, d.channelId, pausedUntil);
    }
    if (decision.state === 'retry') {
      const next = new Date(now.getTime() + decision.delayMs).toISOString();
      const ok = await repo.finishDelivery(svc.db, d.id, token, { status: 'pending', at: now.toISOString(), nextAttemptAt: next, lastError: result.error, lastStatus });
      if (ok) round.retried++;
      svc.log.warn({ deliveryId: d.id, channelId: d.channelId, attempt: d.attempts, error: result.error, retryAt: next }, 'notification delivery will be retried');
      return pausedUntil;
    }
    const lastError = decision.state === 'failed' && decision.reason === 'exhausted' ? `gave up after ${d.attempts} attempts: ${result.error}` : result.error;
    const ok = await repo.finishDelivery(svc.db, d.id, token, { status: 'failed', at: now.toISOString(), lastError, lastStatus });
    if (ok) round.failed++;
    svc.log.error({ deliveryId: d.id, channelId: d.channelId, attempts: d.attempts, error: lastError }, 'notification delivery failed');
    return pausedUntil;
  }

  async #release(d: DeliveryRow, token: string, at: string, round: RoundResult): Promise<void> {
    const ok = await repo.finishDelivery(this.#svc.db, d.id, token, {
      status: 'pending',
      at: this.#svc.clock.now().toISOString(),
      nextAttemptAt: at,
      lastError: d.lastError,
      lastStatus: d.lastStatus,
      refundAttempt: true,
    });
    if (ok) round.released++;
  }

  #lost(d: DeliveryRow): null {
    this.#svc.log.warn({ deliveryId: d.id }, 'notification delivery claim lost (lease expired); another worker took it over');
    return null;
  }
}
