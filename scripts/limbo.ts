/**
 * Runs the path-validation engine over an x509-limbo file and writes limbo-format results.
 *
 *   npm run limbo -- <limbo.json> <results.json> [--verbose]
 *
 * Prints `N passed, N failed, N skipped` on its own line, then the pass rate.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { runLimbo } from '../src/pki/verify/limbo.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const verbose = args.includes('--verbose');
  const [input, output] = args.filter((a) => !a.startsWith('--'));
  if (!input || !output) {
    process.stderr.write('usage: npm run limbo -- <limbo.json> <results.json> [--verbose]\n');
    return 2;
  }
  const doc = JSON.parse(await readFile(input, 'utf8'));
  const started = Date.now();
  const summary = await runLimbo(doc);
  await writeFile(output, `${JSON.stringify({ version: 1, harness: 'certa', results: summary.results }, null, 2)}\n`);
  if (verbose) {
    for (const m of summary.mismatches) process.stdout.write(`MISMATCH ${m.id}: expected ${m.expected}, got ${m.actual} — ${m.context}\n`);
    for (const r of summary.results.filter((x) => x.actual_result === 'SKIPPED')) process.stdout.write(`SKIPPED ${r.id}: ${r.context}\n`);
  }
  process.stdout.write(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped\n`);
  process.stdout.write(
    `pass rate ${(summary.passRate * 100).toFixed(2)}% of ${summary.passed + summary.failed} run, ${(summary.skipRate * 100).toFixed(2)}% skipped, ${Date.now() - started} ms\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`limbo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
