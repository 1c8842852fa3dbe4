import { JobSubmissionSchema } from '../job';
import { INTAKE_ROUTING_KEY } from '../routing';
import { defineMessage } from './message';

/**
 * Name of the intake message in the catalogue and the `type` a Switchyard publisher sets; the
 * gateway does not require the property from other systems. Never rename it.
 */
export const INTAKE_SUBMIT = 'switchyard.intake.submit';

/**
 * The AMQP `type` of a rejected intake copy whose original had none, and of the replies sent to
 * `reply_to` (SPEC §5). Consumers of `<prefix>.intake.rejected` and of replies match on them: never
 * rename them.
 */
export const INTAKE_REJECTED = 'switchyard.intake.rejected';
export const INTAKE_REPLY = 'switchyard.intake.reply';

/** A job submitted over AMQP: the body of `POST /api/v1/jobs`, on `<prefix>.intake` with key `submit`. */
export const intakeSubmitMessage = defineMessage({
  schema: JobSubmissionSchema,
  exchange: (names) => names.intakeExchange,
  routingKey: () => INTAKE_ROUTING_KEY,
  properties: () => ({ type: INTAKE_SUBMIT }),
  traced: true,
  mandatory: true,
});
