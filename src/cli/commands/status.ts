/**
 * `celeriac status`: lists the workers online (as Celery's `status` does), checks that the
 * broker and result backend answer, and shows the length of each queue the app knows.
 * Workers are found two ways and merged: a pidbox ping (Python and Celeriac workers, on
 * brokers with fanout) and the result backend's worker registry (Celeriac workers, on any
 * broker). Queues paused in the registry (`celeriac queue pause`) are marked and listed.
 * Exits 1 when no worker is online, as Celery does.
 */
import type { Command } from 'commander';
import { queuesFromFlag } from '../app-queues.js';
import { loadApp } from '../load-app.js';
import { redactUrl } from '../../url.js';
import type { GlobalOptions } from '../main.js';
import type { WorkerInfo } from '../../backends/worker-registry.js';
import { ControlClient } from '../../app/control-client.js';
import { secondsFlag } from '../parse.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('List the workers online; check the broker and backend; show queue lengths.')
    .option(
      '-Q, --queues <names>',
      "comma-separated queues (default: the app's default queue and its tasks' queues)",
    )
    .option(
      '-t, --timeout <seconds>',
      'how long to wait for ping replies (default: 1)',
      secondsFlag({ positive: true }),
      1,
    )
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts status               # exit 1 when no worker is online
  celeriac -A src/tasks.ts status -Q emails,celery`,
    )
    .action(async (flags: { queues?: string; timeout: number }, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const queues = queuesFromFlag(app, flags.queues);
      try {
        const broker = await app.broker();
        process.stdout.write(
          `broker: ${broker.kind} ${redactUrl(app.config.brokerUrl ?? '(instance)')} OK\n`,
        );
        let online: WorkerInfo[] | undefined;
        let paused: string[] | undefined;
        try {
          const backend = await app.resultBackend();
          process.stdout.write(
            `backend: ${backend.kind} ${redactUrl(app.config.backendUrl ?? '(instance)')} OK\n`,
          );
          const registry = backend.workerRegistry?.();
          online = await registry?.online(Date.now());
          paused = await registry?.pausedQueues?.();
          await registry?.close();
        } catch (error) {
          process.stdout.write(`backend: ${(error as Error).message}\n`);
        }
        for (const queue of queues) {
          const mark = paused?.includes(queue) ? ' (paused)' : '';
          process.stdout.write(
            `queue ${queue}: ${await broker.queueLength(queue)} waiting${mark}\n`,
          );
        }
        if (paused !== undefined) {
          process.stdout.write(`paused queues: ${paused.length ? paused.join(',') : 'none'}\n`);
        }
        const pinged = broker.broadcasting
          ? await new ControlClient(broker)
              .broadcast('ping', { timeout: flags.timeout })
              .then((replies) => replies.flatMap((reply) => Object.keys(reply)))
          : undefined;
        if (online === undefined && pinged === undefined) {
          process.stdout.write(
            'workers: this broker has no fanout (no ping) and this result backend keeps no worker registry\n',
          );
          return;
        }
        const registered = new Map((online ?? []).map((worker) => [worker.hostname, worker]));
        const names = new Set([...(pinged ?? []), ...registered.keys()]);
        for (const name of [...names].sort()) {
          const worker = registered.get(name);
          process.stdout.write(
            worker
              ? `-> ${name}: OK (pid ${worker.pid}, queues ${worker.queues.join(',')}, ` +
                  `${worker.active}/${worker.concurrency} busy, up ${Math.round((Date.now() - worker.startedAt) / 1000)} s)\n`
              : `-> ${name}: OK (pong)\n`,
          );
        }
        process.stdout.write(`${names.size} ${names.size === 1 ? 'node' : 'nodes'} online.\n`);
        if (names.size === 0) process.exitCode = 1;
      } finally {
        await app.close();
      }
    });
}
