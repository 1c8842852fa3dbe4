import type { JobLogEvent, JobLogLine, LogLevel } from '@switchyard/contracts';
import type { JobLog } from '@switchyard/handler-sdk';
import { detached, type Logger } from '@switchyard/observability';
import type { JobLogsRepository, NewJobLogLine } from '@switchyard/persistence';
import { cleanText } from './output-bounds';

export interface JobLogWriterOptions {
  /** JOB_LOG_MAX_LINES: lines kept per attempt; the rest are counted. */
  maxLines: number;
  /** JOB_LOG_LINE_MAX_CHARS: a longer message is cut. */
  lineMaxChars: number;
  /** Lines wait at most this long before they are written. */
  flushMs?: number;
  /** A batch this large is written at once. */
  batchLines?: number;
  /** Lines held while writes lag (PostgreSQL slow or away); beyond it lines are dropped, counted. */
  maxBuffered?: number;
}

/** Longest JSON of a line's `fields`; larger fields are replaced by a note. */
const FIELDS_MAX_CHARS = 8192;

/**
 * `ctx.log` of one attempt: keeps its first JOB_LOG_MAX_LINES lines (cut to the line length) and
 * counts the rest. Lines go to the writer, never to PostgreSQL from the handler's call.
 */
export class AttemptLog implements JobLog {
  kept = 0;
  dropped = 0;
  /** Lines of this attempt the writer has not written yet. */
  unwritten = 0;

  constructor(
    private readonly writer: JobLogWriter,
    readonly jobId: string,
    readonly attempt: number,
  ) {}

  info(message: string, fields?: Record<string, unknown>): void {
    this.write('info', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.write('warn', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.write('error', message, fields);
  }

  private write(level: LogLevel, message: unknown, fields: unknown): void {
    if (this.kept >= this.writer.maxLines || !this.writer.accept(this, level, message, fields)) {
      this.dropped++;
      return;
    }
    this.kept++;
  }
}

/**
 * Writes the lines of every attempt of this worker in batches (one INSERT per batch, at most
 * every `flushMs`), then announces them on the log channel for SSE. The handler's call only
 * appends to a bounded buffer; an attempt waits for its own lines only when it ends, and only if
 * it logged, so that its terminal event follows its last line.
 */
export class JobLogWriter {
  readonly maxLines: number;
  private readonly lineMaxChars: number;
  private readonly flushMs: number;
  private readonly batchLines: number;
  private readonly maxBuffered: number;
  private pending: { log: AttemptLog; line: NewJobLogLine }[] = [];
  private overflow: { jobId: string; attempt: number; dropped: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The write under way; writes run one after the other so ids follow the logged order. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<JobLogsRepository, 'append' | 'recordOverflow'>,
    private readonly announce: (events: JobLogEvent[]) => Promise<void>,
    private readonly logger: Logger,
    options: JobLogWriterOptions,
  ) {
    this.maxLines = options.maxLines;
    this.lineMaxChars = options.lineMaxChars;
    this.flushMs = options.flushMs ?? 200;
    this.batchLines = options.batchLines ?? 500;
    this.maxBuffered = options.maxBuffered ?? 20000;
  }

  /** The `ctx.log` of an attempt. */
  attempt(jobId: string, attempt: number): AttemptLog {
    return new AttemptLog(this, jobId, attempt);
  }

  /** Takes one line into the buffer; false when the buffer is full (the line is dropped). */
  accept(log: AttemptLog, level: LogLevel, message: unknown, fields: unknown): boolean {
    if (this.pending.length >= this.maxBuffered) return false;
    const text = cleanText(message, this.lineMaxChars).text ?? '';
    this.pending.push({
      log,
      line: {
        jobId: log.jobId,
        attempt: log.attempt,
        level,
        message: text,
        fields: cleanFields(fields),
        at: new Date(),
      },
    });
    log.unwritten++;
    // A batch serves many attempts: written outside the trace of the one that filled it.
    if (this.pending.length >= this.batchLines) void detached(() => this.flush());
    else this.timer ??= setTimeout(() => void detached(() => this.flush()), this.flushMs);
    return true;
  }

  /**
   * The attempt ended: its overflow is recorded, and the returned promise (undefined when the
   * attempt logged nothing) resolves once its lines are written.
   */
  finish(log: AttemptLog): Promise<void> | undefined {
    if (log.dropped) this.overflow.push({ jobId: log.jobId, attempt: log.attempt, dropped: log.dropped });
    if (!log.unwritten && !log.dropped) return undefined;
    return this.flush();
  }

  /** Writes what is buffered (after the write under way); resolves when written. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    const overflow = this.overflow;
    this.pending = [];
    this.overflow = [];
    if (!batch.length && !overflow.length) return this.writing;
    this.writing = this.writing.then(() => this.write(batch, overflow));
    return this.writing;
  }

  private async write(
    batch: { log: AttemptLog; line: NewJobLogLine }[],
    overflow: { jobId: string; attempt: number; dropped: number }[],
  ): Promise<void> {
    try {
      await this.store.append(batch.map((b) => b.line));
      await this.store.recordOverflow(overflow);
    } catch (error) {
      // Job logs are best effort: a database outage loses them rather than stalling jobs.
      this.logger.warn({ err: error, lines: batch.length }, 'job log lines could not be stored; dropped');
      return;
    } finally {
      for (const { log } of batch) log.unwritten--;
    }
    const byJob = new Map<string, JobLogLine[]>();
    for (const { line } of batch) {
      let lines = byJob.get(line.jobId);
      if (!lines) byJob.set(line.jobId, (lines = []));
      lines.push({
        attempt: line.attempt,
        level: line.level,
        message: line.message,
        fields: line.fields,
        at: line.at.toISOString(),
      });
    }
    await this.announce([...byJob].map(([jobId, lines]) => ({ jobId, lines }))).catch((error: unknown) => {
      this.logger.debug({ err: error }, 'job log lines could not be announced for SSE');
    });
  }
}

/** Fields as stored: plain JSON, storable in jsonb (no U+0000), bounded. */
function cleanFields(fields: unknown): Record<string, unknown> | null {
  if (fields === undefined || fields === null) return null;
  if (typeof fields !== 'object' || Array.isArray(fields)) return { value: cleanText(fields, 200).text };
  let json: string | undefined;
  try {
    json = JSON.stringify(fields);
  } catch {
    return { unserialisable: true };
  }
  if (json === undefined) return null;
  if (json.length > FIELDS_MAX_CHARS) return { truncated: true, bytes: json.length };
  // jsonb refuses the \u0000 escape; lone surrogates come out of JSON.stringify escaped already.
  return JSON.parse(json.replace(/\\u0000/g, '\\ufffd')) as Record<string, unknown>;
}
