/**
 * A second service process on the same store as the bench's own App (same data dir, or
 * the same PostgreSQL database), as another replica or a second process on the host would
 * be: it starts, sends its URL over IPC, and stops on any message. Jobs are off.
 */
import { App } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';

const [dataDir, databaseUrl] = process.argv.slice(2);
const config = loadConfig({
  CERTA_PORT: '0',
  CERTA_HOST: '127.0.0.1',
  CERTA_DATA_DIR: dataDir,
  CERTA_ADMIN_PASSWORD: 'bench-admin-password',
  CERTA_LOG_LEVEL: 'silent',
  CERTA_JOBS: 'false',
  ...(databaseUrl ? { CERTA_DATABASE_URL: databaseUrl, CERTA_DB_POOL_SIZE: '20' } : {}),
});
const app = new App({ config, logger: createLogger('silent') });
await app.start();
process.send!(app.url);
process.once('message', async () => {
  await app.stop();
  process.exit(0);
});
