import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { JobEventName, JobStatus } from '@switchyard/contracts';
import type { StoredJobEvent } from '@switchyard/live-state';
import { JobEventSink, SseStream, TenantEventSink } from './sse.stream';

class FakeResponse extends EventEmitter {
  chunks: string[] = [];
  ended = false;
  destroyed = false;
  writableLength = 0;
  head: Record<string, string> = {};
  writeHead(_status: number, headers: Record<string, string>) {
    this.head = headers;
  }
  write(chunk: string) {
    this.chunks.push(chunk);
    return true;
  }
  end() {
    this.ended = true;
    this.emit('close');
  }
  destroy() {
    this.destroyed = true;
    this.emit('close');
  }
  get text() {
    return this.chunks.join('');
  }
}

const event = (
  seq: number,
  name: JobEventName = 'progress',
  status: JobStatus = 'running',
  tenant = 't1',
): StoredJobEvent => ({
  seq,
  event: name,
  time: '2025-01-01T00:00:00.000Z',
  correlationId: 'c1',
  data: {
    jobId: 'j1',
    tenant,
    type: 'synthetic',
    queue: 'default',
    status,
    step: null,
    progress: seq,
    message: null,
    attempt: 1,
    seq,
  },
});

const ids = (text: string) => [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]);

function open() {
  const res = new FakeResponse();
  const stream = new SseStream(res as unknown as ServerResponse, 'k1');
  stream.start({ 'x-correlation-id': 'c1' }, 1000);
  return { res, stream };
}

describe('SseStream', () => {
  it('frames events and comments in the SSE format', () => {
    const { res, stream } = open();
    stream.send('snapshot', { a: 1 });
    stream.send('job.progress', { b: 2 }, 7);
    stream.comment('keep-alive');
    expect(res.head).toMatchObject({
      'content-type': 'text/event-stream; charset=utf-8',
      'x-correlation-id': 'c1',
    });
    expect(res.text).toBe(
      'retry: 1000\n\nevent: snapshot\ndata: {"a":1}\n\nevent: job.progress\nid: 7\ndata: {"b":2}\n\n: keep-alive\n\n',
    );
  });

  it('drops a client that stops reading rather than buffering without bound', () => {
    const { res, stream } = open();
    const closed = jest.fn();
    stream.onClose(closed);
    res.writableLength = 2 * 1024 * 1024;
    stream.send('job.progress', {}, 1);
    expect(res.destroyed).toBe(true);
    expect(stream.isOpen).toBe(false);
    expect(closed).toHaveBeenCalledTimes(1);
  });
});

describe('JobEventSink', () => {
  it('holds live events until the snapshot is out, then sends the newer ones once, in seq order', () => {
    const { res, stream } = open();
    const sink = new JobEventSink('j1', stream);
    sink.push(event(5));
    sink.push(event(3));
    sink.push(event(4));
    stream.send('snapshot', {});
    sink.acknowledge(3);
    sink.flush();
    sink.push(event(5));
    sink.push(event(6));
    expect(ids(res.text)).toEqual(['4', '5', '6']);
  });

  it('replays missed events after Last-Event-ID and ends after the terminal event', () => {
    const { res, stream } = open();
    const sink = new JobEventSink('j1', stream);
    sink.acknowledge(2);
    sink.replay([event(1), event(2), event(3), event(4, 'completed', 'completed')]);
    sink.flush();
    sink.push(event(5));
    expect(ids(res.text)).toEqual(['3', '4']);
    expect(res.text).toContain('event: job.completed');
    expect(res.ended).toBe(true);
  });
});

describe('TenantEventSink', () => {
  it('sends only matching events, after its snapshot, with jobId:seq ids', () => {
    const { res, stream } = open();
    const sink = new TenantEventSink('t1', { type: 'synthetic' }, stream);
    expect(sink.matches(event(1))).toBe(true);
    expect(sink.matches(event(1, 'progress', 'running', 't2'))).toBe(false);
    sink.push(event(1));
    stream.send('snapshot', { jobs: [] });
    sink.flush();
    sink.push(event(2));
    expect(res.text.indexOf('snapshot')).toBeLessThan(res.text.indexOf('id: j1:1'));
    expect(ids(res.text)).toEqual(['j1:1', 'j1:2']);
    expect(new TenantEventSink(null, {}, stream).matches(event(1, 'progress', 'running', 'anyone'))).toBe(
      true,
    );
  });
});
