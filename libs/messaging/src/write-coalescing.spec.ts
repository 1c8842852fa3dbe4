import { Writable } from 'node:stream';
import { setImmediate as nextLoop } from 'node:timers/promises';
import { coalesceWritesPerTick } from './write-coalescing';

/** A Writable that records how its chunks reach the "socket": one entry per _write or _writev. */
function countingStream(highWaterMark?: number): { stream: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk.toString()]);
      callback();
    },
    writev(chunks, callback) {
      calls.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      callback();
    },
  });
  return { stream, calls };
}

describe('coalesceWritesPerTick', () => {
  it('sends every write of one tick in a single writev', async () => {
    const { stream, calls } = countingStream();
    coalesceWritesPerTick(stream);
    for (let i = 0; i < 50; i++) stream.write(Buffer.from(`f${i}`));
    expect(calls).toEqual([]);
    await nextLoop();
    expect(calls).toEqual([Array.from({ length: 50 }, (_, i) => `f${i}`)]);
  });

  it('writes of separate ticks leave separately, in order', async () => {
    const { stream, calls } = countingStream();
    coalesceWritesPerTick(stream);
    stream.write('a');
    stream.write('b');
    await nextLoop();
    stream.write('c');
    await nextLoop();
    stream.write('d');
    stream.write('e');
    await nextLoop();
    expect(calls).toEqual([['a', 'b'], ['c'], ['d', 'e']]);
  });

  it('without it every write is its own call (what the helper is for)', async () => {
    const { stream, calls } = countingStream();
    for (let i = 0; i < 5; i++) stream.write(`f${i}`);
    await nextLoop();
    expect(calls).toHaveLength(5);
  });

  it('end() in the same tick flushes what was written, then finishes', async () => {
    const { stream, calls } = countingStream();
    coalesceWritesPerTick(stream);
    const finished = new Promise<void>((resolve) => stream.on('finish', resolve));
    stream.write('x');
    stream.write('y');
    stream.end();
    await finished;
    expect(calls.flat()).toEqual(['x', 'y']);
  });

  it('reports backpressure past the high-water mark and emits drain after the flush', async () => {
    const { stream, calls } = countingStream(8);
    coalesceWritesPerTick(stream);
    const accepted = ['1234', '5678', '9abc'].map((chunk) => stream.write(chunk));
    expect(accepted).toEqual([true, false, false]);
    await new Promise<void>((resolve) => stream.once('drain', resolve));
    expect(calls).toEqual([['1234', '5678', '9abc']]);
  });

  it('is applied once even when called again for the same stream', async () => {
    const { stream, calls } = countingStream();
    coalesceWritesPerTick(stream);
    coalesceWritesPerTick(stream);
    stream.write('a');
    stream.write('b');
    await nextLoop();
    expect(calls).toEqual([['a', 'b']]);
    expect(stream.writableCorked).toBe(0);
  });
});
