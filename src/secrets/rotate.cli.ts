/**
 * `npm run rotate-kek`: re-wrap every sealed secret under the current key-encryption key.
 *
 * - With CERTA_MASTER_KEY (the new key, already deployed) and the old key(s) in
 *   CERTA_PREVIOUS_MASTER_KEYS: re-wraps every row still under an old key. Safe while the
 *   service runs (every replica must already have the new key as CERTA_MASTER_KEY).
 * - Embedded mode (no CERTA_MASTER_KEY, `<dataDir>/master.key`), with the service stopped:
 *   `--new-key-file <path>` (base64 of 32 bytes, e.g. `openssl rand -base64 32 > new.key`)
 *   re-wraps every row under the new key, keeps the old key as
 *   `master.key.retired-<kek id>` (backups made before need it), then installs the new
 *   key as master.key.
 *
 * Only the 32-byte data keys are re-wrapped; the ciphertexts are untouched. Resumable: rows
 * already under the current key are skipped, so an interrupted run is simply run again.
 * Exits 1 (naming the rows and their key ids) when a row's key is not loaded.
 */
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { LocalKek, loadOrCreateKek } from '../crypto/envelope.js';
import { openStore } from '../store/db.js';
import { SecretStore, type RewrapResult } from './secret-store.js';

export interface RotateOptions {
  config: Readonly<Config>;
  /** Embedded mode only: the new key (base64 of 32 bytes) to move every secret to, then install as master.key. */
  newKeyFile?: string;
  /** PostgreSQL schema (tests). */
  pgSchema?: string;
  batch?: number;
  log?: (message: string) => void;
}

export interface RotateOutcome extends RewrapResult {
  /** The id of the KEK every secret is now wrapped by. */
  kekId: string;
  /** Secrets that were already under it. */
  alreadyCurrent: number;
}

export class RotationError extends Error {}

export async function rotateKek(opts: RotateOptions): Promise<RotateOutcome> {
  const { config } = opts;
  const log = opts.log ?? (() => {});
  const previous = config.previousMasterKeys.map((k) => LocalKek.fromBase64(k, 'CERTA_PREVIOUS_MASTER_KEYS'));
  let current: LocalKek;
  let installNewKey: (() => void) | null = null;
  if (opts.newKeyFile) {
    // Embedded mode: master.key is the key in use; move everything to the new one.
    if (config.masterKey) throw new RotationError('--new-key-file is for embedded mode (master.key); with CERTA_MASTER_KEY set, deploy the new key as CERTA_MASTER_KEY and the old one in CERTA_PREVIOUS_MASTER_KEYS, then run without --new-key-file');
    const keyPath = join(config.dataDir, 'master.key');
    if (!existsSync(keyPath)) throw new RotationError(`${keyPath} does not exist: nothing to rotate from`);
    const old = loadOrCreateKek({ dataDir: config.dataDir });
    current = LocalKek.fromBase64(readFileSync(opts.newKeyFile, 'utf8'), opts.newKeyFile);
    previous.push(old);
    if (old.id !== current.id) {
      installNewKey = () => {
        const retired = `${keyPath}.retired-${old.id.replace(/^local:/, '')}`;
        if (!existsSync(retired)) copyFileSync(keyPath, retired);
        const tmp = `${keyPath}.${process.pid}.tmp`;
        const fd = openSync(tmp, 'w', 0o600);
        try {
          writeSync(fd, readFileSync(opts.newKeyFile!, 'utf8').trim() + '\n');
        } finally {
          closeSync(fd);
        }
        try {
          renameSync(tmp, keyPath);
        } catch (e) {
          unlinkSync(tmp);
          throw e;
        }
        log(`installed the new key as ${keyPath}; the old one is kept as ${retired} (backups made before need it)`);
      };
    }
  } else {
    current = loadOrCreateKek({ masterKeyBase64: config.masterKey, dataDir: config.dataDir, log: (m, p) => log(`${m}: ${p}`) });
  }

  const store = openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2, pgSchema: opts.pgSchema });
  try {
    if (!(await store.ready())) throw new RotationError('the database schema is not up to date: run `npm run migrate` (or start the service once) first');
    const secrets = new SecretStore(store.db, current, { now: () => new Date() }, previous);
    const total = await store.db.selectFrom('secrets').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const before = await store.db.selectFrom('secrets').select((eb) => eb.fn.countAll<string>().as('n')).where('kek_id', '=', current.id).executeTakeFirstOrThrow();
    log(`current key-encryption key ${current.id}; ${Number(total.n) - Number(before.n)} of ${Number(total.n)} secrets under older keys`);
    const result = await secrets.rewrapAll({ batch: opts.batch });
    if (result.failed.length === 0) installNewKey?.();
    return { ...result, kekId: current.id, alreadyCurrent: Number(before.n) };
  } finally {
    await store.close();
  }
}

function parseArgs(argv: string[]): { newKeyFile?: string } {
  const out: { newKeyFile?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--new-key-file') {
      const v = argv[++i];
      if (!v) throw new RotationError('--new-key-file needs a path');
      out.newKeyFile = resolve(v);
    } else if (a.startsWith('--new-key-file=')) out.newKeyFile = resolve(a.slice('--new-key-file='.length));
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run rotate-kek [-- --new-key-file <path>]\n  see docs/operations/kek-rotation.md');
      process.exit(0);
    } else throw new RotationError(`unknown argument "${a}" (usage: rotate-kek [--new-key-file <path>])`);
  }
  return out;
}

async function main(): Promise<number> {
  try {
    const args = parseArgs(process.argv.slice(2));
    const outcome = await rotateKek({ config: loadConfig(), newKeyFile: args.newKeyFile, log: (m) => console.log(m) });
    console.log(`re-wrapped ${outcome.rewrapped} secret(s) under ${outcome.kekId} (${outcome.alreadyCurrent} already were)`);
    if (outcome.failed.length) {
      console.error(`error: ${outcome.failed.length} secret(s) could not be re-wrapped: their key-encryption key is not loaded.`);
      for (const f of outcome.failed) console.error(`  secret ${f.id} (${f.purpose}) is under ${f.kekId}`);
      console.error('Add the missing key(s) to CERTA_PREVIOUS_MASTER_KEYS and run again (the rows already done are kept).');
      return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof RotationError || e instanceof ConfigError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
