/**
 * The dashboard's pages as HTML, from data the handler read: overview, tasks (filters,
 * table, cursor pager), one task, queues, workers, schedules, and the confirmation of an
 * action. Every value is escaped (html.ts); arguments and results pass through the user's
 * `mask` before they are shown. Pure: no I/O.
 */
import type { StoredEntry } from '../../backends/beat-store.js';
import type { ResultMeta } from '../../protocol/types.js';
import { html, raw, type Html } from './html.js';
import { searchOf, type TaskFilters } from './query.js';

export type MaskField = 'args' | 'kwargs' | 'result' | 'traceback';
export type Masker = (meta: ResultMeta, field: MaskField) => unknown;

export const STATES = [
  'PENDING',
  'RECEIVED',
  'STARTED',
  'PROGRESS',
  'RETRY',
  'SUCCESS',
  'FAILURE',
  'REVOKED',
];

/** States of a task that may be running on a worker now: terminate is offered for them. */
const RUNNING = new Set(['RECEIVED', 'STARTED', 'PROGRESS', 'RETRY']);

export const stateBadge = (status: string): Html => state(status);
const state = (status: string) =>
  html`<span class="state state-${status.replace(/[^A-Z_]/g, '')}">${status}</span>`;
const short = (value: unknown, max = 80) => {
  const text = value === undefined ? '' : (JSON.stringify(value) ?? '');
  return text.length > max ? `${text.slice(0, max)}…` : text;
};
const when = (iso: string | null | undefined) =>
  iso
    ? iso
        .replace('T', ' ')
        .replace(/\.\d+/, '')
        .replace(/\+00:00$|Z$/, '')
    : '';
const hidden = (name: string, value: string) =>
  html`<input type="hidden" name="${name}" value="${value}" />`;

export function csrfField(token: string): Html {
  return hidden('csrf', token);
}

export interface OverviewData {
  counts: Array<[string, number]>;
  /** Where the chart's figures come from, in words. */
  source: string;
  hours: Array<{ label: string; ok: number; bad: number }>;
  queues: Array<[string, number | null]>;
  workers: number;
}

export function overviewPage(prefix: string, data: OverviewData): Html {
  const max = Math.max(1, ...data.hours.map((h) => h.ok + h.bad));
  const px = (n: number) => `${Math.round((n / max) * 100)}`;
  return html`<section class="cards">
      ${data.counts.map(
        ([status, n]) =>
          html`<a class="card" href="${prefix}/tasks?state=${status}"
            ><b>${n}</b>${state(status)}</a
          >`,
      )}
      <div class="card"><b>${data.workers}</b>workers online</div>
    </section>
    <h2>Finished per hour (UTC), ${data.source}</h2>
    <div class="chart" role="img" aria-label="successes and failures per hour">
      ${data.hours.map(
        (h) =>
          html`<div class="bar" title="${h.label}: ${h.ok} ok, ${h.bad} failed">
            <span class="ok h${px(h.ok)}"></span><span class="bad h${px(h.bad)}"></span>
          </div>`,
      )}
    </div>
    <p class="muted">${data.hours[0]?.label ?? ''} → ${data.hours.at(-1)?.label ?? ''}</p>
    <h2>Queues</h2>
    ${queueTable(data.queues)}`;
}

export function queueTable(queues: Array<[string, number | null]>): Html {
  return html`<table>
    <thead>
      <tr>
        <th>Queue</th>
        <th>Waiting</th>
      </tr>
    </thead>
    <tbody>
      ${queues.map(
        ([name, depth]) =>
          html`<tr>
            <td>${name}</td>
            <td>${depth ?? 'unknown'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

export function taskRows(
  prefix: string,
  tasks: ResultMeta[],
  mask: Masker,
  selectable: boolean,
): Html {
  if (tasks.length === 0)
    return html`<tr>
      <td colspan="8" class="muted">No task matches.</td>
    </tr>`;
  return html`${tasks.map(
    (t) =>
      html`<tr data-id="${t.task_id}">
        ${selectable ? html`<td><input type="checkbox" name="id" value="${t.task_id}" form="bulk" aria-label="select ${t.task_id}" /></td>` : ''}
        <td>
          <a href="${prefix}/tasks/${encodeURIComponent(t.task_id)}"><code>${t.task_id}</code></a>
        </td>
        <td>${t.name ?? ''}</td>
        <td>${state(t.status)}</td>
        <td><code>${short(mask(t, 'args'))}</code></td>
        <td>${t.queue ?? ''}</td>
        <td>${t.worker ?? ''}</td>
        <td>${when(t.date_done)}</td>
      </tr>`,
  )}`;
}

export function tasksPage(
  prefix: string,
  filters: TaskFilters,
  rows: Html,
  next: string | undefined,
  options: { csrf: string; readOnly: boolean; error?: string | undefined; names: string[] },
): Html {
  const selected = new Set(filters.states ?? []);
  const base = searchOf(filters);
  return html`<form class="filters" method="get" action="${prefix}/tasks">
      <label
        >State<select name="state" multiple size="3">
          ${STATES.map(
            (s) => html`<option${raw(selected.has(s) ? ' selected' : '')}>${s}</option>`,
          )}
        </select></label
      >
      <label>Name<input name="name" list="task-names" value="${filters.names?.[0] ?? ''}" /></label>
      <datalist id="task-names">
        ${options.names.map((n) => html`<option value="${n}"></option>`)}
      </datalist>
      <label>Queue<input name="queue" value="${filters.queue ?? ''}" /></label>
      <label>Worker<input name="worker" value="${filters.worker ?? ''}" /></label>
      <label
        >Done after (UTC)<input
          name="after"
          type="datetime-local"
          value="${filters.doneAfter !== undefined ? new Date(filters.doneAfter).toISOString().slice(0, 16) : ''}"
      /></label>
      <label
        >Done before (UTC)<input
          name="before"
          type="datetime-local"
          value="${filters.doneBefore !== undefined ? new Date(filters.doneBefore).toISOString().slice(0, 16) : ''}"
      /></label>
      <label
        >Argument or result<input
          name="field"
          placeholder="args.customerId = 42"
          value="${filters.fieldTexts[0] ?? ''}"
      /></label>
      <label
        >Order<select name="order">
          <option value="desc">newest first</option>
          <option value="asc" ${raw(filters.order === 'asc' ? ' selected' : '')}>
            oldest first
          </option>
        </select></label
      >
      <button type="submit">Filter</button> <a href="${prefix}/tasks">clear</a>
    </form>
    ${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
    ${
      options.readOnly
        ? ''
        : html`<form id="bulk" method="post" action="${prefix}/actions">
            ${csrfField(options.csrf)}${hidden('filter', base)}
            <div class="actions">
              <span class="muted">Selected or every match of the filter:</span>
              <button name="action" value="retry">Retry selected</button
              ><button name="action" value="revoke">Revoke selected</button
              ><button name="action" value="terminate" class="danger">Terminate selected</button
              ><button name="action" value="delete" class="danger">Delete selected</button>
              <button name="action" value="retry-all">Retry all matching</button
              ><button name="action" value="revoke-all">Revoke all matching</button
              ><button name="action" value="terminate-all" class="danger">
                Terminate all matching</button
              ><button name="action" value="delete-all" class="danger">Delete all matching</button>
            </div>
          </form>`
    }
    <table>
      <thead>
        <tr>
          ${options.readOnly ? '' : html`<th><input type="checkbox" id="select-all" aria-label="select all" /></th>`}
          <th>Id</th>
          <th>Name</th>
          <th>State</th>
          <th>Args</th>
          <th>Queue</th>
          <th>Worker</th>
          <th>Done (UTC)</th>
        </tr>
      </thead>
      <tbody id="task-rows">
        ${rows}
      </tbody>
    </table>
    <p class="pager">
      ${filters.cursor ? html`<a href="${prefix}/tasks${base}">first page</a> ` : ''}${next ? html`<a rel="next" href="${prefix}/tasks${searchOf(filters, next)}">next page →</a>` : ''}
    </p>`;
}

export function taskPage(
  prefix: string,
  meta: ResultMeta,
  mask: Masker,
  options: { csrf: string; readOnly: boolean; masked: boolean; detail?: Html | undefined },
): Html {
  const link = (id: unknown) =>
    html`<a href="${prefix}/tasks/${encodeURIComponent(String(id))}"
      ><code>${String(id)}</code></a
    >`;
  const children = (meta.children ?? []).map((child) => {
    // Celery stores a child as [[id, parent], null]: the id is the first string inside.
    const id = JSON.stringify(child).match(/"([^"]+)"/)?.[1];
    return id ? html`<li>${link(id)}</li>` : '';
  });
  const pretty = (value: unknown) => JSON.stringify(value, null, 2) ?? 'null';
  const canRetry = typeof meta.name === 'string' && Array.isArray(meta.args);
  return html`<dl>
      <dt>Id</dt>
      <dd><code>${meta.task_id}</code></dd>
      <dt>State</dt>
      <dd id="task-state">${state(meta.status)}</dd>
      <dt>Name</dt>
      <dd>${meta.name ?? 'not stored (resultExtended is off)'}</dd>
      <dt>Queue</dt>
      <dd>${meta.queue ?? ''}</dd>
      <dt>Worker</dt>
      <dd>${meta.worker ?? ''}</dd>
      <dt>Retries</dt>
      <dd>${meta.retries ?? 0}</dd>
      <dt>Done</dt>
      <dd>${when(meta.date_done)}</dd>
      ${
        meta.parent_id
          ? html`<dt>Parent</dt>
              <dd>${link(meta.parent_id)}</dd>`
          : ''
      }${
        meta.group_id
          ? html`<dt>Group</dt>
              <dd><code>${meta.group_id}</code></dd>`
          : ''
      }
    </dl>
    ${options.detail ?? ''}
    ${
      children.length
        ? html`<h2>Children</h2>
            <ul>
              ${children}
            </ul>`
        : ''
    }
    <h2>Arguments</h2>
    <pre>${pretty(mask(meta, 'args'))}</pre>
    <h2>Keyword arguments</h2>
    <pre>${pretty(mask(meta, 'kwargs'))}</pre>
    <h2>${meta.status === 'FAILURE' || meta.status === 'RETRY' ? 'Error' : 'Result'}</h2>
    <pre id="task-result">${pretty(mask(meta, 'result'))}</pre>
    ${
      meta.traceback
        ? html`<h2>Traceback</h2>
            <pre>${textOf(mask(meta, 'traceback'))}</pre>`
        : ''
    }
    ${
      options.readOnly
        ? ''
        : html`<h2>Act</h2>
            <form method="post" action="${prefix}/actions">
              ${csrfField(options.csrf)}${hidden('id', meta.task_id)}
              ${canRetry ? html`<label>Arguments to retry with (JSON array)<br /><textarea name="args" rows="3" cols="60" placeholder="empty: the stored arguments">${options.masked ? '' : JSON.stringify(meta.args)}</textarea></label>` : html`<p class="muted">Retry needs the stored name and arguments (the app's resultExtended).</p>`}
              <div class="actions">
                ${canRetry ? html`<button name="action" value="retry">Retry</button>` : ''}<button
                  name="action"
                  value="revoke"
                >
                  Revoke</button
                >${RUNNING.has(meta.status) ? html`<button name="action" value="terminate" class="danger">Terminate</button>` : ''}<button
                  name="action"
                  value="delete"
                  class="danger"
                >
                  Delete
                </button>
              </div>
            </form>`
    }`;
}

export function confirmPage(
  prefix: string,
  action: string,
  count: number,
  fields: Array<[string, string]>,
  csrf: string,
  capped: boolean,
): Html {
  const verb = action.replace(/-all$/, '');
  return html`<p id="confirm-count">
      This will ${verb}
      <strong>${count}</strong>
      task${count === 1 ? '' : 's'}${capped ? ' (the first of more: run it again for the rest)' : ''}.
    </p>
    <form method="post" action="${prefix}/actions">
      ${csrfField(csrf)}${fields.map(([k, v]) => hidden(k, v))}${hidden('confirm', 'yes')}
      <div class="actions">
        <button
          id="confirm-yes"
          name="action"
          value="${action}"
          class="${verb === 'delete' || verb === 'terminate' ? 'danger' : ''}"
        >
          Yes, ${verb} ${count}
        </button>
        <a href="${prefix}/tasks">cancel</a>
      </div>
    </form>`;
}

export function schedulesPage(
  prefix: string,
  entries: StoredEntry[] | undefined,
  options: { csrf: string; readOnly: boolean },
): Html {
  if (!entries) return html`<p class="muted">This result backend keeps no beat schedules.</p>`;
  if (entries.length === 0)
    return html`<p class="muted">
      No schedule is stored (beat stores its entries when it starts).
    </p>`;
  return html`<table>
      <thead>
        <tr>
          <th>Entry</th>
          <th>Task</th>
          <th>Schedule</th>
          <th>Args</th>
          <th>Enabled</th>
          <th>Last run</th>
          <th>Runs</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${entries.map(
          (e) =>
            html`<tr data-entry="${e.name}">
              <td>${e.name}</td>
              <td>${e.task}</td>
              <td><code>${JSON.stringify(e.schedule)}</code></td>
              <td><code>${short(e.args)}</code></td>
              <td>${e.enabled ? 'yes' : 'no'}${e.runNowAt ? ' (run requested)' : ''}</td>
              <td>
                ${e.lastRunAt ? new Date(e.lastRunAt).toISOString().slice(0, 19).replace('T', ' ') : ''}
              </td>
              <td>${e.totalRuns}</td>
              <td>
                ${
                  options.readOnly
                    ? ''
                    : html`<form method="post" action="${prefix}/schedules">
                        ${csrfField(options.csrf)}${hidden('entry', e.name)}
                        <button name="action" value="${e.enabled ? 'disable' : 'enable'}">
                          ${e.enabled ? 'Disable' : 'Enable'}
                        </button>
                        <button name="action" value="run">Run now</button> ${
                          e.source === 'store'
                            ? html`<details>
                                <summary>Edit</summary>
                                <label
                                  >Args (JSON array)<br /><textarea name="args" rows="2" cols="30">
${JSON.stringify(e.args)}</textarea></label
                                ><br /><label
                                  >Schedule (JSON)<br /><textarea
                                    name="schedule"
                                    rows="2"
                                    cols="30"
                                  >
${JSON.stringify(e.schedule)}</textarea></label
                                ><br /><button name="action" value="edit">Save</button>
                              </details>`
                            : ''
                        }
                      </form>`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="muted">
      Entries declared in code are edited in code; entries stored at run time can be edited here.
    </p>`;
}

/** A task with nothing stored yet (waiting in its queue, or unknown): it can still be revoked. */
export function unknownTaskPage(
  prefix: string,
  id: string,
  options: { csrf: string; readOnly: boolean },
): Html {
  return html`<p>
      No state is stored for <code>${id}</code>: it waits in its queue, is unknown, or expired.
    </p>
    ${
      options.readOnly
        ? ''
        : html`<form method="post" action="${prefix}/actions">
            ${csrfField(options.csrf)}${hidden('id', id)}
            <p>Revoking it makes every worker drop it when it comes.</p>
            <div class="actions"><button name="action" value="revoke">Revoke</button></div>
          </form>`
    }`;
}

export function messagePage(text: string, back: string): Html {
  return html`<p role="alert">${text}</p>
    <p><a href="${back}">back</a></p>`;
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}
