/**
 * The shared pieces of the result-backend conformance suite: the harness a backend's
 * test file provides, a per-test session that tears it down, and a result-meta factory.
 * Backend-neutral: must never import a backend implementation or client.
 */
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'vitest';
import { sleep, waitFor } from '../wait.js';
import type { ResultBackend } from '../../backends/backend.js';
import type { JsonValue, ResultMeta, TaskState } from '../../protocol/types.js';
import { buildResultMeta } from '../../protocol/result-meta.js';

export interface BackendConformanceContext {
  /** vitest's context of the running test; `ctx.skip(reason)` or `requireService(test, ...)` skip it. */
  test: TestContext;
  /** Short, unique, `[a-z0-9-]` only: derive key prefixes or file names from it. */
  id: string;
}

export interface BackendHarness {
  /** Connected. The suite never closes it: `cleanup` does. */
  backend: ResultBackend;
  /** Closes the backend and removes what the test left. */
  cleanup: () => Promise<void>;
  /**
   * Another connected backend on the same store (another connection or process view),
   * closed by the suite. Without it, the cross-instance tests are skipped.
   */
  openAnother?: () => Promise<ResultBackend>;
}

export type BackendHarnessFactory = (
  ctx: BackendConformanceContext,
) => Promise<BackendHarness | { skip: string }>;

export interface BackendSession {
  readonly backend: ResultBackend;
  /** A task id unique to this test. */
  taskId(label?: string): string;
  another(): Promise<ResultBackend>;
}

export async function openBackendSession(
  ctx: TestContext,
  make: BackendHarnessFactory,
): Promise<BackendSession> {
  const id = `c${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const made = await make({ test: ctx, id });
  if ('skip' in made) ctx.skip(made.skip);
  const harness = made;
  const extra: ResultBackend[] = [];
  ctx.onTestFinished(async () => {
    for (const backend of extra) await backend.close().catch(() => undefined);
    await harness.cleanup();
  });
  return {
    backend: harness.backend,
    taskId: (label = 'task') => `${id}-${label}-${randomUUID()}`,
    async another() {
      if (!harness.openAnother)
        ctx.skip('the harness cannot open a second backend on the same store');
      const backend = await harness.openAnother();
      extra.push(backend);
      return backend;
    },
  };
}

/** A result meta shaped as Celery stores it (the one builder), with the `result_extended` fields. */
export function makeMeta(taskId: string, status: TaskState, result: JsonValue = null): ResultMeta {
  return buildResultMeta({
    taskId,
    status,
    result,
    extended: {
      name: 'conformance.echo',
      args: [1, 'two'],
      kwargs: { three: 3 },
      worker: 'celery@conformance',
      retries: 0,
      queue: 'celery',
    },
  });
}

export { sleep, waitFor };
