/**
 * Compile-time proof that publish() checks a payload against its message: every line marked
 * `@ts-expect-error` must stay an error (`npm run typecheck` fails otherwise), and
 * typed-publish.spec.ts compiles this file without the markers and expects exactly those errors.
 * Never executed.
 */
import { Type } from '@sinclair/typebox';
import { defineMessage, JOB_CANCEL, JOB_DISPATCH, MESSAGES } from '@switchyard/contracts';
import type { AmqpClient, Publish } from './amqp-client';

/** The catalogue with one message added, as a new feature would add it. */
const WIDGET_MADE = 'switchyard.test.widget-made';
export const CATALOGUE = {
  ...MESSAGES,
  [WIDGET_MADE]: defineMessage({
    schema: Type.Object({ widgetId: Type.String(), count: Type.Integer() }),
    exchange: (names) => names.eventsExchange,
    routingKey: () => 'widget.made',
    properties: () => ({ type: WIDGET_MADE }),
    mandatory: false,
  }),
};

export function typedPublishChecks(amqp: AmqpClient, publish: Publish<typeof CATALOGUE>): void {
  void publish(WIDGET_MADE, { widgetId: 'w-1', count: 2 });
  // @ts-expect-error the added message's payload has no `count`
  void publish(WIDGET_MADE, { widgetId: 'w-1' });

  void amqp.publish(JOB_CANCEL, { jobId: 'j', tenant: 't' });
  // @ts-expect-error a dispatch is not a cancel command
  void amqp.publish(JOB_DISPATCH, { jobId: 'j', tenant: 't' });
}
