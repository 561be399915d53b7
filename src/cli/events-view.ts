/**
 * What `celeriac events` shows: `--dump` lines (one per event, as `celery events --dump`
 * prints them) and a compact live view (as `celery events`' curses monitor): the workers
 * with their state from heartbeats, then the latest tasks with their state, worker and run
 * time. Pure formatting of events into text; the command does the I/O.
 */
import { TASK_EVENT_STATES, type CeleryEvent } from '../protocol/events.js';

const HIDDEN = new Set(['hostname', 'timestamp', 'type', 'uuid', 'name', 'args', 'kwargs']);

/** One line for one event: `<node> [<time>] task succeeded: add(<id>) args=... result=5, ...`. */
export function dumpLine(event: CeleryEvent): string {
  const when = new Date(event.timestamp * 1000).toISOString().replace('T', ' ').replace('Z', '');
  const dash = event.type.indexOf('-');
  const group = dash === -1 ? event.type : event.type.slice(0, dash);
  const what = dash === -1 ? '' : event.type.slice(dash + 1);
  const label = group === 'worker' ? what : `${group} ${what}`;
  const fields = Object.keys(event)
    .filter((key) => !HIDDEN.has(key))
    .sort()
    .map((key) => `${key}=${show(event[key])}`)
    .join(', ');
  const subject =
    typeof event.uuid === 'string'
      ? ` ${typeof event.name === 'string' ? event.name : ''}(${event.uuid})` +
        (typeof event.args === 'string' ? ` args=${event.args}` : '') +
        (typeof event.kwargs === 'string' ? ` kwargs=${event.kwargs}` : '')
      : '';
  return `${event.hostname} [${when}] ${label}:${subject} ${fields}`.trimEnd();
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

interface WorkerRow {
  hostname: string;
  lastSeen: number;
  freq: number;
  active: number;
  processed: number;
  loadavg: string;
  software: string;
  offline: boolean;
}
interface TaskRow {
  uuid: string;
  name: string;
  state: string;
  worker: string;
  at: number;
  runtime: number | null;
}

/** The live view's state, fed event by event. */
export class EventsView {
  private readonly workers = new Map<string, WorkerRow>();
  private readonly tasks = new Map<string, TaskRow>();
  eventCount = 0;

  constructor(private readonly maxTasks = 15) {}

  add(event: CeleryEvent, receivedAt = Date.now()): void {
    this.eventCount++;
    if (event.type.startsWith('worker-')) {
      const row: WorkerRow = this.workers.get(event.hostname) ?? {
        hostname: event.hostname,
        lastSeen: receivedAt,
        freq: 2,
        active: 0,
        processed: 0,
        loadavg: '',
        software: '',
        offline: false,
      };
      row.lastSeen = receivedAt;
      row.offline = event.type === 'worker-offline';
      if (typeof event.freq === 'number') row.freq = event.freq;
      if (typeof event.active === 'number') row.active = event.active;
      if (typeof event.processed === 'number') row.processed = event.processed;
      if (Array.isArray(event.loadavg)) row.loadavg = event.loadavg.map((n) => show(n)).join(' ');
      if (typeof event.sw_ident === 'string')
        row.software = `${event.sw_ident} ${typeof event.sw_ver === 'string' ? event.sw_ver : ''}`;
      this.workers.set(event.hostname, row);
      return;
    }
    const uuid = event.uuid;
    if (typeof uuid !== 'string') return;
    const row: TaskRow = this.tasks.get(uuid) ?? {
      uuid,
      name: '',
      state: 'PENDING',
      worker: '',
      at: receivedAt,
      runtime: null,
    };
    if (typeof event.name === 'string') row.name = event.name;
    row.state = TASK_EVENT_STATES[event.type] ?? event.type;
    if (event.type !== 'task-sent') row.worker = event.hostname;
    if (typeof event.runtime === 'number') row.runtime = event.runtime;
    row.at = receivedAt;
    this.tasks.delete(uuid);
    this.tasks.set(uuid, row);
    while (this.tasks.size > this.maxTasks * 4) {
      const oldest = this.tasks.keys().next().value as string;
      this.tasks.delete(oldest);
    }
  }

  /** The screen: workers, then the latest tasks, newest first. */
  render(now = Date.now()): string {
    const lines: string[] = [`celeriac events: ${this.eventCount} events`, '', 'WORKERS'];
    if (this.workers.size === 0) lines.push('  (none seen yet)');
    for (const row of [...this.workers.values()].sort((a, b) =>
      a.hostname.localeCompare(b.hostname),
    )) {
      const alive = !row.offline && now - row.lastSeen < row.freq * 1000 * 2.5;
      lines.push(
        `  ${row.hostname.padEnd(28)} ${(alive ? 'ONLINE' : 'OFFLINE').padEnd(8)}` +
          ` active=${row.active} processed=${row.processed} load=${row.loadavg} ${row.software}`.trimEnd(),
      );
    }
    lines.push('', 'TASKS (latest first)');
    const latest = [...this.tasks.values()].reverse().slice(0, this.maxTasks);
    if (latest.length === 0) lines.push('  (none seen yet)');
    for (const row of latest) {
      const runtime = row.runtime === null ? '' : ` ${row.runtime.toFixed(3)}s`;
      lines.push(
        `  ${row.uuid}  ${row.state.padEnd(9)} ${row.name.padEnd(24)} ${row.worker}${runtime}`.trimEnd(),
      );
    }
    return lines.join('\n');
  }
}
