/** Entry point: load config, build the app, start; SIGTERM/SIGINT -> graceful stop. */
import { loadConfig, ConfigError } from './config/config.js';
import { App } from './app.js';
import { ListenError } from './http/edge.js';

let config;
try {
  config = loadConfig();
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}

const app = new App({ config });
try {
  await app.start();
} catch (err) {
  // A port that cannot be bound is the operator's to fix: one line naming the variables, no stack.
  if (err instanceof ListenError) {
    console.error(`certa: ${err.message}`);
    await app.stop().catch(() => {});
    process.exit(1);
  }
  app.log.fatal({ err }, 'failed to start');
  await app.stop().catch(() => {});
  process.exit(1);
}

let signals = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (++signals > 1) process.exit(1);
    app.log.info({ signal: sig }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
process.on('unhandledRejection', (err) => app.log.error({ err }, 'unhandled rejection'));
