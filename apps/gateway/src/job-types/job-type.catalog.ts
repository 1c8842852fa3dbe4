import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { AnyJobTypeDefinition, HandlerRegistry } from '@switchyard/handler-sdk';
import { JobTypesRepository } from '@switchyard/persistence';
import type { TSchema } from '@sinclair/typebox';
import { HANDLER_REGISTRY, LOGGER, type Logger } from '../gateway.tokens';

const REFRESH_EVERY_MS = 5000;
/** An unknown type triggers a reload at most this often, so garbage types cannot hammer the database. */
const MISS_REFRESH_MIN_MS = 1000;

/**
 * The job types the gateway accepts: the built-in ones, plus those workers registered in
 * `job_types` when they loaded modules from WORKER_HANDLER_MODULES. Built-ins keep their own
 * definitions (their defaults can be functions of the payload); a registered type brings its
 * queue, payload schema and static defaults.
 */
@Injectable()
export class JobTypeCatalog implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    @Inject(HANDLER_REGISTRY) private readonly registry: HandlerRegistry<AnyJobTypeDefinition>,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly jobTypes: JobTypesRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * Before validating: reloads if a submission names a type this gateway has not seen yet. A
   * reload that ran less than MISS_REFRESH_MIN_MS ago may have missed a type a worker registered
   * just after it, so the submission waits for the next allowed reload (at most that long) rather
   * than being refused; unknown types still cost the database at most one reload per interval.
   */
  async ensureKnown(types: readonly string[]): Promise<void> {
    if (this.knows(types)) return;
    const since = Date.now() - this.lastRefresh;
    if (since < MISS_REFRESH_MIN_MS) {
      const seen = this.lastRefresh;
      await new Promise((resolve) => setTimeout(resolve, MISS_REFRESH_MIN_MS - since));
      if (this.knows(types)) return;
      // Another submission's reload started meanwhile (or already answered): its answer is as fresh
      // as ours would be. Judged by the reload itself, not by the clock: a timer may fire a
      // millisecond before Date.now() says the interval has passed.
      if (this.refreshing || this.lastRefresh !== seen) return this.refreshing;
    }
    await this.refresh();
  }

  /** Whether every one of `types` is known now (then ensureKnown has nothing to do). */
  knows(types: readonly string[]): boolean {
    return types.every((type) => this.registry.get(type));
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async load(): Promise<void> {
    this.lastRefresh = Date.now();
    try {
      for (const record of await this.jobTypes.list()) {
        const added = this.registry.register({
          type: record.type,
          queue: record.queue,
          payloadSchema: record.payloadSchema as TSchema,
          defaults: record.defaults,
        });
        if (added)
          this.logger.info(
            { type: record.type, queue: record.queue, source: record.source },
            'job type registered',
          );
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read registered job types');
    }
  }
}

/** The `type` of each submission in a body (one job or a batch), for `ensureKnown`. */
export function typesIn(body: unknown): string[] {
  const typeOf = (item: unknown) =>
    item && typeof item === 'object' && typeof (item as { type?: unknown }).type === 'string'
      ? [(item as { type: string }).type]
      : [];
  const jobs = body && typeof body === 'object' ? (body as { jobs?: unknown }).jobs : undefined;
  return Array.isArray(jobs) ? jobs.flatMap(typeOf) : typeOf(body);
}
