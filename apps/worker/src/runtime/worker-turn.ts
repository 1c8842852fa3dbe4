import { GroupCommit, type GroupHold } from './group-commit';

/** One item of a turn: a finished job to complete, or a delivery to claim. */
type TurnItem<D, C> = { kind: 'complete'; item: D } | { kind: 'claim'; item: C };

/** What one statement of a turn returns: one result per completion and per claim, in order. */
export interface TurnResults<DO, CO> {
  completed: DO[];
  claimed: CO[];
}

/**
 * The worker's turn: the completions and the claims submitted in the same event-loop turn, or
 * while the previous statement is in flight, go out together as one call of `run` (one statement,
 * one commit), at most `maxBatch` items of both kinds together, one call in flight at a time. It
 * is a GroupCommit over both kinds, so a failed turn is retried item by item as there: each
 * completion and each claim alone, so that one bad item fails only its own caller.
 */
export class WorkerTurn<D, DO, C, CO> {
  private readonly group: GroupCommit<TurnItem<D, C>, DO | CO>;

  constructor(
    run: (completions: D[], claims: C[]) => Promise<TurnResults<DO, CO>>,
    maxBatch: number,
    hold?: GroupHold,
  ) {
    this.group = new GroupCommit(
      async (items) => {
        const completions: D[] = [];
        const claims: C[] = [];
        for (const i of items) {
          if (i.kind === 'complete') completions.push(i.item);
          else claims.push(i.item);
        }
        const { completed, claimed } = await run(completions, claims);
        let d = 0;
        let c = 0;
        return items.map((i) => (i.kind === 'complete' ? completed[d++] : claimed[c++]));
      },
      maxBatch,
      hold,
    );
  }

  complete(item: D): Promise<DO> {
    return this.group.submit({ kind: 'complete', item }) as Promise<DO>;
  }

  claim(item: C): Promise<CO> {
    return this.group.submit({ kind: 'claim', item }) as Promise<CO>;
  }
}
