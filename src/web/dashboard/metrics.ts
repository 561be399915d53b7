/**
 * `/metrics` in Prometheus text format (version 0.0.4): tasks by name and state and run
 * times as a histogram, over the stored tasks the listing returns (the newest 10,000),
 * queue depths, and workers online. Pure formatting over what the handler read.
 */
import type { TaskListing } from '../../backends/task-listing.js';
import type { WorkerInfo } from '../../backends/worker-registry.js';
import type { ResultMeta } from '../../protocol/types.js';

const BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300];
const SAMPLE = 10_000;

export async function renderMetrics(
  listing: TaskListing,
  queues: Array<[string, number | null]>,
  workers: WorkerInfo[],
): Promise<string> {
  const tasks: ResultMeta[] = [];
  let cursor: string | undefined;
  do {
    const page = await listing.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    tasks.push(...page.tasks);
    cursor = page.next;
  } while (cursor && tasks.length < SAMPLE);
  const byNameState = new Map<string, number>();
  const runtimes = new Map<string, number[]>();
  for (const task of tasks) {
    const name = task.name ?? 'unknown';
    const key = `${name}\u0000${task.status}`;
    byNameState.set(key, (byNameState.get(key) ?? 0) + 1);
    const started = task.date_started ? Date.parse(zoned(task.date_started)) : NaN;
    const done = task.date_done ? Date.parse(zoned(task.date_done)) : NaN;
    if (!Number.isNaN(started) && !Number.isNaN(done) && done >= started) {
      let list = runtimes.get(name);
      if (!list) runtimes.set(name, (list = []));
      list.push((done - started) / 1000);
    }
  }
  const lines: string[] = [
    '# HELP celeriac_tasks Stored tasks by name and state (the newest 10000 stored).',
    '# TYPE celeriac_tasks gauge',
  ];
  for (const [key, n] of [...byNameState].sort()) {
    const [name = '', state = ''] = key.split('\u0000');
    lines.push(`celeriac_tasks{name="${label(name)}",state="${label(state)}"} ${n}`);
  }
  lines.push(
    '# HELP celeriac_task_runtime_seconds Run time of stored tasks with a start and an end time.',
    '# TYPE celeriac_task_runtime_seconds histogram',
  );
  for (const [name, values] of [...runtimes].sort()) {
    for (const bound of BUCKETS)
      lines.push(
        `celeriac_task_runtime_seconds_bucket{name="${label(name)}",le="${bound}"} ${values.filter((v) => v <= bound).length}`,
      );
    lines.push(
      `celeriac_task_runtime_seconds_bucket{name="${label(name)}",le="+Inf"} ${values.length}`,
    );
    lines.push(
      `celeriac_task_runtime_seconds_sum{name="${label(name)}"} ${values.reduce((a, b) => a + b, 0)}`,
    );
    lines.push(`celeriac_task_runtime_seconds_count{name="${label(name)}"} ${values.length}`);
  }
  lines.push(
    '# HELP celeriac_queue_depth Messages waiting in a queue.',
    '# TYPE celeriac_queue_depth gauge',
  );
  for (const [queue, depth] of queues)
    if (depth !== null) lines.push(`celeriac_queue_depth{queue="${label(queue)}"} ${depth}`);
  lines.push(
    '# HELP celeriac_workers Workers online (heartbeat seen lately).',
    '# TYPE celeriac_workers gauge',
    `celeriac_workers ${workers.length}`,
  );
  lines.push(
    '# HELP celeriac_worker_active_tasks Tasks running on a worker at its last heartbeat.',
    '# TYPE celeriac_worker_active_tasks gauge',
  );
  for (const worker of workers)
    lines.push(`celeriac_worker_active_tasks{worker="${label(worker.hostname)}"} ${worker.active}`);
  return `${lines.join('\n')}\n`;
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function zoned(date: string): string {
  return /[zZ]|[+-]\d\d:?\d\d$/.test(date) ? date : `${date}Z`;
}
