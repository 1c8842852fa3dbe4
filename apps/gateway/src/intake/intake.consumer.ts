import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  Ack,
  AmqpClient,
  Requeue,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
} from '@switchyard/messaging';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';
import { IntakeService } from './intake.service';

/** The longest a message waits before it is requeued during a long outage. */
export const MAX_RETRY_DELAY_MS = 30_000;
/** How long shutdown waits for messages being handled (a commit, a confirm) before it goes on. */
const STOP_GRACE_MS = 10_000;
const JITTER = 0.1;
/** Failures further apart than this belong to different outages (retries come at most every ~33 s). */
const OUTAGE_GAP_MS = 2 * MAX_RETRY_DELAY_MS;

/**
 * The delay before a message that met a transient failure is requeued: about as long as the
 * outage has lasted so far, so retries back off (base, 2·base, 4·base, …) however many messages
 * fail at once; an accepted job ends the outage.
 */
export function retryDelayMs(outageMs: number, baseMs: number, random: number = Math.random()): number {
  const delay = Math.min(MAX_RETRY_DELAY_MS, Math.max(baseMs, outageMs));
  return Math.round(delay * (1 - JITTER + 2 * JITTER * random));
}

/**
 * Consumes `<prefix>.intake` with manual acks and a bounded prefetch (INTAKE_PREFETCH). Thin on
 * purpose: IntakeService decides, this turns the decision into a named outcome. Started by main.ts
 * once the HTTP server listens; stopped first on shutdown (Nest runs onModuleDestroy before it
 * closes the HTTP server and the outbox relay).
 */
@Injectable()
export class IntakeConsumer implements OnModuleDestroy {
  private readonly logger: Logger;
  private consumer: ConsumerHandle | undefined;
  private stopping = false;
  /** Ends the waits of transiently failed messages at shutdown: they go back to the queue at once. */
  private readonly stopWaits = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** When the current run of transient failures began, and the last one; undefined while things work. */
  private outage: { since: number; last: number } | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) logger: Logger,
    private readonly amqp: AmqpClient,
    private readonly intake: IntakeService,
  ) {
    this.logger = logger.child({ component: 'intake' });
  }

  /** Subscribes; a no-op once stopping (a signal that arrived while the server was starting). */
  async start(): Promise<void> {
    if (this.stopping || this.consumer) return;
    const queue = this.amqp.names.intakeQueue;
    // Raw: the intake service validates the body itself and moves a bad one to the rejected queue.
    this.consumer = await this.amqp.consumeRaw(queue, (message) => this.track(this.onMessage(message)), {
      prefetch: this.config.INTAKE_PREFETCH,
    });
    this.logger.info({ queue, prefetch: this.config.INTAKE_PREFETCH }, 'intake consumer started');
    // stop() may have run while consume() was subscribing.
    if (this.stopping) await this.consumer.cancel();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.consumer?.cancel();
    this.stopWaits.abort();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_GRACE_MS);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    clearTimeout(timer);
    this.logger.info({ unfinished: this.inFlight.size }, 'intake consumer stopped');
  }

  private async onMessage(message: InboundMessage): Promise<ConsumeOutcome> {
    const result = await this.intake.handle(message);
    switch (result.kind) {
      case 'accepted':
        // A job was admitted: the dependencies answer again.
        this.outage = undefined;
        return Ack;
      case 'rejected':
        // Not proof of recovery: size, content type and JSON are checked without any dependency.
        return Ack;
      case 'transient': {
        const now = Date.now();
        // Without an accepted message in between, a failure long after the last one starts a new outage.
        if (!this.outage || now - this.outage.last > OUTAGE_GAP_MS) this.outage = { since: now, last: now };
        this.outage.last = now;
        await this.wait(retryDelayMs(now - this.outage.since, this.config.INTAKE_RETRY_DELAY_MS));
        return Requeue;
      }
    }
  }

  /** Keeps count of messages being handled, for a graceful stop; the outcome passes through. */
  private track(handling: Promise<ConsumeOutcome>): Promise<ConsumeOutcome> {
    const settled = handling.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return handling;
  }

  private wait(ms: number): Promise<void> {
    const signal = this.stopWaits.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
