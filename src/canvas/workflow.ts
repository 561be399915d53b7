/**
 * A workflow as a thing to see and stop. When a chain, group or chord is sent from the API,
 * every message of it carries one root id (its first task's, as Celery's chains do) and its
 * shape, every task id frozen in advance, is stored beside the results (under
 * `celery-taskset-meta-celeriac-workflow-<root id>`, through the backend's saved groups).
 * `workflow(app, rootId).tree()` reads that shape back with each task's state;
 * `.revoke()` revokes every task of it, those not yet sent included: they carry the frozen
 * ids, so a worker refuses them as revoked when they come. A workflow sent by Python (no
 * stored shape) is read by following the `children` its tasks' metas store.
 * Never sends a task.
 */
import type { ResultHost } from '../app/async-result.js';
import type { JsonValue, ResultMeta, SignatureJson, TaskState } from '../protocol/types.js';
import {
  applySignatureJson,
  groupMembers,
  isSignature,
  signatureList,
  type CanvasHost,
} from './apply-json.js';
import { CeleriacError } from '../errors.js';

/** The shape of a workflow, as stored: task nodes carry their frozen ids. */
export type WorkflowShape =
  | { kind: 'task'; id: string; name: string }
  | { kind: 'chain' | 'group'; id: string | null; children: WorkflowShape[] }
  | { kind: 'chord'; id: string | null; header: WorkflowShape[]; body: WorkflowShape };

/** A node of a workflow's tree with its state, as `Workflow.tree()` gives it. */
export type WorkflowNode =
  | {
      kind: 'task';
      id: string;
      name: string | null;
      state: TaskState;
      /** What this task's success sent, from its meta (a tree read from the metas only). */
      children?: WorkflowNode[];
    }
  | { kind: 'chain' | 'group'; id: string | null; children: WorkflowNode[] }
  | { kind: 'chord'; id: string | null; header: WorkflowNode[]; body: WorkflowNode };

const SHAPE_PREFIX = 'celeriac-workflow-';

/** The frozen signature's shape (every task id assigned by freezeJson). */
export function shapeOf(sig: SignatureJson): WorkflowShape {
  const id = typeof sig.options.task_id === 'string' ? sig.options.task_id : null;
  switch (sig.subtask_type) {
    case 'chain':
      return { kind: 'chain', id: null, children: signatureList(sig.kwargs.tasks).map(shapeOf) };
    case 'group':
      return { kind: 'group', id, children: groupMembers(sig).map(shapeOf) };
    case 'chord': {
      const header = sig.kwargs.header;
      const headerSig = isSignature(header) ? header : undefined;
      const members =
        headerSig?.subtask_type === 'group' ? groupMembers(headerSig) : signatureList(header);
      const [body] = signatureList(sig.kwargs.body);
      if (!body) throw new CeleriacError(`chord ${sig.task} has no body`);
      const groupId =
        typeof headerSig?.options.task_id === 'string' ? headerSig.options.task_id : id;
      return { kind: 'chord', id: groupId, header: members.map(shapeOf), body: shapeOf(body) };
    }
    case null:
    default:
      if (id === null) throw new CeleriacError(`signature of ${sig.task} has no task id yet`);
      return { kind: 'task', id, name: sig.task };
  }
}

/** The id of the first task the workflow sends: its root. */
export function rootIdOf(shape: WorkflowShape): string {
  switch (shape.kind) {
    case 'task':
      return shape.id;
    case 'chord':
      return rootIdOf(shape.header[0] ?? shape.body);
    case 'chain':
    case 'group': {
      const first = shape.children[0];
      if (!first) throw new CeleriacError(`a ${shape.kind} with no tasks has no root`);
      return rootIdOf(first);
    }
  }
}

/** Every task id of the shape, in sending order. */
export function taskIdsOf(shape: WorkflowShape): string[] {
  switch (shape.kind) {
    case 'task':
      return [shape.id];
    case 'chord':
      return [...shape.header.flatMap(taskIdsOf), ...taskIdsOf(shape.body)];
    case 'chain':
    case 'group':
      return shape.children.flatMap(taskIdsOf);
  }
}

/** Stores the shape under its root id, where the backend can (a no-op where it cannot). */
export async function saveShape(host: ResultHost, shape: WorkflowShape): Promise<void> {
  let backend;
  try {
    backend = await host.resultBackend();
  } catch (error) {
    // No backend (the app's NoResultBackendError): nothing keeps results, nothing to read back.
    if (error instanceof Error && error.name === 'NoResultBackendError') return;
    throw error;
  }
  if (!backend.saveGroup) return;
  await backend.saveGroup(`${SHAPE_PREFIX}${rootIdOf(shape)}`, shape);
}

/** A workflow known by its root id: its tree with states, and revoking the whole of it. */
export class Workflow {
  constructor(
    private readonly host: ResultHost,
    /** The workflow's root: the id of the first task it sent. */
    readonly rootId: string,
  ) {}

  /** The stored shape, or undefined (a workflow sent by Python, or expired). */
  async shape(): Promise<WorkflowShape | undefined> {
    const backend = await this.host.resultBackend();
    const value = await backend.getGroup?.(`${SHAPE_PREFIX}${this.rootId}`);
    return isShape(value) ? value : undefined;
  }

  /**
   * The workflow's tree, each task with its state (PENDING for one not yet sent or run).
   * From the stored shape; without one, from the root's meta down its `children`.
   */
  async tree(): Promise<WorkflowNode> {
    const shape = await this.shape();
    if (shape) return withStates(shape, await metasOf(this.host, taskIdsOf(shape)));
    return this.treeFromMetas(this.rootId, new Set());
  }

  /**
   * Revokes every task of the workflow that has not finished, those not yet sent included
   * (refused when they come); with `terminate`, running ones are aborted. Returns the ids.
   */
  async revoke(options: { terminate?: boolean } = {}): Promise<string[]> {
    const backend = await this.host.resultBackend();
    const ids = new Set<string>([this.rootId]);
    const shape = await this.shape();
    if (shape) for (const id of taskIdsOf(shape)) ids.add(id);
    else collect(await this.treeFromMetas(this.rootId, new Set()), ids);
    const metas = await metasOf(this.host, [...ids]);
    const open = [...ids].filter((id) => {
      const state = metas.get(id)?.status;
      return state !== 'SUCCESS' && state !== 'FAILURE' && state !== 'REVOKED';
    });
    await backend.revoke(open, options);
    return open;
  }

  private async treeFromMetas(id: string, seen: Set<string>): Promise<WorkflowNode> {
    seen.add(id);
    const backend = await this.host.resultBackend();
    const meta = await backend.get(id);
    const children: WorkflowNode[] = [];
    for (const child of meta?.children ?? []) {
      for (const childId of tupleIds(child))
        if (!seen.has(childId)) children.push(await this.treeFromMetas(childId, seen));
    }
    return {
      kind: 'task',
      id,
      name: meta?.name ?? null,
      state: meta?.status ?? 'PENDING',
      children,
    };
  }
}

/**
 * Sends a frozen workflow from the API: its shape stored first (so a revoke made while it
 * is being sent finds every id), every message with the root id. Returns the root id.
 */
export async function sendWorkflow(
  app: CanvasHost & ResultHost,
  json: SignatureJson,
  args: readonly JsonValue[],
): Promise<string> {
  const shape = shapeOf(json);
  const rootId = rootIdOf(shape);
  await saveShape(app, shape);
  await applySignatureJson(app, json, { args, rootId });
  return rootId;
}

/** A handle on the workflow whose root task is `rootId`. */
export function workflow(host: ResultHost, rootId: string): Workflow {
  return new Workflow(host, rootId);
}

/** The metas of many tasks, a batch of reads at a time. */
async function metasOf(
  host: ResultHost,
  ids: readonly string[],
): Promise<Map<string, ResultMeta | undefined>> {
  const backend = await host.resultBackend();
  const metas = new Map<string, ResultMeta | undefined>();
  for (let i = 0; i < ids.length; i += 100) {
    const batch = ids.slice(i, i + 100);
    const found = await Promise.all(batch.map((id) => backend.get(id)));
    batch.forEach((id, k) => metas.set(id, found[k]));
  }
  return metas;
}

function withStates(
  shape: WorkflowShape,
  metas: Map<string, ResultMeta | undefined>,
): WorkflowNode {
  switch (shape.kind) {
    case 'task':
      return { ...shape, state: metas.get(shape.id)?.status ?? 'PENDING' };
    case 'chord':
      return {
        kind: 'chord',
        id: shape.id,
        header: shape.header.map((s) => withStates(s, metas)),
        body: withStates(shape.body, metas),
      };
    case 'chain':
    case 'group':
      return {
        kind: shape.kind,
        id: shape.id,
        children: shape.children.map((s) => withStates(s, metas)),
      };
  }
}

function collect(node: WorkflowNode, ids: Set<string>): void {
  if (node.kind === 'task') {
    ids.add(node.id);
    for (const child of node.children ?? []) collect(child, ids);
  } else if (node.kind === 'chord') {
    for (const child of [...node.header, node.body]) collect(child, ids);
  } else {
    for (const child of node.children) collect(child, ids);
  }
}

/** The task ids in one of Celery's result tuples (a task's, or a group's members'). */
function tupleIds(tuple: JsonValue): string[] {
  if (!Array.isArray(tuple)) return [];
  const [head, members] = tuple;
  if (Array.isArray(members)) return members.flatMap(tupleIds);
  return Array.isArray(head) && typeof head[0] === 'string' ? [head[0]] : [];
}

function isShape(value: JsonValue | undefined): value is WorkflowShape & JsonValue {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    (value.kind === 'task' ||
      value.kind === 'chain' ||
      value.kind === 'group' ||
      value.kind === 'chord')
  );
}
