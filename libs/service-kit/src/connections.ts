import { AmqpClient, type QueueType } from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import { serviceDataSource, type DatabaseSettings } from '@switchyard/persistence';
import type { DataSource } from 'typeorm';

/** The connection settings every service reads (CommonEnv in @switchyard/config). */
export interface ConnectionSettings extends DatabaseSettings {
  AMQP_URL: string;
  AMQP_PREFIX: string;
  DLQ_MAX_LENGTH: number;
  AMQP_QUEUE_TYPE: QueueType;
}

export interface ServiceConnectionOptions {
  /** The pool's application_name in pg_stat_activity. */
  service: string;
  /** The connection's name in the RabbitMQ management UI. */
  connectionName: string;
  logger: Logger;
}

/** Opens a service's PostgreSQL pool, then its RabbitMQ connection; a failure rejects the boot. */
export async function openConnections(
  settings: ConnectionSettings,
  options: ServiceConnectionOptions,
): Promise<{ db: DataSource; amqp: AmqpClient }> {
  const db = serviceDataSource(settings, options.service);
  const amqp = new AmqpClient({
    url: settings.AMQP_URL,
    prefix: settings.AMQP_PREFIX,
    connectionName: options.connectionName,
    deadLetterMaxLength: settings.DLQ_MAX_LENGTH,
    queueType: settings.AMQP_QUEUE_TYPE,
    logger: options.logger,
  });
  await db.initialize();
  await amqp.connect();
  return { db, amqp };
}
