import pino from 'pino';
import { amqpNames } from '@switchyard/contracts';
import type { AmqpClient, ConsumeOptions, InboundMessage, MessageHandler } from '@switchyard/messaging';
import type { GatewayConfig } from '../gateway.tokens';
import { IntakeConsumer, MAX_RETRY_DELAY_MS, retryDelayMs } from './intake.consumer';
import type { IntakeResult, IntakeService } from './intake.service';

describe('retryDelayMs', () => {
  it('waits about as long as the outage has lasted, at least the base and at most 30 s', () => {
    expect(retryDelayMs(0, 1000, 0.5)).toBe(1000);
    expect(retryDelayMs(4000, 1000, 0.5)).toBe(4000);
    expect(retryDelayMs(10 * 60_000, 1000, 0.5)).toBe(MAX_RETRY_DELAY_MS);
    // ±10 % jitter, so that messages that failed together do not come back together.
    expect(retryDelayMs(0, 1000, 0)).toBe(900);
    expect(retryDelayMs(0, 1000, 1)).toBe(1100);
  });
});

describe('IntakeConsumer', () => {
  function setup(results: (() => Promise<IntakeResult>)[]) {
    let handler: MessageHandler | undefined;
    const subscribed: { queue: string; options: ConsumeOptions }[] = [];
    let cancelled = 0;
    const amqp = {
      names: amqpNames('p'),
      consumeRaw: (queue: string, h: MessageHandler, options: ConsumeOptions) => {
        handler = h;
        subscribed.push({ queue, options });
        return Promise.resolve({ cancel: () => Promise.resolve(void cancelled++) });
      },
    } as unknown as AmqpClient;
    const intake = {
      handle: () =>
        (
          results.shift() ?? (() => Promise.resolve<IntakeResult>({ kind: 'rejected', code: 'invalid_json' }))
        )(),
    } as unknown as IntakeService;
    const consumer = new IntakeConsumer(
      { INTAKE_PREFETCH: 7, INTAKE_RETRY_DELAY_MS: 60 } as GatewayConfig,
      pino({ level: 'silent' }),
      amqp,
      intake,
    );
    const deliver = () => {
      if (!handler) throw new Error('not consuming');
      return handler({} as InboundMessage);
    };
    return { consumer, subscribed, deliver, cancelled: () => cancelled };
  }

  it('consumes the intake queue with the configured prefetch and acks accepted and rejected messages', async () => {
    const { consumer, subscribed, deliver } = setup([
      () => Promise.resolve({ kind: 'accepted', jobId: 'j', status: 'queued', created: true }),
      () => Promise.resolve({ kind: 'rejected', code: 'invalid_json' }),
    ]);
    await consumer.start();
    await consumer.start();
    expect(subscribed).toEqual([{ queue: 'p.intake', options: { prefetch: 7 } }]);
    expect(await deliver()).toEqual({ kind: 'ack' });
    expect(await deliver()).toEqual({ kind: 'ack' });
  });

  it('requeues a transient failure only after a delay', async () => {
    const { consumer, deliver } = setup([() => Promise.resolve({ kind: 'transient', reason: 'db down' })]);
    await consumer.start();
    const started = Date.now();
    expect(await deliver()).toEqual({ kind: 'requeue' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });

  it('backs off as an outage lasts, and starts from the base again once a job is accepted', async () => {
    jest.useFakeTimers({ now: 0 });
    try {
      const transient = () => Promise.resolve<IntakeResult>({ kind: 'transient', reason: 'db down' });
      const { consumer, deliver } = setup([
        transient,
        transient,
        () => Promise.resolve({ kind: 'accepted', jobId: 'j', status: 'queued', created: true }),
        transient,
      ]);
      await consumer.start();
      /** Delivers one message and says after how many ms (in steps of 10) its outcome came. */
      const settlesAfter = async (): Promise<number> => {
        let settled = false;
        const outcome = deliver().then((o) => {
          settled = true;
          return o;
        });
        let elapsed = 0;
        while (!settled && elapsed < 60_000) {
          await jest.advanceTimersByTimeAsync(10);
          elapsed += 10;
        }
        await outcome;
        return elapsed;
      };
      expect(await settlesAfter()).toBeLessThanOrEqual(70); // base: 60 ms
      jest.setSystemTime(Date.now() + 2000);
      expect(await settlesAfter()).toBeGreaterThanOrEqual(1800); // ~ the outage so far
      expect(await deliver()).toEqual({ kind: 'ack' });
      expect(await settlesAfter()).toBeLessThanOrEqual(70);
    } finally {
      jest.useRealTimers();
    }
  });

  it('lets an error through to the messaging library, which requeues it once', async () => {
    const { consumer, deliver } = setup([() => Promise.reject(new TypeError('bug'))]);
    await consumer.start();
    await expect(deliver()).rejects.toThrow('bug');
  });

  it('on shutdown stops consuming first, hands waiting messages back at once, and never starts again', async () => {
    let finish: (r: IntakeResult) => void = () => undefined;
    const { consumer, deliver, cancelled, subscribed } = setup([
      () => new Promise<IntakeResult>((resolve) => (finish = resolve)),
      () => Promise.resolve({ kind: 'transient', reason: 'db down' }),
    ]);
    await consumer.start();
    const inFlight = deliver();
    const waiting = deliver();
    const stopped = consumer.onModuleDestroy();
    expect(cancelled()).toBe(1);
    // The transient one does not wait out its delay.
    expect(await waiting).toEqual({ kind: 'requeue' });
    // The one being handled is waited for.
    let done = false;
    void stopped.then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    finish({ kind: 'accepted', jobId: 'j', status: 'queued', created: true });
    expect(await inFlight).toEqual({ kind: 'ack' });
    await stopped;
    await consumer.start();
    expect(subscribed).toHaveLength(1);
  });
});
