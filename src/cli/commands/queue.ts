/**
 * `celeriac queue pause|resume <queues...>`: stores a pause for every worker in the result
 * backend's worker registry (the same stored pause as the dashboard's queues page). Workers
 * read it at start-up and at each heartbeat, so it holds through restarts and reaches
 * workers started later. A registry that cannot store pauses is refused with a pointer to
 * remote control (`control cancel_consumer`), which lasts only until the workers restart.
 */
import type { Command } from 'commander';
import { loadApp } from '../load-app.js';
import type { GlobalOptions } from '../main.js';

export function registerQueueCommand(program: Command): void {
  const queue = program
    .command('queue')
    .description('Pause or resume queues for every worker (stored in the result backend).')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts queue pause emails          # workers stop consuming it within 2 s
  celeriac -A src/tasks.ts queue resume emails
  celeriac -A src/tasks.ts status                      # lists the paused queues`,
    );
  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    queue
      .command(`${verb} <queues...>`)
      .description(
        paused
          ? 'Pause queues for every worker, now and after restarts, until resumed.'
          : 'Resume paused queues; workers consume them again at their next heartbeat.',
      )
      .action(async (queues: string[], _flags: unknown, command: Command) => {
        const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
        try {
          const registry = (await app.resultBackend()).workerRegistry?.();
          try {
            if (!registry?.setQueuePaused || !registry.pausedQueues) {
              process.stderr.write(
                `Error: this result backend's worker registry cannot store queue pauses; ` +
                  `use remote control instead (celeriac control ${paused ? 'cancel_consumer' : 'add_consumer'} <queue>), ` +
                  `which lasts until the workers restart.\n`,
              );
              process.exitCode = 1;
              return;
            }
            for (const name of queues) await registry.setQueuePaused(name, paused);
            const now = await registry.pausedQueues();
            for (const name of queues) {
              process.stdout.write(`queue ${name}: ${paused ? 'paused' : 'resumed'}\n`);
            }
            process.stdout.write(`paused queues: ${now.length ? now.join(',') : 'none'}\n`);
          } finally {
            await registry?.close();
          }
        } finally {
          await app.close();
        }
      });
  }
}
