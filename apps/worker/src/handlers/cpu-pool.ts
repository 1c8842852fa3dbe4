import { Piscina } from 'piscina';
import { AUDIO_WORKER_FILE, type TaskPool } from '@switchyard/handlers';

export interface CpuPool extends TaskPool {
  close(): Promise<void>;
}

/**
 * The worker threads for CPU-heavy handler work (WORKER_CPU_THREADS). All threads start with the
 * worker so the first job does not pay for thread start-up; tasks beyond the thread count wait in
 * the pool's queue (their jobs already count against WORKER_CONCURRENCY).
 */
export function createCpuPool(threads: number): CpuPool {
  const pool = new Piscina({
    filename: AUDIO_WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    // Threads are never retired for idleness: keeping them costs little, restarting costs latency.
    idleTimeout: Number.MAX_SAFE_INTEGER,
  });
  return {
    run: (task, options) => pool.run(task, options) as Promise<unknown>,
    close: () => pool.close({ force: true }),
  };
}
