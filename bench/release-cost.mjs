// `node bench/release-cost.mjs [--jobs 100000] [--tenants 151] [--levels 10] [--run 1] [--window 65] [--release 20000]
//   [--aging 60000] [--vacuum CALLS] [--reuse]`: the dispatcher's release statement alone
// against its own database (RELEASE_COST_DATABASE_URL, default switchyard_release_cost on the local
// PostgreSQL). --levels 1: every job at the default priority (else priorities 0–9); --run N: a
// tenant's jobs come N at a time in submission order (the throughput bench's batches: 100);
// --vacuum N: VACUUM jobs every N releases; --explain N: the plans of the N-th release and the four
// after it (auto_explain); --reuse: keep the table as the last run left it.
import { requireTs } from './ts-hook.mjs';

await requireTs('./release-cost.ts').main();
