/**
 * A recovery task run every `intervalMs`, never two passes at once: a tick while a pass still
 * runs is skipped. `stop` clears the timer and waits for the pass in progress.
 */
export abstract class PeriodicPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  protected constructor(private readonly intervalMs: number) {}

  /** One pass of the task. */
  protected abstract runPass(): Promise<unknown>;

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.runPass().finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
