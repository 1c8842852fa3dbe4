/** NOTIFY channel: a queue (the payload) may release more (new backlog, or window slots freed). */
export const DISPATCH_CHANNEL = 'switchyard_dispatch';
/** NOTIFY channel: a queue's settings (pause) changed. */
export const QUEUE_SETTINGS_CHANNEL = 'switchyard_queue_settings';
