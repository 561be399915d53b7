/**
 * `-n` forms the worker's node name as Celery does (%h host name, %n its first part, %d the
 * domain, %% a percent sign; no @ means the host part), and the name a running worker
 * shows in `celeriac status` is the expanded one; `-l` reaches the worker's logger.
 */
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { expandNodeName } from '../../src/cli/node-name.js';
import { killAll, runCli, startWorker } from '../support/worker-process.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

afterEach(async () => {
  await killAll();
  await stopCliProcesses();
  removeTempDirs();
});

describe('expandNodeName', () => {
  it.each([
    ['worker1@%h', 'george.example.com', 'worker1@george.example.com'],
    ['worker1@%n', 'george.example.com', 'worker1@george'],
    ['worker1@%d', 'george.example.com', 'worker1@example.com'],
    ['w@%n.%d', 'george.example.com', 'w@george.example.com'],
    ['w@%n', 'vm', 'w@vm'],
    ['w@%d', 'vm', 'w@'],
    ['100%%@%n', 'george.example.com', '100%@george'],
    ['w1.%h', 'george.example.com', 'celeriac@w1.george.example.com'],
    ['%h', 'george', 'celeriac@george'],
    ['plain@name', 'george', 'plain@name'],
  ])('%s on %s is %s', (template, host, expected) => {
    expect(expandNodeName(template, host)).toBe(expected);
  });

  it.each(['w@%q', 'w@%', 'w@%H'])('refuses %s, saying which expansions exist', (template) => {
    expect(() => expandNodeName(template, 'george')).toThrow(
      /Unknown "%.?": use %h \(host name\), %n \(its first part\), %d \(domain\) or %%/,
    );
  });
});

describe('celeriac worker -n and -l', () => {
  it('status lists the worker under its expanded name', async () => {
    const { env } = sqliteEnv('name');
    const host = os.hostname();
    const short = host.split('.')[0] ?? host;
    await startWorker(APP, env, ['-n', 'cli-%n-100%%@%h']);
    const status = await runToEnd(['-A', APP, 'status'], env);
    expect(status.stdout).toContain(`-> cli-${short}-100%@${host}: OK`);
    expect(status.code).toBe(0);
  });

  it('-l warning silences the info lines, and the worker still runs tasks', async () => {
    const { env } = sqliteEnv('loglevel');
    const worker = runCli(['-A', APP, 'worker', '-l', 'warning', '-n', 'quiet@test'], env);
    const call = await runToEnd(['-A', APP, 'call', 'cli.add', '-a', '[2, 3]'], env);
    const result = await runToEnd(['-A', APP, 'result', call.stdout.trim(), '-t', '30'], env);
    expect(result.stdout.trim()).toBe('5');
    expect(worker.output()).not.toMatch(/ready: queues=/);
    expect(worker.output()).not.toMatch(/: INFO\//);
  });
});
