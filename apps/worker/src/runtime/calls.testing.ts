// Test helpers of the group-commit specs (group-commit.spec.ts, worker-turn.spec.ts).

/** Lets the setImmediate a group commit schedules its call on run. */
export const nextTick = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (at most 2 s) until a controlled `run` has been called `count` times. */
export async function waitForCalls(calls: unknown[], count: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (calls.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} calls, got ${calls.length}`);
    await nextTick();
  }
}
