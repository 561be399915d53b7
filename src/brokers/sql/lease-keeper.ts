/**
 * Keeps the leases of every delivery a SQL broker instance holds alive: every `leaseMs / 3`
 * it extends them all in one statement (or transaction), so a task running for an hour on
 * a live process is never handed to another consumer, while a process killed with
 * `kill -9` stops renewing and its messages become claimable again after `leaseMs`.
 * Must never renew a lease it does not hold (renewal is by id and claim token).
 */
import type { QueueStore } from './queue-store.js';

export interface HeldLease {
  readonly id: number;
  /** The claim token written in `lease_owner`. */
  readonly owner: string;
  readonly queue: string;
  /** Set when a renewal found the row gone or owned by another token. */
  lost: boolean;
  /** Told once when the lease is found lost. */
  readonly onLost: (lease: HeldLease) => void;
}

export class LeaseKeeper {
  readonly held = new Set<HeldLease>();
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  /** `label` names the database in error messages ("SQLite", "PostgreSQL"). */
  constructor(
    private readonly store: () => QueueStore,
    private readonly leaseMs: number,
    private readonly label: string,
    private readonly onError: (error: Error) => void,
  ) {}

  add(lease: HeldLease): void {
    this.held.add(lease);
    // The timer runs only while something is held, and keeps the process alive meanwhile.
    this.timer ??= setInterval(
      () => void this.renewAll(),
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
  }

  delete(lease: HeldLease): void {
    this.held.delete(lease);
    if (this.held.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async renewAll(): Promise<void> {
    if (this.renewing) return; // the previous renewal is still out: it covers these rows
    const live = [...this.held].filter((lease) => !lease.lost);
    if (live.length === 0) return;
    this.renewing = true;
    let lost: HeldLease[];
    try {
      const renewed = this.store().renew(live, Date.now() + this.leaseMs);
      lost = renewed instanceof Promise ? await renewed : renewed;
    } catch (error) {
      // A busy database or a dropped connection: the next beat retries well before the lease runs out.
      this.onError(
        new Error(
          `Could not renew ${live.length} ${this.label} lease(s): ${(error as Error).message}`,
          { cause: error },
        ),
      );
      return;
    } finally {
      this.renewing = false;
    }
    for (const lease of lost) {
      // Settled meanwhile (acked rows are gone): not a loss.
      if (!this.held.has(lease)) continue;
      lease.lost = true;
      lease.onLost(lease);
    }
  }
}
