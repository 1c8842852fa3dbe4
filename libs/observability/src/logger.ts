import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { correlation } from './context';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout: `time` (ISO-8601), `level` (label), `service`, `msg`, plus the current
 * correlation context. API keys and payloads are redacted wherever they appear by name.
 */
export function createLogger(service: string, level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => ({ ...correlation.get() }),
      redact: {
        paths: [
          'apiKey',
          'key',
          'payload',
          'headers.authorization',
          'headers["x-api-key"]',
          '*.apiKey',
          '*.payload',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** Routes NestJS's own log lines through pino so they are JSON too. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
