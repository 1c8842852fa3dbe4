import { EventEmitter } from 'node:events';
import { connect as connectManager, type AmqpConnectionManager } from 'amqp-connection-manager';
import type { ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { errorMessage, isPermanentError, MessagingError } from './errors';
import { reconnectDelay, redactUrl, rotatedUrlList } from './reconnect-backoff';
import { coalesceConnectionWrites } from './write-coalescing';

/** One live AMQP connection; `closed` once it is gone. */
export interface Session {
  readonly model: ChannelModel;
  closed: boolean;
}

export interface ConnectionOptions {
  /** One URL, or the nodes of a cluster separated by commas. */
  url: string;
  connectionName: string;
  logger: Logger;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  connectTimeoutMs: number;
  /** How long waitForSession() waits by default. */
  waitMs: number;
}

export interface SessionSetup {
  /** Must succeed before the session is used (topology, publish channel); a failure drops the connection. */
  prepare(session: Session): Promise<void>;
  /** Best effort once the session is in use, before 'connected' (re-declared queues, consumers). */
  restore(session: Session): Promise<void>;
}

interface SessionWaiter {
  resolve(session: Session): void;
  reject(error: Error): void;
}

/** amqplib's connect timeout for every attempt; connect() has its own deadline on top. */
const SOCKET_TIMEOUT_MS = 10_000;

/**
 * The connection and its reconnection, on amqp-connection-manager: the manager retries connecting
 * (its delay is set before each retry, for backoff with jitter); this class prepares each new
 * connection and tells the rest of the client when a session can be used.
 */
export class AmqpConnection extends EventEmitter {
  private manager?: AmqpConnectionManager;
  private session?: Session;
  /** connect() was called and close() was not: reconnect when the connection is lost. */
  private started = false;
  private stoppingFlag = false;
  private connecting?: Promise<void>;
  private establishing?: Promise<void>;
  private attempt = 0;
  /** A session was ready since connect(): the next one is a reconnection. */
  private wasConnected = false;
  private lastError: unknown;
  private readonly waiters = new Set<SessionWaiter>();
  private readonly log: Logger;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly setup: SessionSetup,
  ) {
    super();
    this.log = options.logger;
  }

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  /** The usable session, if any. */
  current(): Session | undefined {
    return this.session && !this.session.closed ? this.session : undefined;
  }

  isConnected(): boolean {
    return this.current() !== undefined;
  }

  /** The nth consecutive failure's delay (0-based). */
  retryDelay(attempt: number): number {
    return reconnectDelay(attempt, this.options.reconnectMinMs, this.options.reconnectMaxMs);
  }

  /** Connects and prepares the session; the manager retries for up to connectTimeoutMs. */
  connect(): Promise<void> {
    if (this.isConnected()) return Promise.resolve();
    if (this.connecting) return this.connecting;
    this.started = true;
    this.stoppingFlag = false;
    this.wasConnected = false;
    this.connecting = this.connectWithinDeadline().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectWithinDeadline(): Promise<void> {
    this.lastError = undefined;
    this.manager ??= this.createManager();
    try {
      await this.waitForSession(Date.now() + this.options.connectTimeoutMs);
    } catch (err) {
      this.started = false;
      void this.manager?.close().catch(() => undefined);
      this.manager = undefined;
      const failure = this.stoppingFlag
        ? new MessagingError('closed', 'AMQP client closed while connecting', { cause: this.lastError })
        : this.connectFailure(this.lastError ?? err);
      this.rejectWaiters(failure);
      throw failure;
    }
  }

  private connectFailure(cause: unknown): MessagingError {
    const url = redactUrl(this.options.url);
    return new MessagingError(
      'not_connected',
      `could not connect to RabbitMQ at ${url}: ${errorMessage(cause)}`,
      {
        cause,
      },
    );
  }

  private createManager(): AmqpConnectionManager {
    // The manager tries the nodes round-robin, one per attempt: a lost node's successor is the
    // next in the list, so a reconnection lands on a live node after at most one failed try per
    // dead one.
    const manager = connectManager(rotatedUrlList(this.options.url), {
      // 0: the broker's heartbeat, as a plain amqplib connection negotiates.
      heartbeatIntervalInSeconds: 0,
      reconnectTimeInSeconds: this.retryDelay(0) / 1000,
      connectionOptions: {
        clientProperties: { connection_name: this.options.connectionName },
        timeout: SOCKET_TIMEOUT_MS,
        noDelay: true,
        keepAlive: true,
      },
    });
    // The manager reads reconnectTimeInSeconds right after these events: set the next delay.
    manager.on('connectFailed', ({ err }) => {
      if (manager !== this.manager) return;
      this.attemptFailed(err);
      this.scheduleRetry(manager);
    });
    manager.on('disconnect', () => {
      if (manager === this.manager) this.scheduleRetry(manager);
    });
    manager.on('connect', ({ url }) => {
      const model = manager.connection;
      if (!model) return;
      if (manager !== this.manager || this.stoppingFlag) {
        void model.close().catch(() => undefined);
        return;
      }
      const node = typeof url === 'string' ? redactUrl(url) : undefined;
      this.establishing = this.establish(manager, model, node).finally(() => {
        this.establishing = undefined;
      });
    });
    return manager;
  }

  private attemptFailed(err: unknown): void {
    this.lastError = err;
    const initial = this.connecting !== undefined;
    this.log.warn(
      { err, attempt: this.attempt + 1, url: redactUrl(this.options.url) },
      initial ? 'AMQP connect failed' : 'AMQP reconnect failed',
    );
    if (initial && isPermanentError(err)) this.rejectWaiters(this.connectFailure(err));
  }

  private scheduleRetry(manager: AmqpConnectionManager): void {
    const delay = this.retryDelay(this.attempt);
    this.attempt++;
    manager.reconnectTimeInSeconds = delay / 1000;
    if (this.started && !this.stoppingFlag) {
      this.log.info({ delayMs: delay, attempt: this.attempt }, 'AMQP reconnecting');
    }
  }

  /** Prepares a new connection; if that fails, drops it and the manager tries again. */
  private async establish(
    manager: AmqpConnectionManager,
    model: ChannelModel,
    node: string | undefined,
  ): Promise<void> {
    // One writev per tick instead of one write (and TCP packet) per frame, on every connection.
    coalesceConnectionWrites(model);
    const session: Session = { model, closed: false };
    model.on('error', (err: Error) => this.log.warn({ err }, 'AMQP connection error'));
    model.on('close', (err?: Error) => this.onClosed(session, err));
    model.on('blocked', (reason: string) =>
      this.log.warn({ reason }, 'AMQP connection blocked by the broker'),
    );
    model.on('unblocked', () => this.log.info('AMQP connection unblocked'));
    try {
      if (this.stoppingFlag) throw new MessagingError('closed', 'AMQP client closed while connecting');
      await this.setup.prepare(session);
      if (session.closed)
        throw new MessagingError('not_connected', 'AMQP connection closed while setting up');
      if (this.stoppingFlag) throw new MessagingError('closed', 'AMQP client closed while connecting');
    } catch (err) {
      if (this.stoppingFlag || manager !== this.manager) return;
      this.attemptFailed(err);
      if (!session.closed) {
        session.closed = true;
        // The manager sees the close ('disconnect': the delay is set) and connects again.
        await model.close().catch(() => undefined);
      }
      return;
    }

    this.session = session;
    await this.setup.restore(session);
    if (session.closed || this.session !== session) return;
    const reconnected = this.wasConnected;
    this.wasConnected = true;
    this.attempt = 0;
    manager.reconnectTimeInSeconds = this.retryDelay(0) / 1000;
    this.log.info(
      { url: node ?? redactUrl(this.options.url) },
      reconnected ? 'AMQP reconnected' : 'AMQP connected',
    );
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.resolve(session);
    }
    this.emit('connected');
  }

  private onClosed(session: Session, err: Error | undefined): void {
    session.closed = true;
    if (this.session !== session) return;
    this.session = undefined;
    this.log.warn({ err }, 'AMQP connection lost');
    this.emit('disconnected');
  }

  /** The current session, or the next one within `deadline` (epoch ms). */
  waitForSession(deadline = Date.now() + this.options.waitMs): Promise<Session> {
    if (this.stoppingFlag)
      return Promise.reject(new MessagingError('closed', 'AMQP client is closing or closed'));
    const session = this.current();
    if (session) return Promise.resolve(session);
    if (!this.started) {
      return Promise.reject(
        new MessagingError(
          'not_connected',
          'AMQP client is not connected (connect() not called or client closed)',
        ),
      );
    }
    return new Promise<Session>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: SessionWaiter = {
        resolve: (s) => {
          settle();
          resolve(s);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(new MessagingError('not_connected', 'AMQP connection not re-established in time')),
        Math.max(0, deadline - Date.now()),
      );
      this.waiters.add(waiter);
    });
  }

  /** First step of close(): stop reconnecting, fail whoever waits for a session. */
  stop(): void {
    this.stoppingFlag = true;
    this.started = false;
    this.rejectWaiters(new MessagingError('closed', 'AMQP client closed'));
  }

  /** Last step of close(): closes the connection. */
  async close(): Promise<void> {
    this.stop();
    await this.connecting?.catch(() => undefined);
    await this.establishing;
    const manager = this.manager;
    this.manager = undefined;
    const session = this.session;
    this.session = undefined;
    const wasOpen = session !== undefined && !session.closed;
    if (session) session.closed = true;
    try {
      await manager?.close();
    } catch (err) {
      this.log.debug({ err }, 'AMQP connection close failed');
    }
    if (wasOpen) {
      this.log.info('AMQP connection closed');
      this.emit('disconnected');
    }
  }

  private rejectWaiters(error: Error): void {
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.reject(error);
    }
  }
}
