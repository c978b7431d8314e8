/**
 * Expiry sweep at scale on PostgreSQL: 1,000,000 certificates whose notAfter is spread over
 * a year (from 30 days ago to 335 days ahead), one rule with the default thresholds
 * (30, 14, 7, 1 days + expired) on one channel. Prints the plan of the candidate query,
 * then times a first sweep (everything due is new) and a second one (nothing new).
 *
 *   node --import tsx bench/sweep.bench.ts [certificates]
 *
 * Works in a throwaway database (CERTA_TEST_PG_ADMIN_URL or the local trust-auth server),
 * dropped at the end.
 */
import { CompiledQuery, sql } from 'kysely';
import { startBenchApp } from './lib.js';
import { createChannel } from '../src/notify/channels.usecases.js';
import { createRule } from '../src/notify/rules.usecases.js';
import { runExpirySweep, sweepQuery } from '../src/notify/sweep.usecases.js';
import { candidateQuery, findRule } from '../src/store/notifications.repository.js';
import { addAuthority } from '../src/notify/testing/inventory.js';

const COUNT = Number(process.argv[2] ?? 1_000_000);

const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(2);

async function main(): Promise<void> {
  const bench = await startBenchApp('postgres', { CERTA_NOTIFY_ALLOW_INSECURE_URLS: 'true', CERTA_TARGET_ALLOW: '127.0.0.0/8' });
  try {
    const svc = bench.app.services;
    const db = svc.db;

    // Step 1: the inventory, generated server-side.
    const ca = await addAuthority(db, 'Bench CA');
    const other = await addAuthority(db, 'Other CA');
    let t0 = performance.now();
    await sql`
      insert into certificates (id, authority_id, profile_id, serial, common_name, subject, sans, search_text, not_before, not_after,
        fingerprint_sha256, key_algorithm, usage, der, server_key, owner, notes, issued_by, predecessor_id, successor_id,
        revoked_at, revocation_reason, invalidity_date, archived_at, created_at, updated_at)
      select 'c-' || lpad(i::text, 8, '0'),
             case when i % 10 = 0 then ${other.id} else ${ca.id} end,
             null, to_hex(i), 'svc-' || i || '.bench.example', '{}',
             '{"dns":["svc-' || i || '.bench.example"],"ip":[],"email":[],"uri":[]}',
             'svc-' || i || '.bench.example',
             now() - interval '60 days',
             now() - interval '30 days' + ((i::bigint * 7919) % 31536000) * interval '1 second',
             md5(i::text), 'ecdsa-p256', null, '\\x00'::bytea, false,
             case when i % 7 = 0 then 'team-' || (i % 13) else null end, null, null, null,
             case when i % 101 = 0 then 'c-renewed' else null end,
             case when i % 103 = 0 then now() else null end, null, null,
             case when i % 107 = 0 then now() else null end,
             now(), now()
      from generate_series(1, ${COUNT}::int) as i`.execute(db);
    await sql`
      insert into certificate_labels (certificate_id, key, value)
      select 'c-' || lpad(i::text, 8, '0'), 'team', 'team-' || (i % 20) from generate_series(1, ${COUNT}::int) as i where i % 5 = 0`.execute(db);
    await sql`analyze`.execute(db);
    console.log(`inserted ${COUNT.toLocaleString('en')} certificates (+ labels on 20%) in ${seconds(t0)} s`);

    // Step 2: one channel, one rule with the defaults, on every certificate.
    const channel = await createChannel(svc, { name: 'bench', type: 'webhook', config: { url: 'http://127.0.0.1:9/bench-hook' } });
    const created = await createRule(svc, { name: 'bench', channelIds: [channel.id] });
    const rule = (await findRule(db, created.id))!;

    // Step 3: the plan of the candidate query, executed (read-only): before the first sweep,
    // and in the steady state (every due certificate already marked).
    const explain = async (title: string, at: Date) => {
      const q = candidateQuery(db, sweepQuery(rule, at))
        .select(['x.certificate_id', 'x.threshold', 'rc.channel_id', 'x.not_after'])
        .compile();
      const plan = await db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain (analyze, buffers, costs off) ${q.sql}`, [...q.parameters]));
      console.log(`\nEXPLAIN (ANALYZE, BUFFERS), ${title}:`);
      for (const r of plan.rows) console.log('  ' + r['QUERY PLAN']);
      return q.sql;
    };
    const text = await explain('empty marks table', svc.clock.now());
    console.log('\ncandidate query:\n' + text.replace(/\s+/g, ' '));

    // Step 4: the sweeps: first (everything due is new), again (nothing new), a day later.
    t0 = performance.now();
    const first = await runExpirySweep(svc);
    const firstS = seconds(t0);
    t0 = performance.now();
    const second = await runExpirySweep(svc);
    const secondS = seconds(t0);
    const tomorrow = new Date(svc.clock.now().getTime() + 86_400_000);
    const later = { ...svc, clock: { now: () => tomorrow } };
    t0 = performance.now();
    const third = await runExpirySweep(later);
    const thirdS = seconds(t0);
    await sql`analyze notification_marks`.execute(db);
    await explain('steady state (marks analysed), one day later', new Date(tomorrow.getTime() + 60_000));
    console.log(`\nfirst sweep:  ${firstS} s, ${first.certificatesMatched.toLocaleString('en')} certificates marked, ${first.enqueued} deliveries enqueued`);
    console.log(`second sweep: ${secondS} s, ${second.certificatesMatched} certificates, ${second.enqueued} deliveries (nothing new)`);
    console.log(`a day later:  ${thirdS} s, ${third.certificatesMatched.toLocaleString('en')} certificates marked, ${third.enqueued} deliveries enqueued`);
    const marks = await db.selectFrom('notification_marks').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    console.log(`marks in the table: ${Number(marks.n).toLocaleString('en')}`);
  } finally {
    await bench.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
