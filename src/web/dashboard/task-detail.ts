/**
 * One task's timeline and workflow tree for its dashboard page: the timeline from the
 * task history when the app keeps one (`taskHistory`), else from what the stored meta
 * says (started, retries, ended: `date_started` needs `resultExtended`),
 * the tree from the stored links (`parent_id` up to the root, then each stored
 * `children` down), read through a `get` the handler passes. Bounded (depth and nodes),
 * so a long chain cannot make a page slow. Rendering is pure; `readTree` only reads.
 */
import type { ResultMeta } from '../../protocol/types.js';
import type { TaskHistoryEvent } from '../../backends/task-history.js';
import type { ResultBackend } from '../../backends/backend.js';
import { html, type Html } from './html.js';
import { stateBadge } from './pages.js';

const MAX_DEPTH = 8;
const MAX_NODES = 60;

export interface TreeNode {
  id: string;
  meta: ResultMeta | undefined;
  children: TreeNode[];
}

/** The id of a stored child: Celery stores `[[id, parent], null]`; the id is the first string. */
export function childId(child: unknown): string | undefined {
  return JSON.stringify(child).match(/"([^"]+)"/)?.[1];
}

/** The workflow around a task: its root (following `parent_id`) and the stored children below. */
export async function readTree(
  meta: ResultMeta,
  get: (id: string) => Promise<ResultMeta | undefined>,
): Promise<TreeNode | undefined> {
  // The path from the root down to this task: a parent does not always list the child
  // (a retry sent from the dashboard names its parent; the parent's meta is not rewritten).
  const path: Array<{ id: string; meta: ResultMeta | undefined }> = [{ id: meta.task_id, meta }];
  for (let hops = 0; hops < MAX_DEPTH && path[0]!.meta?.parent_id; hops++) {
    const id = path[0]!.meta.parent_id;
    if (path.some((node) => node.id === id)) break;
    path.unshift({ id, meta: await get(id) });
  }
  let nodes = 0;
  const grow = async (
    id: string,
    known: ResultMeta | undefined,
    depth: number,
  ): Promise<TreeNode> => {
    nodes++;
    const node: TreeNode = { id, meta: known, children: [] };
    if (depth >= MAX_DEPTH) return node;
    const ids = (known?.children ?? []).map(childId).filter((c): c is string => !!c);
    const onPath = path.findIndex((step) => step.id === id);
    const next = onPath >= 0 ? path[onPath + 1] : undefined;
    if (next && !ids.includes(next.id)) ids.push(next.id);
    for (const cid of ids) {
      if (nodes >= MAX_NODES) break;
      const step = path.find((s) => s.id === cid);
      node.children.push(await grow(cid, step ? step.meta : await get(cid), depth + 1));
    }
    return node;
  };
  const tree = await grow(path[0]!.id, path[0]!.meta, 0);
  return tree.children.length === 0 ? undefined : tree;
}

export function treeView(prefix: string, tree: TreeNode, current: string): Html {
  const node = (n: TreeNode): Html =>
    html`<li>
      ${
        n.id === current
          ? html`<b><code>${n.id}</code></b>`
          : html`<a href="${prefix}/tasks/${encodeURIComponent(n.id)}"><code>${n.id}</code></a>`
      }
      ${n.meta?.name ?? ''}
      ${n.meta ? stateBadge(n.meta.status) : html`<span class="muted">no state stored</span>`}
      ${
        n.children.length
          ? html`<ul>
              ${n.children.map(node)}
            </ul>`
          : ''
      }
    </li>`;
  return html`<h2>Workflow</h2>
    <ul class="tree" id="task-tree">
      ${node(tree)}
    </ul>`;
}

const EVENT_WORDS: Record<TaskHistoryEvent['type'], string> = {
  'task-sent': 'sent',
  'task-received': 'received',
  'task-started': 'started',
  'task-retried': 'retried',
  'task-succeeded': 'success',
  'task-failed': 'failure',
  'task-revoked': 'revoked',
  'task-rejected': 'rejected',
};

/** The state each ended event leaves a task in, to tell whether the meta says more. */
const ENDED: Partial<Record<TaskHistoryEvent['type'], string>> = {
  'task-succeeded': 'SUCCESS',
  'task-failed': 'FAILURE',
  'task-revoked': 'REVOKED',
};

function isoOf(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * The timeline: from the task history when it holds events (the app's `taskHistory`:
 * each event with its time, who recorded it and a short detail, kept across restarts),
 * else what the stored meta tells (started, retried, ended). A state the history has not
 * recorded (a custom progress state) closes the list as "now". `meta` is undefined for a
 * task with events but no stored state yet (sent, waiting in its queue).
 */
export function timelineView(
  meta: ResultMeta | undefined,
  events: readonly TaskHistoryEvent[] = [],
  note?: string,
): Html {
  const steps: Array<{ what: string; at: string; who?: string; detail?: string }> = [];
  if (events.length > 0) {
    for (const event of events)
      steps.push({
        what: EVENT_WORDS[event.type],
        at: isoOf(event.at),
        who: event.hostname,
        ...(event.detail ? { detail: event.detail } : {}),
      });
    const last = events.at(-1)!;
    if (
      meta &&
      ENDED[last.type] !== meta.status &&
      !(meta.status === 'STARTED' && last.type === 'task-started')
    )
      steps.push({ what: `${meta.status.toLowerCase()} (now)`, at: '' });
  } else if (meta) {
    if (meta.date_started) steps.push({ what: 'started', at: meta.date_started.replace('T', ' ') });
    if ((meta.retries ?? 0) > 0)
      steps.push({ what: `retried ${meta.retries} time(s) before this run`, at: '' });
    if (meta.date_done)
      steps.push({ what: meta.status.toLowerCase(), at: meta.date_done.replace('T', ' ') });
    else steps.push({ what: `${meta.status.toLowerCase()} (now)`, at: '' });
  }
  return html`<h2>Timeline</h2>
    ${note ? html`<p class="muted" id="timeline-note">${note}</p>` : ''}
    <ol class="timeline" id="task-timeline" data-source="${events.length > 0 ? 'history' : 'meta'}">
      ${steps.map(
        (step) =>
          html`<li>
            ${step.what}${step.at ? html` <span class="muted">${step.at}</span>` : ''}${
              step.who ? html` <span class="muted">on ${step.who}</span>` : ''
            }${step.detail ? html` <code>${step.detail}</code>` : ''}
          </li>`,
      )}
    </ol>`;
}

/**
 * A task's stored events and, when there are none to show, why: the backend keeps no
 * history (rpc://), or reading it failed (the page still shows the meta's timeline).
 */
export async function readHistory(
  backend: ResultBackend,
  id: string,
): Promise<{ events: TaskHistoryEvent[]; note?: string }> {
  const history = backend.taskHistory?.();
  if (!history)
    return {
      events: [],
      note: `The ${backend.kind} result backend keeps no task history: this timeline is what the stored state tells.`,
    };
  try {
    return { events: await history.read(id) };
  } catch {
    return {
      events: [],
      note: 'The task history could not be read: this timeline is what the stored state tells.',
    };
  }
}
