import type { ChainableCommander } from 'ioredis';

/** Runs a pipeline and returns its replies, throwing the first command error. */
export async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = await pipeline.exec();
  if (results === null) throw new Error('Redis pipeline was discarded');
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}
