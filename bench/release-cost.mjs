// `node bench/release-cost.mjs [--jobs 100000] [--tenants 151] [--window 65] [--release 20000]
//   [--aging 60000] [--vacuum CALLS] [--reuse]`: the dispatcher's release statement alone
// against its own database (RELEASE_COST_DATABASE_URL, default switchyard_release_cost on the local
// PostgreSQL). --vacuum N: VACUUM jobs every N releases; --reuse: keep the table as the last run
// left it.
import { requireTs } from './ts-hook.mjs';

await requireTs('./release-cost.ts').main();
