/** NOTIFY channel: a queue (the payload) may release more (new backlog, or window slots freed). */
export const DISPATCH_CHANNEL = 'switchyard_dispatch';
/**
 * NOTIFY channel: a job with a concurrency key of the queue (the payload) ended or went back to
 * the backlog, so a slot of its key may be free (from the `jobs_keyed_slot_freed` trigger; never
 * rename: the migration names it).
 */
export const KEYED_CHANNEL = 'switchyard_keyed';
/** NOTIFY channel: a queue's settings (pause) changed. */
export const QUEUE_SETTINGS_CHANNEL = 'switchyard_queue_settings';
/**
 * NOTIFY channel of the schedule evaluators: `changed` (a schedule was created, changed, resumed or
 * deleted: re-arm the timer) or `finished:<scheduleId>` (one of its runs reached a terminal state).
 */
export const SCHEDULES_CHANNEL = 'switchyard_schedules';

/**
 * NOTIFY channel: a claim took jobs of a queue out of its dispatch window. Payload `<count>:<queue>`
 * (the count first: a queue name may hold any character), one per queue the claim touched.
 */
export const CLAIMED_CHANNEL = 'switchyard_claimed';

/** The payload of a CLAIMED_CHANNEL notification, or null when it is not one. */
export function parseClaimed(payload: string): { queue: string; count: number } | null {
  const colon = payload.indexOf(':');
  const count = Number(payload.slice(0, colon));
  if (colon <= 0 || !Number.isSafeInteger(count) || count < 0) return null;
  return { queue: payload.slice(colon + 1), count };
}
