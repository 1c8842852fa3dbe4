// `npm run migrate`: applies pending migrations to DATABASE_URL and exits.
import { CommonConfigSchema, loadConfigOrExit } from '@switchyard/config';
import { createLogger } from '@switchyard/observability';
import { runMigrations } from './data-source';

const config = loadConfigOrExit(CommonConfigSchema, 'migrate');
const logger = createLogger('migrate', config.LOG_LEVEL);

runMigrations(config.DATABASE_URL).then(
  (applied) => {
    logger.info(
      { applied },
      applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date',
    );
    logger.flush();
  },
  (error: unknown) => {
    logger.fatal({ err: error }, 'migration failed');
    logger.flush();
    process.exitCode = 1;
  },
);
