/**
 * Gathers the calls made in one event-loop turn and hands them to one synchronous commit,
 * so SQLite pays for one transaction per turn instead of one per call. Each caller's promise
 * settles only after that commit, with its own result. Must never reorder or drop a call.
 */
export class TurnBatcher<TItem, TResult> {
  private pending: Array<{
    item: TItem;
    resolve: (result: TResult) => void;
    reject: (error: Error) => void;
  }> = [];
  private scheduled = false;

  /** `commit` runs the whole batch in one transaction and returns one result per item, in order. */
  constructor(private readonly commit: (items: TItem[]) => TResult[]) {}

  add(item: TItem): Promise<TResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: calls from every callback of this turn join the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits whatever is pending now (also called before closing). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let results: TResult[];
    try {
      results = this.commit(batch.map((entry) => entry.item));
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
      return;
    }
    batch.forEach((entry, i) => entry.resolve(results[i] as TResult));
  }
}
