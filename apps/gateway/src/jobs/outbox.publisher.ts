import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { AmqpClient, TurnBatches, type BatchShape } from '@switchyard/messaging';
import { OutboxRelay } from '@switchyard/outbox';
import { JobsRepository, type OutboxRecord } from '@switchyard/persistence';
import { Dispatcher } from '../dispatch/dispatcher';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';
import { isMergeableWork, mergeWorkMessages, type WorkRecord } from './work-messages';

/** The one batch name of the work messages the fast path gathers. */
const WORK = 'work';

/** Unconfirmed background publishes beyond which submissions wait for their own confirms. */
const BACKGROUND_MAX_MESSAGES = 2000;
/** Shutdown waits at most this long for background publishes to be confirmed. */
const SHUTDOWN_WAIT_MS = 5000;

/** The gateway's outbox relay (see libs/outbox), started and stopped with the app. */
@Injectable()
export class OutboxPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly relay: OutboxRelay;
  /** Background publishes still waiting for their confirms; shutdown waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightMessages = 0;
  /** The fast path's work messages, gathered per linger (DISPATCH_LINGER_MS) and sent merged. */
  private readonly work: TurnBatches<WorkRecord>;
  private readonly workShape: BatchShape;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    jobs: JobsRepository,
    amqp: AmqpClient,
    @Inject(Dispatcher) private readonly dispatcher: Pick<Dispatcher, 'batchSizeOf'>,
  ) {
    this.relay = new OutboxRelay(jobs, amqp, logger, { maxDelayMs: config.OUTBOX_MAX_DELAY_MS });
    this.work = new TurnBatches<WorkRecord>((_, records) =>
      this.relay.publishMerged(mergeWorkMessages(records, (type) => this.dispatcher.batchSizeOf(type))),
    );
    // Merged per queue, priority and type by mergeWorkMessages, so no cap on what one linger holds.
    this.workShape = { max: Number.POSITIVE_INFINITY, lingerMs: config.DISPATCH_LINGER_MS };
  }

  onModuleInit(): void {
    this.relay.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.work.flush();
    // Unconfirmed rows stay in the outbox and are published after a restart: never wait for ever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
    ]);
    clearTimeout(timer);
    await this.relay.stop();
  }

  /** Publishes committed outbox rows and waits for the broker's confirms. */
  async publishCommitted(records: OutboxRecord[]): Promise<void> {
    this.crashIfInjected();
    await this.relay.publishCommitted(records);
  }

  /**
   * Publishes committed outbox rows without holding up the caller: the rows are durable, so the
   * answer need not wait for the broker's confirms. Whatever is not confirmed (a crash, a broker
   * outage) the relay republishes within OUTBOX_MAX_DELAY_MS; a duplicate is harmless. While more
   * than BACKGROUND_MAX_MESSAGES are unconfirmed the caller waits after all (backpressure).
   * The encoding and the writes to the broker's socket start on the next event-loop turn
   * (setImmediate), so the caller's answer (the 202) is written first; work messages committed
   * within DISPATCH_LINGER_MS of the last ones published wait for the linger to end and go out
   * merged. Returns the publish to wait for only under backpressure (undefined otherwise).
   */
  publishAfterCommit(records: OutboxRecord[]): Promise<void> | undefined {
    this.crashIfInjected();
    const work: WorkRecord[] = [];
    const others: OutboxRecord[] = [];
    // DISPATCH_LINGER_MS=0: every insert's work message goes out as written, none merged.
    const merging = this.config.DISPATCH_LINGER_MS > 0;
    for (const record of records) (merging && isMergeableWork(record) ? work : others).push(record);
    const waits: Promise<void>[] = [];
    if (work.length) {
      const gathered = work.map((record) => this.work.add(WORK, this.workShape, record));
      waits.push(
        this.track(
          work.length,
          Promise.all(gathered).then(() => undefined),
        ),
      );
    }
    if (others.length)
      waits.push(
        this.track(
          others.length,
          new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
            this.relay.publishCommitted(others),
          ),
        ),
      );
    if (this.inFlightMessages <= BACKGROUND_MAX_MESSAGES) return undefined;
    return Promise.all(waits).then(() => undefined);
  }

  /** Counts `count` messages as unconfirmed until `publish` settles (never rejects). */
  private track(count: number, publish: Promise<void>): Promise<void> {
    this.inFlightMessages += count;
    const publishing = publish
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'publish after commit failed; the outbox relay will retry');
      })
      .finally(() => {
        this.inFlightMessages -= count;
        this.inFlight.delete(publishing);
      });
    this.inFlight.add(publishing);
    return publishing;
  }

  private crashIfInjected(): void {
    if (this.config.FAULT_INJECT === 'crash_after_commit') {
      // Test-only switch (off by default): die between the commit and the publish, before answering.
      this.logger.fatal('fault injection: crashing between commit and publish');
      process.kill(process.pid, 'SIGKILL');
    }
  }
}
