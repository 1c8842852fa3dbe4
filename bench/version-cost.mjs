// `node bench/version-cost.mjs [--jobs 20000] [--tenants 151] [--window 200] [--vacuum 5000] [--explain N] [--self-release]`:
// PostgreSQL's part of the main path alone (batches of 100 jobs inserted with their outbox rows,
// the fair release within a window, the worker's turns of 8), against its own database
// (VERSION_COST_DATABASE_URL, default switchyard_version_cost on the local PostgreSQL; its jobs,
// history and outbox are emptied first). Prints the backends' CPU, the statements' time, WAL and
// buffers per job. --vacuum N: VACUUM ANALYZE jobs every N released jobs (the gateways' table
// maintenance); --explain N: the plans of rounds N and N + 1 (auto_explain); --self-release: every
// job released by its own insert (no release statement, no release version).
import { requireTs } from './ts-hook.mjs';

await requireTs('./version-cost.ts').main();
