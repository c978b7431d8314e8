/**
 * A second service process on the same store as the bench's own App (same data dir, or
 * the same PostgreSQL database), as another replica or a second process on the host would
 * be: it starts, sends its URL over IPC, and stops on any message. Jobs are off.
 */
import { App } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { benchConfig } from './lib.js';

const [dataDir, databaseUrl] = process.argv.slice(2);
const config = benchConfig(dataDir, databaseUrl || undefined);
const app = new App({ config, logger: createLogger('silent') });
await app.start();
process.send!(app.url);
process.once('message', async () => {
  await app.stop();
  process.exit(0);
});
