import type { AnyJobHandler } from './handler';
import { syntheticHandler } from './synthetic/synthetic.handler';

/** Every job type Switchyard ships (SPEC §7). */
export const BUILT_IN_HANDLERS: readonly AnyJobHandler[] = [syntheticHandler];
