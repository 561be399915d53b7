/**
 * `celeriac status`: lists the workers online (as Celery's `status` does), checks that the
 * broker and result backend answer, and shows the length of each queue the app knows.
 * Exits 1 when no worker is online, as Celery does.
 */
import type { Command } from 'commander';
import { queuesFromFlag } from '../app-queues.js';
import { loadApp } from '../load-app.js';
import { redactUrl } from '../../url.js';
import type { GlobalOptions } from '../main.js';
import type { WorkerInfo } from '../../backends/worker-registry.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('List the workers online; check the broker and backend; show queue lengths.')
    .option(
      '-Q, --queues <names>',
      "comma-separated queues (default: the app's default queue and its tasks' queues)",
    )
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts status               # exit 1 when no worker is online
  celeriac -A src/tasks.ts status -Q emails,celery`,
    )
    .action(async (flags: { queues?: string }, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const queues = queuesFromFlag(app, flags.queues);
      try {
        const broker = await app.broker();
        process.stdout.write(
          `broker: ${broker.kind} ${redactUrl(app.config.brokerUrl ?? '(instance)')} OK\n`,
        );
        let online: WorkerInfo[] | undefined;
        try {
          const backend = await app.resultBackend();
          process.stdout.write(
            `backend: ${backend.kind} ${redactUrl(app.config.backendUrl ?? '(instance)')} OK\n`,
          );
          const registry = backend.workerRegistry?.();
          online = await registry?.online(Date.now());
          await registry?.close();
        } catch (error) {
          process.stdout.write(`backend: ${(error as Error).message}\n`);
        }
        for (const queue of queues) {
          process.stdout.write(`queue ${queue}: ${await broker.queueLength(queue)} waiting\n`);
        }
        if (online === undefined) {
          process.stdout.write('workers: this result backend keeps no worker registry\n');
          return;
        }
        for (const worker of online) {
          process.stdout.write(
            `-> ${worker.hostname}: OK (pid ${worker.pid}, queues ${worker.queues.join(',')}, ` +
              `${worker.active}/${worker.concurrency} busy, up ${Math.round((Date.now() - worker.startedAt) / 1000)} s)\n`,
          );
        }
        process.stdout.write(
          `${online.length} ${online.length === 1 ? 'node' : 'nodes'} online.\n`,
        );
        if (online.length === 0) process.exitCode = 1;
      } finally {
        await app.close();
      }
    });
}
