/** NOTIFY channel: a queue (the payload) may release more (new backlog, or window slots freed). */
export const DISPATCH_CHANNEL = 'switchyard_dispatch';
/** NOTIFY channel: a queue's settings (pause) changed. */
export const QUEUE_SETTINGS_CHANNEL = 'switchyard_queue_settings';
/**
 * NOTIFY channel of the schedule evaluators: `changed` (a schedule was created, changed, resumed or
 * deleted: re-arm the timer) or `finished:<scheduleId>` (one of its runs reached a terminal state).
 */
export const SCHEDULES_CHANNEL = 'switchyard_schedules';
