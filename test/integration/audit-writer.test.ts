/**
 * The audit trail's group commit, on both databases: events written together share one
 * INSERT, every writer learns the fate of its own event, and one bad event in a batch
 * fails alone (the batch is retried row by row) instead of taking its neighbours with it.
 */
import { expect, it } from 'vitest';
import { forEachDialect } from '../helpers/harness.js';
import { AuditWriter } from '../../src/rights/audit.usecases.js';
import { newId } from '../../src/lib/ids.js';
import type { AuditEventRow } from '../../src/store/audit.repository.js';

const row = (id: string, target: string): AuditEventRow => ({
  id,
  at: new Date().toISOString(),
  actor_user_id: null,
  actor_email: null,
  actor_token_id: null,
  action: 'auditWriterTest',
  target,
  outcome: 'success',
  status: 200,
  request_id: `req-${target}`,
  ip: null,
  detail: null,
});

forEachDialect('audit group commit', (env) => {
  it('ok/300 events written at once are all stored, each writer resolved', async () => {
    const svc = env().app.services;
    const writer = new AuditWriter(svc);
    const targets = Array.from({ length: 300 }, (_, i) => `many-${i}`);
    await Promise.all(targets.map((t) => writer.write(row(newId(), t))));
    const stored = await svc.db.selectFrom('audit_events').select('target').where('action', '=', 'auditWriterTest').where('target', 'like', 'many-%').execute();
    expect(stored.map((r) => r.target).sort()).toEqual([...targets].sort());
  });

  it('error/a bad event fails alone: its neighbours in the same batch are stored', async () => {
    const svc = env().app.services;
    const writer = new AuditWriter(svc);
    const dup = newId();
    const results = await Promise.allSettled([writer.write(row(newId(), 'before')), writer.write(row(dup, 'dup-1')), writer.write(row(dup, 'dup-2')), writer.write(row(newId(), 'after'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const stored = await svc.db.selectFrom('audit_events').select('target').where('action', '=', 'auditWriterTest').where('target', 'in', ['before', 'dup-1', 'dup-2', 'after']).execute();
    expect(stored.map((r) => r.target).sort()).toEqual(['after', 'before', 'dup-1']);
  });
});
