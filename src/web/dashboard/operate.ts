/**
 * The dashboard's operating pages, as HTML from data the handler read: workers (live from
 * heartbeats, with remote-control actions: shut down, grow or shrink the pool, set a
 * task's rate limit, add or cancel a queue's consumer), queues (depth, ended per minute
 * from the stored counters, oldest message where the broker knows it, consumers, pause
 * and resume stored in the worker registry), dead letters (listed per queue, redriven), the
 * confirmation of an operation and its outcome. Which
 * operations exist and what their fields mean lives here, once. Pure: no I/O.
 */
import type { WorkerInfo } from '../../backends/worker-registry.js';
import type { DeadLetterInfo } from '../../brokers/broker.js';
import type { JsonObject } from '../../protocol/types.js';
import { html, type Html } from './html.js';
import { csrfField } from './pages.js';

const hidden = (name: string, value: string) =>
  html`<input type="hidden" name="${name}" value="${value}" />`;

/** A remote-control command the dashboard can send to a worker, and how it reads its form. */
export interface Operation {
  /** Celery's control command. */
  command: string;
  /** In words, for the confirmation: "shut down w1@host". */
  describe: (worker: string, form: URLSearchParams) => string;
  /** The command's arguments from the form; throws RangeError for a bad field. */
  arguments: (form: URLSearchParams) => JsonObject;
}

const count = (form: URLSearchParams): number => {
  const n = Number(form.get('n') ?? '1');
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new RangeError('The number of slots is a whole number from 1 to 1000.');
  return n;
};
const text = (form: URLSearchParams, field: string, what: string): string => {
  const value = (form.get(field) ?? '').trim();
  if (!/^[A-Za-z0-9_.:@/-]{1,200}$/.test(value)) throw new RangeError(`Give ${what}.`);
  return value;
};

export const OPERATIONS: Record<string, Operation> = {
  shutdown: {
    command: 'shutdown',
    describe: (worker) => `shut down ${worker} (it finishes its running tasks first)`,
    arguments: () => ({ msg: 'Shutdown requested from the dashboard' }),
  },
  pool_grow: {
    command: 'pool_grow',
    describe: (worker, form) => `grow the pool of ${worker} by ${count(form)}`,
    arguments: (form) => ({ n: count(form) }),
  },
  pool_shrink: {
    command: 'pool_shrink',
    describe: (worker, form) => `shrink the pool of ${worker} by ${count(form)}`,
    arguments: (form) => ({ n: count(form) }),
  },
  rate_limit: {
    command: 'rate_limit',
    describe: (worker, form) =>
      `set the rate limit of ${text(form, 'task', 'a task name')} on ${worker} to ${rate(form)}`,
    arguments: (form) => ({ task_name: text(form, 'task', 'a task name'), rate_limit: rate(form) }),
  },
  add_consumer: {
    command: 'add_consumer',
    describe: (worker, form) => `make ${worker} consume ${text(form, 'queue', 'a queue')}`,
    arguments: (form) => ({ queue: text(form, 'queue', 'a queue') }),
  },
  cancel_consumer: {
    command: 'cancel_consumer',
    describe: (worker, form) => `make ${worker} stop consuming ${text(form, 'queue', 'a queue')}`,
    arguments: (form) => ({ queue: text(form, 'queue', 'a queue') }),
  },
};

/** Celery's rate text: `10/m`, `5/s`, `100/h`, or `0` for none. */
function rate(form: URLSearchParams): string {
  const value = (form.get('rate') ?? '').trim();
  if (!/^(?:0|\d{1,6}(?:\/[smh])?)$/.test(value))
    throw new RangeError('A rate limit reads like 10/m, 5/s or 100/h (0 removes it).');
  return value;
}

export interface ControlState {
  csrf: string;
  readOnly: boolean;
  /** Why operations are not offered (a broker without fanout), or undefined when they are. */
  unavailable?: string | undefined;
}

function operable(options: ControlState): boolean {
  return !options.readOnly && options.unavailable === undefined;
}

export function workersPage(
  prefix: string,
  workers: WorkerInfo[],
  now: number,
  options: ControlState,
): Html {
  const note =
    options.unavailable && !options.readOnly
      ? html`<p class="muted">${options.unavailable}</p>`
      : '';
  if (workers.length === 0)
    return html`<p class="muted">No worker is online (none sent a heartbeat lately).</p>
      ${note}`;
  const act = (w: WorkerInfo) =>
    html`<form method="post" action="${prefix}/workers" class="operate">
      ${csrfField(options.csrf)}${hidden('worker', w.hostname)}
      <label>slots <input name="n" type="number" min="1" max="1000" value="1" size="3" /></label>
      <button name="action" value="pool_grow">Grow</button
      ><button name="action" value="pool_shrink">Shrink</button>
      <label>task <input name="task" size="14" /></label>
      <label>rate <input name="rate" size="5" placeholder="10/m" /></label>
      <button name="action" value="rate_limit">Set rate</button>
      <label>queue <input name="queue" size="10" /></label>
      <button name="action" value="add_consumer">Consume</button
      ><button name="action" value="cancel_consumer">Stop consuming</button>
      <button name="action" value="shutdown" class="danger">Shut down</button>
    </form>`;
  return html`<table>
      <thead>
        <tr>
          <th>Worker</th>
          <th>Pid</th>
          <th>Queues</th>
          <th>Concurrency</th>
          <th>Active</th>
          <th>Load</th>
          <th>Up</th>
          <th>Last seen</th>
          <th>Version</th>
        </tr>
      </thead>
      <tbody>
        ${workers.map(
          (w) =>
            html`<tr data-worker="${w.hostname}">
                <td>${w.hostname}</td>
                <td>${w.pid}</td>
                <td>${w.queues.join(', ')}</td>
                <td>${w.concurrency}</td>
                <td>${w.active}</td>
                <td>${w.concurrency > 0 ? Math.round((w.active / w.concurrency) * 100) : 0}%</td>
                <td>${Math.round((now - w.startedAt) / 1000)} s</td>
                <td>${Math.round((now - w.seenAt) / 1000)} s ago</td>
                <td>${w.version}</td>
              </tr>
              ${
                operable(options)
                  ? html`<tr class="operate-row">
                      <td colspan="9">${act(w)}</td>
                    </tr>`
                  : ''
              }`,
        )}
      </tbody>
    </table>
    ${note}`;
}

export interface QueueRow {
  name: string;
  depth: number | null;
  /** Tasks of this queue that ended per minute, over the last five minutes (stored counters). */
  perMinute: number | undefined;
  /** Age in ms of the oldest waiting message, where the broker can tell. */
  oldestMs: number | null | undefined;
  /** Why the oldest message's age is unknown, when it is. */
  oldestUnknown?: string | undefined;
  /** Live workers consuming it (from their heartbeats). */
  consumers: string[];
  /** Paused for every worker in the worker registry (stored, so it outlasts restarts). */
  paused: boolean;
}

export function queuesPage(
  prefix: string,
  queues: QueueRow[],
  workers: number,
  /** `storedPause`: the worker registry stores pauses, so no remote control is needed. */
  options: ControlState & { storedPause?: boolean | undefined },
): Html {
  const canPause = !options.readOnly && (options.storedPause === true || operable(options));
  const age = (ms: number | null | undefined) =>
    ms === undefined ? 'unknown' : ms === null ? '' : `${Math.round(ms / 1000)} s`;
  return html`<table>
      <thead>
        <tr>
          <th>Queue</th>
          <th>Waiting</th>
          <th>Ended / min (5 min)</th>
          <th>Oldest message</th>
          <th>Consumers</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${queues.map(
          (q) =>
            html`<tr data-queue="${q.name}">
              <td>${q.name}</td>
              <td>${q.depth ?? 'unknown'}</td>
              <td>${q.perMinute === undefined ? 'unknown' : q.perMinute.toFixed(1)}</td>
              <td>
                ${age(q.oldestMs)}${q.oldestUnknown ? html` <span class="muted">(${q.oldestUnknown})</span>` : ''}
              </td>
              <td>
                ${
                  q.paused
                    ? html`<span class="state state-REVOKED" data-paused="stored">paused</span>`
                    : ''
                }
                ${
                  q.consumers.length > 0
                    ? q.consumers.join(', ')
                    : workers > 0 && !q.paused
                      ? html`<span class="state state-REVOKED">paused</span>`
                      : q.paused
                        ? ''
                        : 'none'
                }
              </td>
              <td>
                ${
                  canPause
                    ? html`<form method="post" action="${prefix}/queues">
                        ${csrfField(options.csrf)}${hidden('queue', q.name)}
                        <button name="action" value="pause">Pause</button
                        ><button name="action" value="resume">Resume</button>
                      </form>`
                    : ''
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="muted">
      Pause stops every worker consuming the queue: it is stored in the worker registry, so workers
      follow it within one heartbeat (2 s), keep it through restarts, and a worker started later
      starts with the queue paused; resume undoes it. Messages sent meanwhile wait in the queue.
      Where the registry cannot store it, pause and resume go to the live workers by remote control
      (cancel_consumer / add_consumer) and last until they restart.
    </p>
    ${
      options.unavailable && !options.readOnly && !options.storedPause
        ? html`<p class="muted">${options.unavailable}</p>`
        : ''
    }`;
}

/** The confirmation of an operation: what it will do, and the same form with confirm=yes. */
export function confirmOperation(
  prefix: string,
  path: string,
  what: string,
  fields: Array<[string, string]>,
  csrf: string,
): Html {
  return html`<p id="confirm-count">This will ${what}.</p>
    <form method="post" action="${prefix}${path}">
      ${csrfField(csrf)}${fields.map(([k, v]) => hidden(k, v))}${hidden('confirm', 'yes')}
      <div class="actions">
        <button id="confirm-yes" class="danger">Yes, do it</button>
        <a href="${prefix}${path}">cancel</a>
      </div>
    </form>`;
}

/** What the workers answered. */
export function operationDone(
  prefix: string,
  path: string,
  what: string,
  /** The workers' replies to a remote-control command; undefined for an operation without any. */
  replies: Array<Record<string, unknown>> | undefined,
): Html {
  return html`<p role="status" id="operation-done">${replies ? 'Sent' : 'Done'}: ${what}.</p>
    ${
      !replies
        ? ''
        : replies.length === 0
          ? html`<p class="muted">No worker answered within the timeout.</p>`
          : html`<ul id="operation-replies">
              ${replies.map((reply) =>
                Object.entries(reply).map(
                  ([node, value]) => html`<li><b>${node}</b>: ${JSON.stringify(value)}</li>`,
                ),
              )}
            </ul>`
    }
    <p><a href="${prefix}${path}">back</a></p>`;
}

/** The dead letters of each queue shown, where the broker keeps them, with redrive. */
export function deadLettersPage(
  prefix: string,
  queues: Array<{ queue: string; letters: DeadLetterInfo[] | undefined }>,
  options: { csrf: string; readOnly: boolean },
): Html {
  return html`${queues.map(({ queue, letters }) => {
    if (!letters)
      return html`<h2>${queue}</h2>
        <p class="muted">This broker keeps no dead letters the dashboard can read.</p>`;
    const form = `redrive-${queue}`;
    return html`<h2>${queue}</h2>
      ${
        letters.length === 0
          ? html`<p class="muted">No dead letter.</p>`
          : html`<table data-dead-queue="${queue}">
                <thead>
                  <tr>
                    ${options.readOnly ? '' : html`<th></th>`}
                    <th>Task</th>
                    <th>Id</th>
                    <th>Reason</th>
                    <th>Dead since</th>
                  </tr>
                </thead>
                <tbody>
                  ${letters.map(
                    (letter) =>
                      html`<tr data-letter="${letter.id}">
                        ${
                          options.readOnly
                            ? ''
                            : html`<td>
                                <input
                                  type="checkbox"
                                  name="id"
                                  value="${letter.id}"
                                  form="${form}"
                                  aria-label="select ${letter.id}"
                                />
                              </td>`
                        }
                        <td>${headerText(letter, 'task')}</td>
                        <td><code>${headerText(letter, 'id')}</code></td>
                        <td>${letter.reason}</td>
                        <td>
                          ${new Date(letter.deadAt).toISOString().slice(0, 19).replace('T', ' ')}
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              ${
                options.readOnly
                  ? ''
                  : html`<form id="${form}" method="post" action="${prefix}/dead-letters">
                      ${csrfField(options.csrf)}${hidden('queue', queue)}
                      <div class="actions">
                        <button name="action" value="redrive">Redrive selected</button
                        ><button name="action" value="redrive-all">
                          Redrive all ${letters.length} shown
                        </button>
                      </div>
                    </form>`
              }`
      }`;
  })}`;
}

function headerText(letter: DeadLetterInfo, name: 'task' | 'id'): string {
  const value = letter.message?.headers[name];
  return typeof value === 'string' ? value : '';
}
