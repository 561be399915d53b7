/**
 * Task history on Redis (task-history.ts): one list per task under
 * `celeriac.task-events:<id>`, capped at MAX_TASK_EVENTS, expiring with the results. A
 * batch of appends is one script call (scripts/task-events.ts); a read is one LRANGE.
 * Must never touch Celery's keys.
 */
import type { Redis } from 'ioredis';
import { runScript, type ScriptArg } from '../../connections/redis/script-runner.js';
import type { ResultKeyspace } from './keys.js';
import { appendEventsScript } from './scripts/task-events.js';
import {
  decodeHistory,
  encodeHistoryEvent,
  MAX_TASK_EVENTS,
  type TaskHistory,
  type TaskHistoryEntry,
  type TaskHistoryEvent,
} from '../task-history.js';

/** Tasks per script call: keeps each call's arguments well under Redis's limits. */
const MAX_BATCH = 500;

export class RedisTaskHistory implements TaskHistory {
  constructor(
    private readonly client: () => Promise<Redis>,
    private readonly keys: ResultKeyspace,
  ) {}

  async append(
    entries: readonly TaskHistoryEntry[],
    options: { expiresMs: number },
  ): Promise<void> {
    if (entries.length === 0) return;
    const byTask = new Map<string, string[]>();
    for (const { taskId, event } of entries) {
      const texts = byTask.get(taskId);
      if (texts) texts.push(encodeHistoryEvent(event));
      else byTask.set(taskId, [encodeHistoryEvent(event)]);
    }
    const redis = await this.client();
    const ttl = Math.max(0, Math.round(options.expiresMs));
    const tasks = [...byTask];
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < tasks.length; i += MAX_BATCH) {
      const batch = tasks.slice(i, i + MAX_BATCH);
      const args: ScriptArg[] = [MAX_TASK_EVENTS, ttl];
      for (const [, texts] of batch) args.push(texts.length, ...texts);
      calls.push(
        runScript(
          redis,
          appendEventsScript,
          batch.map(([taskId]) => this.keys.taskEvents(taskId)),
          args,
        ),
      );
    }
    await Promise.all(calls);
  }

  async read(taskId: string): Promise<TaskHistoryEvent[]> {
    const redis = await this.client();
    return decodeHistory(await redis.lrange(this.keys.taskEvents(taskId), 0, -1));
  }

  async forget(taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    const redis = await this.client();
    await redis.del(...taskIds.map((id) => this.keys.taskEvents(id)));
  }
}
