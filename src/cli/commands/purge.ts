/** `celeriac purge`: deletes waiting messages from queues. Asks first unless -f. */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { loadApp } from '../load-app.js';
import type { GlobalOptions } from '../main.js';

export function registerPurgeCommand(program: Command): void {
  program
    .command('purge')
    .description('Delete all waiting tasks from queues (cannot be undone).')
    .option('-Q, --queues <names>', 'comma-separated queues (default: the app\'s default queue)')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (flags: { queues?: string; force?: boolean }, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const queues = flags.queues?.split(',').map((q) => q.trim()).filter(Boolean) ?? [app.config.defaultQueue];
      try {
        if (!flags.force) {
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(`Delete every waiting task in ${queues.join(', ')}? [y/N] `);
          rl.close();
          if (!/^y(es)?$/i.test(answer.trim())) {
            process.stderr.write('Nothing purged.\n');
            return;
          }
        }
        const broker = await app.broker();
        let total = 0;
        for (const queue of queues) total += await broker.purge(queue);
        process.stdout.write(`Purged ${total} ${total === 1 ? 'message' : 'messages'} from ${queues.length} ${queues.length === 1 ? 'queue' : 'queues'}.\n`);
      } finally {
        await app.close();
      }
    });
}
