/**
 * `celeriac result <id>`: waits for a task, telling on stderr what it waits for as the state
 * changes (PENDING, STARTED, RETRY, progress), then prints the result as JSON on stdout's
 * last line. On failure prints `<ErrorType>: <message>` to stderr and exits 1; 2 when the
 * timeout passes first. stdout carries only the result, so scripts can capture it.
 */
import { Option, type Command } from 'commander';
import { settle } from '../../app/async-result.js';
import { deserializeError } from '../../protocol/result-meta.js';
import { READY_STATES, type ResultMeta, type SerializedError } from '../../protocol/types.js';
import { loadApp } from '../load-app.js';
import { secondsFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';

export function registerResultCommand(program: Command): void {
  program
    .command('result <taskId>')
    .description("Wait for a task's result and print it as JSON (state changes go to stderr).")
    .addOption(
      new Option('-t, --timeout <seconds>', 'give up after this many seconds (exit 2)').argParser(
        secondsFlag({ positive: true }),
      ),
    )
    .option('-q, --quiet', 'print only the result, not the state changes')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts result 0b9c4c1e-2f43-4d6a-9a56-3d1b1b7f6c1a
  celeriac -A src/tasks.ts result "$(celeriac -A src/tasks.ts call test.add -a '[2,3]')" -t 30`,
    )
    .action(
      async (taskId: string, flags: { timeout?: number; quiet?: boolean }, command: Command) => {
        const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
        const abort = new AbortController();
        const timer =
          flags.timeout === undefined
            ? undefined
            : setTimeout(() => abort.abort(), flags.timeout * 1000);
        try {
          let last: ResultMeta | undefined;
          for await (const meta of app.asyncResult(taskId).updates({ signal: abort.signal })) {
            last = meta;
            if (!flags.quiet && !READY_STATES.has(meta.status))
              process.stderr.write(`${describeState(meta)}\n`);
          }
          if (!last || !READY_STATES.has(last.status)) {
            process.stderr.write(
              `TimeoutError: task ${taskId} not ready after ${flags.timeout ?? 0} s (state ${last?.status ?? 'PENDING'})\n`,
            );
            process.exitCode = 2;
            return;
          }
          const value = settle(last, true);
          process.stdout.write(`${JSON.stringify(value ?? null)}\n`);
        } catch (error) {
          const err = error as Error;
          process.stderr.write(`${err.name}: ${err.message}\n`);
          process.exitCode = 1;
        } finally {
          clearTimeout(timer);
          await app.close();
        }
      },
    );
}

/** One line for a state the task is in while not ready. */
export function describeState(meta: ResultMeta): string {
  const result = meta.result;
  const fields =
    result && typeof result === 'object' && !Array.isArray(result) ? result : undefined;
  switch (meta.status) {
    case 'PENDING':
      return `PENDING: waiting for task ${meta.task_id} (unknown to the backend until a worker takes it)`;
    case 'RECEIVED':
      return 'RECEIVED: a worker has it';
    case 'STARTED': {
      const where = fields && typeof fields.hostname === 'string' ? ` on ${fields.hostname}` : '';
      const pid = fields && typeof fields.pid === 'number' ? ` (pid ${fields.pid})` : '';
      return `STARTED${where}${pid}`;
    }
    case 'RETRY': {
      // The error it will retry after, named as the worker threw it (jsType) when it can be.
      if (!fields || typeof fields.exc_type !== 'string') return 'RETRY: to be retried';
      const error = deserializeError(fields as SerializedError);
      return `RETRY after ${error.name}: ${error.message}${retryDetails(meta)}`;
    }
    case 'SUCCESS':
    case 'FAILURE':
    case 'REVOKED':
      return meta.status;
    default: {
      // Custom states (PROGRESS and the task's own): show what the task reported.
      if (fields && typeof fields.current === 'number') {
        const total = typeof fields.total === 'number' ? `/${fields.total}` : '';
        const percent =
          typeof fields.percent === 'number' ? ` (${Math.round(fields.percent)}%)` : '';
        return `${meta.status}: ${fields.current}${total}${percent}`;
      }
      return `${meta.status}${result === null || result === undefined ? '' : `: ${JSON.stringify(result)}`}`;
    }
  }
}

/**
 * Which attempt failed and when the next one comes, where the worker recorded them
 * (`retries` is Celery's extended field; `max_retries` and `eta` a Celeriac worker's).
 */
function retryDetails(meta: ResultMeta): string {
  const parts: string[] = [];
  if (typeof meta.retries === 'number') {
    const max = typeof meta.max_retries === 'number' ? ` of ${meta.max_retries + 1}` : '';
    parts.push(`attempt ${meta.retries + 1}${max} failed`);
  }
  if (typeof meta.eta === 'string') parts.push(`next at ${meta.eta}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
