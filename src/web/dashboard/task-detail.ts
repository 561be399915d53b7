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
