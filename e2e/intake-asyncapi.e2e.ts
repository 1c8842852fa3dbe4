// docs/asyncapi.yaml against the AsyncAPI parser and against the code: every exchange, queue and
// routing key the code declares is named in it (and nothing else), and its schemas accept what the
// code builds. The lists come from the code (libs/contracts, libs/messaging), never copied by hand.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import {
  amqpNames,
  API_ERRORS,
  CLOUDEVENTS_BATCH_CONTENT_TYPE,
  createJobEvent,
  EVENT_BATCH_ROUTING_KEY,
  eventCloudType,
  eventRoutingKey,
  JOB_EVENT_BATCH,
  JOB_EVENT_BATCH_MAX,
  JOB_EVENTS,
  JOB_STATUSES,
  JobSubmissionSchema,
  MAX_PRIORITY,
} from '@switchyard/contracts';
import {
  declareTopology,
  topologyNames,
  workQueueArguments,
  type TopologyChannel,
} from '@switchyard/messaging';
import { jobEventFromRow, type JobRow } from '@switchyard/persistence';

const DOC_PATH = join(__dirname, '..', 'docs', 'asyncapi.yaml');
/** The document describes the default prefix (SPEC §5); other prefixes replace it. */
const names = amqpNames('switchyard');

interface AmqpBinding {
  is?: 'routingKey' | 'queue';
  exchange?: { name: string; type: string };
  queue?: { name: string };
}
interface DocChannel {
  address: string | null;
  parameters?: Record<string, { enum?: string[] }>;
  messages?: Record<string, { name?: string; contentType?: string }>;
  bindings?: { amqp?: AmqpBinding };
}
interface DocJson {
  channels: Record<string, DocChannel>;
  components: {
    schemas: Record<string, { properties?: Record<string, unknown>; required?: string[]; enum?: string[] }>;
  };
}

/** `a.{x}.b` with each enum value of parameter x (every combination); a template without enums stays. */
function expand(template: string, parameters: DocChannel['parameters'] = {}): string[] {
  const match = /\{([^}]+)\}/.exec(template);
  if (!match?.[1]) return [template];
  const values = parameters[match[1]]?.enum;
  if (!values?.length) return [template];
  return values.flatMap((v) => expand(template.replace(match[0], v), parameters));
}

/** What declareTopology really declares, recorded from the code path every service runs. */
async function declaredTopology() {
  const exchanges = new Map<string, string>();
  const queues = new Map<string, Record<string, unknown> | undefined>();
  const bindings: { queue: string; exchange: string; pattern: string }[] = [];
  const recorder: TopologyChannel = {
    assertExchange: (name: string, type: string) => {
      exchanges.set(name, type);
      return Promise.resolve({ exchange: name });
    },
    assertQueue: (name: string, options?: { arguments?: Record<string, unknown> }) => {
      queues.set(name, options?.arguments);
      return Promise.resolve({ queue: name, messageCount: 0, consumerCount: 0 });
    },
    bindQueue: (queue: string, exchange: string, pattern: string) => {
      bindings.push({ queue, exchange, pattern });
      return Promise.resolve({});
    },
  };
  await declareTopology(recorder, names);
  return { exchanges, queues, bindings };
}

describe('docs/asyncapi.yaml', () => {
  let doc: DocJson;
  let raw: { components: Record<string, unknown> };
  const exchangesInDoc = new Map<string, { type: string; keys: Set<string | null> }>();
  const queuesInDoc = new Set<string>();

  beforeAll(async () => {
    const text = readFileSync(DOC_PATH, 'utf8');
    const { document, diagnostics } = await new Parser().parse(text);
    // Severity 0 = error, 1 = warning; 2–3 (information, hint) do not make the document wrong.
    const problems = diagnostics
      .filter((d) => Number(d.severity) <= 1)
      .map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
    expect(problems).toEqual([]);
    if (!document) throw new Error('the AsyncAPI parser returned no document');
    doc = document.json<DocJson>();
    raw = parseYaml(text) as { components: Record<string, unknown> };

    for (const channel of Object.values(doc.channels)) {
      const amqp = channel.bindings?.amqp;
      if (amqp?.is === 'routingKey' && amqp.exchange) {
        const entry = exchangesInDoc.get(amqp.exchange.name) ?? { type: amqp.exchange.type, keys: new Set() };
        for (const key of channel.address === null ? [null] : expand(channel.address, channel.parameters)) {
          entry.keys.add(key);
        }
        exchangesInDoc.set(amqp.exchange.name, entry);
      }
      if (amqp?.is === 'queue' && amqp.queue) {
        for (const queue of expand(amqp.queue.name, channel.parameters)) queuesInDoc.add(queue);
      }
    }
  });

  it('is a valid AsyncAPI 3 document describing AMQP', () => {
    expect(Object.keys(doc.channels).length).toBeGreaterThan(10);
    expect(readFileSync(DOC_PATH, 'utf8')).toMatch(/^asyncapi: 3\./);
  });

  it('names every exchange (with its type) and queue the code declares, and no other', async () => {
    const declared = await declaredTopology();
    const listed = topologyNames(names);
    // The two lists the code keeps agree, so either may be the reference.
    expect([...declared.exchanges.keys()].sort()).toEqual([...listed.exchanges].sort());
    expect([...declared.queues.keys()].sort()).toEqual([...listed.queues].sort());

    for (const [exchange, type] of declared.exchanges) {
      expect([exchange, exchangesInDoc.get(exchange)?.type]).toEqual([exchange, type]);
    }
    for (const queue of declared.queues.keys())
      expect([queue, queuesInDoc.has(queue)]).toEqual([queue, true]);
    // And nothing that does not exist: besides the declared names, only the requester's reply queue.
    expect([...exchangesInDoc.keys()].filter((e) => !declared.exchanges.has(e))).toEqual([]);
    expect([...queuesInDoc].filter((q) => !declared.queues.has(q))).toEqual(['{replyTo}']);
  });

  it('names every routing key the code binds, and each lifecycle event key with its CloudEvent type', async () => {
    const declared = await declaredTopology();
    for (const { exchange, pattern } of declared.bindings) {
      const entry = exchangesInDoc.get(exchange);
      // A fanout exchange ignores routing keys: its channel has no address.
      const key = entry?.type === 'fanout' ? null : pattern;
      expect([exchange, pattern, entry?.keys.has(key)]).toEqual([exchange, pattern, true]);
    }
    const events = exchangesInDoc.get(names.eventsExchange);
    expect(events?.type).toBe('topic');
    expect([...(events?.keys ?? [])].sort()).toEqual(JOB_EVENTS.map(eventRoutingKey).sort());
    for (const event of JOB_EVENTS) {
      const channel = Object.values(doc.channels).find((c) => c.address === eventRoutingKey(event));
      const messages = Object.values(channel?.messages ?? {});
      expect(messages.map((m) => [m.name, m.contentType])).toEqual([
        [eventCloudType(event), 'application/cloudevents+json'],
      ]);
    }
    // The internal batch of lifecycle events: its wire name, content type and size limit.
    const batchChannel = Object.values(doc.channels).find((c) => c.address === EVENT_BATCH_ROUTING_KEY);
    expect(Object.values(batchChannel?.messages ?? {}).map((m) => [m.name, m.contentType])).toEqual([
      [JOB_EVENT_BATCH, CLOUDEVENTS_BATCH_CONTENT_TYPE],
    ]);
    expect(raw.components).toMatchObject({
      schemas: { JobEventBatch: { maxItems: JOB_EVENT_BATCH_MAX } },
    });
    // The work queues carry the priority argument the code gives them.
    expect(workQueueArguments(names)['x-max-priority']).toBe(MAX_PRIORITY);
    expect(JSON.stringify(doc.channels['workQueue'])).toContain(`x-max-priority: ${MAX_PRIORITY}`);
  });

  it('describes the intake body with the submission schema’s fields and the intake rejection codes', () => {
    const { schemas } = doc.components;
    expect(Object.keys(schemas['JobSubmission']?.properties ?? {}).sort()).toEqual(
      Object.keys(JobSubmissionSchema.properties).sort(),
    );
    expect(schemas['JobSubmission']?.required).toEqual(JobSubmissionSchema.required);
    expect(schemas['JobStatus']?.enum).toEqual([...JOB_STATUSES]);
    const codes = schemas['RejectionCode']?.enum ?? [];
    const possible = new Set<string>([
      ...Object.keys(API_ERRORS),
      'invalid_json',
      'unsupported_content_type',
    ]);
    expect(codes.filter((c) => !possible.has(c))).toEqual([]);
    // SPEC §5's list, plus forbidden (a key without jobs:write, REST's 403).
    for (const code of [
      'validation_failed',
      'unknown_job_type',
      'unauthorized',
      'forbidden',
      'payload_too_large',
      'tenant_quota_exceeded',
      'queue_full',
      'idempotency_conflict',
      'invalid_json',
      'unsupported_content_type',
    ]) {
      expect(codes).toContain(code);
    }
  });

  it('has a CloudEvent schema that accepts the events the gateway and the worker build, and refuses others', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'asyncapi.json', components: raw.components });
    const validate = ajv.getSchema('asyncapi.json#/components/schemas/JobCloudEvent');
    if (!validate) throw new Error('no JobCloudEvent schema');
    const jobId = '0d9c8b7a-6f5e-4d3c-9b1a-0f9e8d7c6b5a';
    const queued = createJobEvent(
      'gateway',
      'queued',
      {
        jobId,
        tenant: 'acme',
        type: 'synthetic',
        queue: 'default',
        status: 'queued',
        step: null,
        progress: 0,
        message: null,
        attempt: 0,
        seq: 1,
        createdAt: new Date().toISOString(),
      },
      'corr-1',
    );
    const row = {
      id: jobId,
      tenant: 'acme',
      type: 'synthetic',
      queue: 'default',
      status: 'failed',
      step: 'working',
      progress: 50,
      message: 'half way',
      attempts: 3,
      event_seq: '20004',
      error: { code: 'timeout', message: 'took too long', retryable: false },
      result_url: null,
      created_at: new Date(),
      started_at: new Date(),
      finished_at: new Date(),
      next_attempt_at: null,
      correlation_id: 'corr-1',
    } as unknown as JobRow;
    const failed = jobEventFromRow('worker', 'failed', row);
    for (const event of [queued, failed]) {
      expect([event.type, validate(event), ajv.errorsText(validate.errors)]).toEqual([
        event.type,
        true,
        'No errors',
      ]);
    }
    expect(validate({ ...failed, specversion: '0.3' })).toBe(false);
    expect(validate({ ...failed, data: { ...failed.data, seq: undefined } })).toBe(false);
  });
});
