/**
 * Bounds publishes by `publishTimeoutMs` with one timer for all of them. Every publish of a
 * publisher has the same bound, so deadlines come in the order publishes are made: a FIFO
 * whose head is the next to expire. A timer per publish (set, then cleared on its reply,
 * plus the promise and closures around it) was a measurable part of an awaited enqueue.
 * Must expire each publish at its own deadline, never before, and never keep the process
 * alive once nothing is pending.
 */

/** One publish waiting for its reply. */
export interface Deadline {
  /** `performance.now()` when it expires. */
  readonly due: number;
  /** Fails the publish (only called while it is unsettled). */
  readonly expire: () => void;
  settled: boolean;
}

/** Entries dropped from the head before the array is compacted (when they are half of it). */
const COMPACT_AT = 1024;

export class PublishDeadlines {
  private entries: Deadline[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Whether the timer holds the process open (only while something is pending). */
  private refed = false;

  constructor(private readonly timeoutMs: number) {}

  /** Starts the clock on a publish; call `settle` with the entry when its reply comes. */
  track(expire: () => void): Deadline {
    const entry: Deadline = { due: performance.now() + this.timeoutMs, expire, settled: false };
    this.entries.push(entry);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.fire(), this.timeoutMs);
      this.refed = true;
    } else if (!this.refed) {
      this.timer.ref();
      this.refed = true;
    }
    return entry;
  }

  settle(entry: Deadline): void {
    entry.settled = true;
    this.dropSettled();
  }

  private fire(): void {
    this.timer = undefined;
    this.refed = false;
    const now = performance.now();
    this.dropSettled();
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      if (entry.due > now) break;
      this.head += 1;
      if (!entry.settled) {
        entry.settled = true;
        entry.expire();
      }
      this.dropSettled();
    }
    this.compact();
    if (this.head < this.entries.length) {
      // Replies may settle entries out of order (a batch beside single commands): the
      // earliest unsettled deadline is at the head once settled ones are dropped.
      this.timer = setTimeout(
        () => this.fire(),
        Math.max(1, Math.ceil(this.entries[this.head]!.due - now)),
      );
      this.refed = true;
    }
  }

  /** Drops settled entries off the head; once none is pending, the timer stops holding the process. */
  private dropSettled(): void {
    const { entries } = this;
    while (this.head < entries.length && entries[this.head]!.settled) this.head += 1;
    if (this.head === entries.length) {
      entries.length = 0;
      this.head = 0;
      if (this.refed) {
        this.timer?.unref();
        this.refed = false;
      }
    } else if (this.head >= COMPACT_AT && this.head * 2 >= entries.length) {
      this.compact();
    }
  }

  private compact(): void {
    if (this.head === 0) return;
    this.entries = this.entries.slice(this.head);
    this.head = 0;
  }
}
