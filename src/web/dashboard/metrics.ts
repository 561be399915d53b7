/**
 * `/metrics` in Prometheus text format (version 0.0.4): from the listing's stored
 * counters (task-index.ts) when it keeps them, stores by name and state as counters and
 * run times as a histogram; else, from the newest 10,000 stored tasks, tasks by name and
 * state as a gauge and their run times. Queue depths and workers online either way.
 * Formatting over what the listing, broker and registry answer; writes nothing.
 */
import type { TaskListing, TaskTotals } from '../../backends/task-listing.js';
import { RUNTIME_BUCKETS } from '../../backends/task-index.js';
import type { WorkerInfo } from '../../backends/worker-registry.js';
import type { ResultMeta } from '../../protocol/types.js';

const BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300];
const SAMPLE = 10_000;

export async function renderMetrics(
  listing: TaskListing,
  queues: Array<[string, number | null]>,
  workers: WorkerInfo[],
): Promise<string> {
  const totals = listing.totals ? await listing.totals() : undefined;
  // No counts at all: stores were never counted (resultExtended off), so sample instead.
  const lines = totals && totals.counts.length > 0 ? fromTotals(totals) : await sampled(listing);
  return `${[...lines, ...gauges(queues, workers)].join('\n')}\n`;
}

/** Counters since the store began: they only grow, as Prometheus counters must. */
function fromTotals(totals: TaskTotals): string[] {
  const byNameState = new Map<string, number>();
  for (const { name, state, count } of totals.counts) {
    const key = `${name || 'unknown'}\u0000${state}`;
    byNameState.set(key, (byNameState.get(key) ?? 0) + count);
  }
  const lines = [
    '# HELP celeriac_tasks_total Task states stored, by task name and state (from the stored counters).',
    '# TYPE celeriac_tasks_total counter',
  ];
  for (const [key, n] of [...byNameState].sort()) {
    const [name = '', state = ''] = key.split('\u0000');
    lines.push(`celeriac_tasks_total{name="${label(name)}",state="${label(state)}"} ${n}`);
  }
  lines.push(
    '# HELP celeriac_task_runtime_seconds Run time of ended tasks (from the stored counters).',
    '# TYPE celeriac_task_runtime_seconds histogram',
  );
  for (const { name, buckets, sum } of [...totals.runtimes].sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const n = label(name || 'unknown');
    let cumulative = 0;
    RUNTIME_BUCKETS.forEach((bound, i) => {
      cumulative += buckets[i] ?? 0;
      lines.push(`celeriac_task_runtime_seconds_bucket{name="${n}",le="${bound}"} ${cumulative}`);
    });
    cumulative += buckets[RUNTIME_BUCKETS.length] ?? 0;
    lines.push(`celeriac_task_runtime_seconds_bucket{name="${n}",le="+Inf"} ${cumulative}`);
    lines.push(`celeriac_task_runtime_seconds_sum{name="${n}"} ${sum}`);
    lines.push(`celeriac_task_runtime_seconds_count{name="${n}"} ${cumulative}`);
  }
  return lines;
}

/** A listing without counters: the newest stored tasks. */
async function sampled(listing: TaskListing): Promise<string[]> {
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
  return lines;
}

function gauges(queues: Array<[string, number | null]>, workers: WorkerInfo[]): string[] {
  const lines: string[] = [];
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
  return lines;
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function zoned(date: string): string {
  return /[zZ]|[+-]\d\d:?\d\d$/.test(date) ? date : `${date}Z`;
}
