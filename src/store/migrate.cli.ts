/** `npm run migrate`: apply pending migrations to the configured database and exit. */
import { loadConfig } from '../config/config.js';
import { openStore } from './db.js';

const config = loadConfig();
const store = openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
try {
  const applied = await store.migrate();
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
} finally {
  await store.close();
}
