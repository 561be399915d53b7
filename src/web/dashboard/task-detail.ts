/**
 * One task's timeline and workflow tree for its dashboard page: the timeline from what
 * the stored meta says (started, retries, ended: `date_started` needs `resultExtended`),
 * the tree from the stored links (`parent_id` up to the root, then each stored
 * `children` down), read through a `get` the handler passes. Bounded (depth and nodes),
 * so a long chain cannot make a page slow. Rendering is pure; `readTree` only reads.
 */
import type { ResultMeta } from '../../protocol/types.js';
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
  let root: { id: string; meta: ResultMeta | undefined } = { id: meta.task_id, meta };
  for (let hops = 0; hops < MAX_DEPTH && root.meta?.parent_id; hops++) {
    const id = root.meta.parent_id;
    root = { id, meta: await get(id) };
  }
  let nodes = 0;
  const grow = async (id: string, known: ResultMeta | undefined, depth: number) => {
    nodes++;
    const node: TreeNode = { id, meta: known, children: [] };
    if (depth >= MAX_DEPTH) return node;
    for (const child of known?.children ?? []) {
      const cid = childId(child);
      if (!cid || nodes >= MAX_NODES) continue;
      node.children.push(await grow(cid, cid === meta.task_id ? meta : await get(cid), depth + 1));
    }
    return node;
  };
  const tree = await grow(root.id, root.id === meta.task_id ? meta : root.meta, 0);
  return tree.children.length === 0 && root.id === meta.task_id ? undefined : tree;
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

/** The timeline the stored meta tells: started, retried, ended. */
export function timelineView(meta: ResultMeta): Html {
  const steps: Array<[string, string]> = [];
  if (meta.date_started) steps.push(['started', meta.date_started]);
  if ((meta.retries ?? 0) > 0) steps.push([`retried ${meta.retries} time(s) before this run`, '']);
  if (meta.date_done) steps.push([meta.status.toLowerCase(), meta.date_done]);
  else steps.push([`${meta.status.toLowerCase()} (now)`, '']);
  return html`<h2>Timeline</h2>
    <ol class="timeline" id="task-timeline">
      ${steps.map(
        ([what, at]) =>
          html`<li>
            ${what}${at ? html` <span class="muted">${at.replace('T', ' ')}</span>` : ''}
          </li>`,
      )}
    </ol>`;
}
