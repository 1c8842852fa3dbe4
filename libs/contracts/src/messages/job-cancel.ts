import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from './message';

/** Wire name (the AMQP `type` property): other systems match on it, never rename it. */
export const JOB_CANCEL = 'switchyard.job.cancel';

/** Fanout on `<prefix>.control`: abort a running job wherever it runs. */
export const CancelCommandSchema = Type.Object({
  jobId: Type.String(),
  tenant: Type.String(),
});
export type CancelCommand = Static<typeof CancelCommandSchema>;

export const jobCancelMessage = defineMessage({
  schema: CancelCommandSchema,
  exchange: (names) => names.controlExchange,
  routingKey: () => '',
  properties: () => ({ type: JOB_CANCEL }),
  mandatory: false,
});
