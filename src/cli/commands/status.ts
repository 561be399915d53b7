/**
 * `celeriac status`: checks that the broker and result backend answer and shows the
 * length of each queue the app knows.
 */
import type { Command } from 'commander';
import { loadApp } from '../load-app.js';
import { redactUrl } from '../../url.js';
import type { GlobalOptions } from '../main.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('Show whether the broker and backend answer, and queue lengths.')
    .option('-Q, --queues <names>', 'comma-separated queues (default: the app\'s default queue and its tasks\' queues)')
    .action(async (flags: { queues?: string }, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const queues =
        flags.queues?.split(',').map((q) => q.trim()).filter(Boolean) ??
        [...new Set([app.config.defaultQueue, ...app.taskNames().map((n) => app.getTask(n)?.options.queue ?? app.config.defaultQueue)])];
      try {
        const broker = await app.broker();
        process.stdout.write(`broker: ${broker.kind} ${redactUrl(app.config.brokerUrl ?? '(instance)')} OK\n`);
        try {
          const backend = await app.resultBackend();
          process.stdout.write(`backend: ${backend.kind} ${redactUrl(app.config.backendUrl ?? '(instance)')} OK\n`);
        } catch (error) {
          process.stdout.write(`backend: ${(error as Error).message}\n`);
        }
        for (const queue of queues) {
          process.stdout.write(`queue ${queue}: ${await broker.queueLength(queue)} waiting\n`);
        }
      } finally {
        await app.close();
      }
    });
}
