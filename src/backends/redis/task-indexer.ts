/**
 * The dashboard's index writes on Redis (with the app's `resultExtended` only): the
 * metas stored in one turn of the event loop are indexed by one script call
 * (scripts/index-tasks.ts), queued on the backend's auto-pipelined connection right
 * beside their store, so it adds no round trip. Must never be used when `resultExtended`
 * is off: apps that never list pay nothing.
 */
import type { Redis } from 'ioredis';
import type { ResultMeta } from '../../protocol/types.js';
import { runScript, type ScriptArg } from '../../connections/redis/script-runner.js';
import { countedStore, indexedFields, minuteOf } from '../task-index.js';
import { indexTasksScript } from './scripts/index-tasks.js';
import type { ResultKeyspace } from './keys.js';

/** Minute counters are kept this long (the overview shows the last day). */
const COUNTS_KEPT_MS = 7 * 86_400_000;
/** Tasks per script call. */
const MAX_BATCH = 500;

interface Pending {
  meta: ResultMeta;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class TaskIndexer {
  private pending: Pending[] = [];

  constructor(
    private readonly client: Redis,
    private readonly keys: ResultKeyspace,
    private readonly expiresMs: number,
  ) {}

  index(meta: ResultMeta): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) process.nextTick(() => this.flush());
      this.pending.push({ meta, resolve, reject });
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    for (let i = 0; i < pending.length; i += MAX_BATCH)
      void this.send(pending.slice(i, i + MAX_BATCH));
  }

  private async send(batch: Pending[]): Promise<void> {
    const now = Date.now();
    const args: ScriptArg[] = [
      this.keys.taskIndex,
      this.keys.indexedStates,
      this.keys.taskTotals,
      this.keys.taskRuntimes,
      this.keys.taskCounts(minuteOf(now)),
      now,
      this.expiresMs,
      COUNTS_KEPT_MS,
      batch.length,
    ];
    // Counters are summed here: one HINCRBY per distinct counter of the batch.
    const counts = new Map<string, number>();
    const runtimes = new Map<string, number>();
    const bump = (map: Map<string, number>, key: string, by: number) =>
      map.set(key, (map.get(key) ?? 0) + by);
    for (const { meta } of batch) {
      const counted = countedStore(meta);
      const fields = indexedFields(meta);
      args.push(
        meta.task_id,
        counted.state,
        counted.name,
        counted.queue,
        meta.worker ?? '',
        fields.length,
        ...fields,
      );
      bump(counts, `${counted.name}\u0000${counted.queue}\u0000${counted.state}`, 1);
      if (counted.bucket !== undefined) {
        bump(runtimes, `${counted.name}\u0000${counted.bucket}`, 1);
        bump(runtimes, `${counted.name}\u0000sum`, counted.seconds ?? 0);
      }
    }
    args.push(counts.size, ...[...counts].flat(), runtimes.size, ...[...runtimes].flat());
    try {
      await runScript(this.client, indexTasksScript, [], args);
    } catch (error) {
      for (const entry of batch) entry.reject(error as Error);
      return;
    }
    for (const entry of batch) entry.resolve();
  }
}
