import type { ValidSubmission } from './submission.validator';
import { aheadInBatch } from './submission.service';

describe('aheadInBatch', () => {
  it('counts the created items of the same queue that start first: higher priority, or equal and earlier', () => {
    const item = (queue: string, priority: number) => ({ queue, priority }) as ValidSubmission;
    const items = [item('q', 5), item('q', 7), item('other', 5), item('q', 5), item('q', 9), item('q', 5)];
    // Item 5 was not created (an idempotent replay): it counts for no one and gets 0.
    expect(aheadInBatch(items, [0, 1, 2, 3, 4])).toEqual([2, 1, 0, 3, 0, 0]);
  });
});
