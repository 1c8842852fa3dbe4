import type { DataSource } from 'typeorm';
import { ProjectionRepository, type ProjectedEvent } from './projection.repository';
import { DataRejected } from './errors';

const event: ProjectedEvent = {
  event: 'started',
  data: {
    jobId: '6f1c2a52-2d4b-4f7e-9a57-0d8e4a8f0b11',
    tenant: 't',
    type: 'synthetic',
    queue: 'default',
    status: 'running',
    step: null,
    progress: 0,
    message: null,
    attempt: 1,
    seq: 2,
  },
  time: '2026-12-01T00:00:00.000Z',
  correlationId: 'c',
};

function repositoryFailing(errors: Error[]): { repository: ProjectionRepository; calls: () => number } {
  let calls = 0;
  const db = {
    query: () => {
      const error = errors[calls++];
      return error === undefined ? Promise.resolve([]) : Promise.reject(error);
    },
  } as unknown as DataSource;
  return { repository: new ProjectionRepository(db), calls: () => calls };
}

const deadlock = Object.assign(new Error('deadlock detected'), { driverError: { code: '40P01' } });

describe('ProjectionRepository.projectEvents', () => {
  it('runs the statement again when PostgreSQL chose it as a deadlock victim', async () => {
    const { repository, calls } = repositoryFailing([deadlock, deadlock]);
    await expect(repository.projectEvents([event])).resolves.toBeUndefined();
    expect(calls()).toBe(3);
  });

  it('gives up after three deadlocks in a row', async () => {
    const { repository, calls } = repositoryFailing([deadlock, deadlock, deadlock]);
    await expect(repository.projectEvents([event])).rejects.toBe(deadlock);
    expect(calls()).toBe(3);
  });

  it('does not retry other failures', async () => {
    const down = Object.assign(new Error('connection terminated'), { code: '57P01' });
    const { repository, calls } = repositoryFailing([down]);
    await expect(repository.projectEvents([event])).rejects.toBe(down);
    expect(calls()).toBe(1);
  });

  it('reports an event PostgreSQL refuses for its data as DataRejected, once', async () => {
    const nul = Object.assign(new Error('invalid byte sequence'), { driverError: { code: '22021' } });
    const { repository, calls } = repositoryFailing([nul]);
    const failure = repository.projectEvents([event]);
    await expect(failure).rejects.toBeInstanceOf(DataRejected);
    await expect(failure).rejects.toMatchObject({ cause: nul });
    expect(calls()).toBe(1);
  });
});
