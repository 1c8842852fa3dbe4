import type { Static, TSchema } from '@sinclair/typebox';
import { INTAKE_SUBMIT, intakeSubmitMessage } from './intake-submit';
import { JOB_CANCEL, jobCancelMessage } from './job-cancel';
import { JOB_DISPATCH, jobDispatchMessage } from './job-dispatch';
import { JOB_EVENT_MESSAGES, JOB_EVENT_TYPES } from './job-event';
import {
  JOB_EVENT_BATCH,
  JOB_EVENT_BATCH_LINGER_MS,
  JOB_EVENT_BATCH_MAX,
  jobEventBatchMessage,
} from './job-event-batch';
import type { MessageDefinition } from './message';

/**
 * Every AMQP message Switchyard publishes or consumes, by wire name. `publish` and `consume` take
 * their exchange, routing key, properties and validation from here.
 */
export const MESSAGES = {
  [JOB_DISPATCH]: jobDispatchMessage,
  [JOB_CANCEL]: jobCancelMessage,
  [INTAKE_SUBMIT]: intakeSubmitMessage,
  ...JOB_EVENT_MESSAGES,
  [JOB_EVENT_BATCH]: jobEventBatchMessage,
} as const;

/** Where a gathered message goes besides its own exchange: a batch message of up to `max` of them. */
export interface Gathering {
  readonly batch: MessageName;
  readonly max: number;
  /** The least time between two batch messages of one producer while items keep coming (ms). */
  readonly lingerMs: number;
}

/**
 * Messages Switchyard's own consumers receive gathered: `publish` sends each one on its own
 * exchange (for other systems) and also adds it to the producer's batch message of the current
 * event-loop turn, which goes to the internal exchange once per turn.
 */
const GATHERED: Partial<Record<MessageName, Gathering>> = Object.fromEntries(
  JOB_EVENT_TYPES.map((type) => [type, { batch: JOB_EVENT_BATCH, max: JOB_EVENT_BATCH_MAX, lingerMs: JOB_EVENT_BATCH_LINGER_MS }]),
);

/** The batch message `name` is gathered into, if any. */
export function gatheringOf(name: MessageName): Gathering | undefined {
  return GATHERED[name];
}

/** The payload type of message `N` of catalogue `C` (the real one, or one a test extends). */
export type PayloadOf<C, N extends keyof C> = C[N] extends { schema: infer S extends TSchema }
  ? Static<S>
  : never;

export type MessageName = keyof typeof MESSAGES;
export type MessageMap = { [N in MessageName]: PayloadOf<typeof MESSAGES, N> };
export type MessageOf<N extends MessageName> = MessageMap[N];

export function isMessageName(name: string): name is MessageName {
  return Object.hasOwn(MESSAGES, name);
}

/** The definition of `name`, typed by its payload. */
export function messageDefinition<N extends MessageName>(name: N): MessageDefinition {
  return MESSAGES[name];
}
