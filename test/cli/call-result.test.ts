/**
 * `celeriac call` sends a task and prints its id; `celeriac result` tells on stderr what it
 * is waiting through (PENDING, STARTED on which worker, RETRY with the error, progress),
 * prints the result alone on stdout, and exits 1 with the error's class and message on
 * FAILURE, 2 on timeout. Real processes on SQLite; each state is held open by a gate file
 * until the test has seen `result` report it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeState } from '../../src/cli/commands/result.js';
import { pendingMeta } from '../../src/app/async-result.js';
import type { ResultMeta } from '../../src/protocol/types.js';
import { killAll, startWorker } from '../support/worker-process.js';
import {
  APP,
  removeTempDirs,
  runToEnd,
  sqliteEnv,
  startCli,
  stopCliProcesses,
} from './cli-support.js';

afterEach(async () => {
  await killAll();
  await stopCliProcesses();
  removeTempDirs();
});

describe('celeriac call and result', () => {
  it('result reports each state it waits through, then prints the result', async () => {
    const { env, dir } = sqliteEnv('journey');
    const sent = await runToEnd(['-A', APP, 'call', 'cli.journey', '--task-id', 'journey-1'], env);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toBe('journey-1\n');

    const result = startCli(['-A', APP, 'result', 'journey-1'], env);
    await result.waitForStderr(/^PENDING: waiting for task journey-1/m);
    await startWorker(APP, env, ['-n', 'journey@test']);
    await result.waitForStderr(/^STARTED on journey@test \(pid \d+\)$/m);
    writeFileSync(path.join(dir, 'retry'), '');
    await result.waitForStderr(/^RETRY after FlakyNetworkError: connection reset( \(.*\))?$/m);
    await result.waitForStderr(/^PROGRESS: 1\/2 \(50%\)$/m);
    writeFileSync(path.join(dir, 'finish'), '');
    expect(await result.exited).toBe(0);
    expect(result.stdout()).toBe('"done"\n');
    const states = result
      .stderr()
      .trim()
      .split('\n')
      .map((line) => line.split(/[: ]/)[0]);
    // The second attempt's STARTED may arrive folded into its PROGRESS (the backend keeps the latest).
    expect(states.slice(0, 3)).toEqual(['PENDING', 'STARTED', 'RETRY']);
    expect(states.at(-1)).toBe('PROGRESS');
  });

  it('a failed task: exit 1, the error class and message on stderr, nothing on stdout', async () => {
    const { env } = sqliteEnv('failure');
    await startWorker(APP, env);
    const sent = await runToEnd(['-A', APP, 'call', 'cli.decline', '-a', '["4242"]'], env);
    const id = sent.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const result = await runToEnd(['-A', APP, 'result', id], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^CardDeclinedError: card 4242 declined$/m);
    expect(result.stdout).toBe('');
  });

  it('gives up after --timeout with exit 2, having said what it waited for', async () => {
    const { env } = sqliteEnv('timeout');
    const result = await runToEnd(['-A', APP, 'result', 'nobody-runs-this', '-t', '0.5'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^PENDING: waiting for task nobody-runs-this/m);
    expect(result.stderr).toMatch(
      /^TimeoutError: task nobody-runs-this not ready after 0\.5 s \(state PENDING\)$/m,
    );
    expect(result.stdout).toBe('');
  });

  it('-q prints the result only', async () => {
    const { env } = sqliteEnv('quiet');
    await startWorker(APP, env);
    const sent = await runToEnd(['-A', APP, 'call', 'cli.add', '-a', '[2, 3]'], env);
    const result = await runToEnd(['-A', APP, 'result', sent.stdout.trim(), '-q'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('5\n');
    expect(result.stderr).toBe('');
  });
});

describe('the state lines of celeriac result', () => {
  const meta = (fields: Partial<ResultMeta>): ResultMeta => ({ ...pendingMeta('t1'), ...fields });
  const flaky = {
    exc_type: 'Exception',
    exc_module: 'builtins',
    exc_message: ['connection reset'],
    exc_js_type: 'FlakyNetworkError',
  };
  it.each<[string, ResultMeta, string]>([
    [
      'PENDING',
      meta({}),
      'PENDING: waiting for task t1 (unknown to the backend until a worker takes it)',
    ],
    [
      'STARTED',
      meta({ status: 'STARTED', result: { pid: 12, hostname: 'w1@host' } }),
      'STARTED on w1@host (pid 12)',
    ],
    [
      'RETRY',
      meta({ status: 'RETRY', result: flaky }),
      'RETRY after FlakyNetworkError: connection reset',
    ],
    [
      'RETRY with attempt and eta',
      meta({
        status: 'RETRY',
        result: flaky,
        retries: 0,
        max_retries: 3,
        eta: '2030-01-01T00:00:01.000Z',
      }),
      'RETRY after FlakyNetworkError: connection reset (attempt 1 of 4 failed, next at 2030-01-01T00:00:01.000Z)',
    ],
    [
      'a Python error',
      meta({
        status: 'RETRY',
        result: { exc_type: 'ConnectionError', exc_module: 'builtins', exc_message: ['down'] },
      }),
      'RETRY after ConnectionError: down',
    ],
    [
      'PROGRESS',
      meta({ status: 'PROGRESS', result: { current: 3, total: 4, percent: 75 } }),
      'PROGRESS: 3/4 (75%)',
    ],
    [
      'a custom state',
      meta({ status: 'RESIZING', result: { width: 640 } }),
      'RESIZING: {"width":640}',
    ],
  ])('%s', (_name, input, line) => {
    expect(describeState(input)).toBe(line);
  });
});
