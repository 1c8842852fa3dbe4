import type { JobError } from './errors';
import type { JobEventName } from './routing';
import type { JobStatus } from './job-status';

/**
 * The typed map of every AMQP message Switchyard publishes or consumes. The keys are the
 * messages' `type` property on the wire: never rename them.
 */
export interface MessageMap {
  /** Work message on `switchyard.jobs` → `switchyard.jobs.<queue>`: run this job. */
  'switchyard.job.dispatch': JobDispatch;
  /** Fanout on `switchyard.control`: abort a running job wherever it runs. */
  'switchyard.job.cancel': CancelCommand;
}
export type MessageName = keyof MessageMap;
export type MessageOf<N extends MessageName> = MessageMap[N];

export interface JobDispatch {
  jobId: string;
  tenant: string;
  type: string;
  queue: string;
  /** Epoch ms before which a delayed retry must not start (set on retry messages only). */
  notBefore?: number;
}

export interface CancelCommand {
  jobId: string;
  tenant: string;
}

/** `data` of every lifecycle CloudEvent (SPEC §5). */
export interface JobEventData {
  jobId: string;
  tenant: string;
  type: string;
  queue: string;
  status: JobStatus;
  step: string | null;
  progress: number;
  message: string | null;
  attempt: number;
  seq: number;
  error?: JobError;
  resultUrl?: string;
  /** Times the metrics service needs for wait and duration histograms. */
  createdAt?: string;
  startedAt?: string;
  finishedAt?: string;
  nextAttemptAt?: string;
}

/** CloudEvents 1.0, structured mode (`application/cloudevents+json`). */
export interface JobCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  correlationid: string;
  datacontenttype: 'application/json';
  data: JobEventData;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

export function jobEventName(event: JobCloudEvent): JobEventName {
  return event.type.slice('switchyard.job.'.length) as JobEventName;
}
