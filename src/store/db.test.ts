/**
 * The embedded store's WAL checkpointer (SQLite only: PostgreSQL checkpoints itself).
 * Committed pages reach the database file from the worker thread, without any commit
 * crossing SQLite's own auto-checkpoint threshold, and closing the store stops it.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from './db.js';
import { newId } from '../lib/ids.js';

describe('SQLite store: checkpoints off the request path', () => {
  let dir: string;
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ok/committed pages reach the database file though no commit reaches the auto-checkpoint threshold', async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-wal-'));
    store = openStore({ dataDir: dir, databaseUrl: null });
    await store.migrate();
    const file = join(dir, 'certa.db');
    const before = statSync(file).size;
    // About 300 pages of WAL: far below the 10,000-page safety net.
    for (let i = 0; i < 300; i++) {
      await store.db
        .insertInto('audit_events')
        .values({ id: newId(), at: new Date().toISOString(), actor_user_id: null, actor_email: null, actor_token_id: null, action: 'test', target: `t-${i}`.padEnd(400, 'x'), outcome: 'success', status: 200, request_id: `r-${i}`, ip: null, detail: 'y'.repeat(2000) })
        .execute();
    }
    let grown = statSync(file).size;
    for (const deadline = Date.now() + 10_000; grown <= before + 300 * 2000 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
      grown = statSync(file).size;
    }
    expect(grown).toBeGreaterThan(before + 300 * 2000);
    const rows = await store.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).where('action', '=', 'test').executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(300);
  });

  it('ok/close stops the checkpointer and the data is all there when reopened', async () => {
    dir = mkdtempSync(join(tmpdir(), 'certa-wal-'));
    const first = openStore({ dataDir: dir, databaseUrl: null });
    await first.migrate();
    await first.db.insertInto('audit_events').values({ id: newId(), at: new Date().toISOString(), actor_user_id: null, actor_email: null, actor_token_id: null, action: 'reopen', target: null, outcome: 'success', status: 200, request_id: 'r', ip: null, detail: null }).execute();
    await first.close();
    store = openStore({ dataDir: dir, databaseUrl: null });
    const row = await store.db.selectFrom('audit_events').selectAll().where('action', '=', 'reopen').executeTakeFirst();
    expect(row?.request_id).toBe('r');
  });
});
