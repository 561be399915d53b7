/**
 * The dashboard's /flow page: each worker's flow control as it answered the `flow_state`
 * remote-control command (`app.flow.workers()`): per limited task, the current rate there,
 * the slots its runs hold and the deliveries it holds waiting, by key.
 */
import type { WorkerFlow } from '../../flow/app-flow.js';
import { html, type Html } from './html.js';

/** The page: a table per worker, or why none could be asked (`problem`). */
export function flowPage(workers: WorkerFlow[], problem?: string): Html {
  if (problem !== undefined) return html`<p class="muted">${problem}</p>`;
  if (workers.length === 0) return html`<p class="muted">No worker answered flow_state.</p>`;
  return html`${workers.map(
    ({ worker, tasks }) =>
      html`<section>
        <h2>${worker}</h2>
        ${
          tasks.length === 0
            ? html`<p class="muted">No limited task has run or waited here.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th>Task</th>
                    <th>Started / s</th>
                    <th>Running (key: slots)</th>
                    <th>Waiting (key, reason: count)</th>
                  </tr>
                </thead>
                <tbody>
                  ${tasks.map(
                    (t) =>
                      html`<tr>
                        <td>${t.task}</td>
                        <td>${t.startedPerSecond.toFixed(1)}</td>
                        <td>
                          ${t.running.map((r) => `${r.key ?? '(all)'}: ${r.count}`).join(', ')}
                        </td>
                        <td>
                          ${t.waiting.map((w) => `${w.key ?? '(all)'}, ${w.reason}: ${w.count}`).join('; ')}
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
        }
      </section>`,
  )}`;
}
