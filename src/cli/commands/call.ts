/**
 * `celeriac call <task>`: sends any task by name, registered in the module or not, and
 * prints its id as the last line.
 */
import type { Command } from 'commander';
import type { ApplyOptions } from '../../app/task-options.js';
import { loadApp } from '../load-app.js';
import { parseJsonFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';

interface CallFlags {
  args: string;
  kwargs: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  queue?: string;
  priority?: string;
  taskId?: string;
}

export function registerCallCommand(program: Command): void {
  program
    .command('call <task>')
    .description('Send a task by name; prints the task id.')
    .option('-a, --args <json>', 'positional arguments as a JSON array', '[]')
    .option('-k, --kwargs <json>', 'keyword arguments as a JSON object', '{}')
    .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
    .option('--eta <iso-date>', 'run no earlier than this time')
    .option('--expires <seconds|iso-date>', 'do not run after this')
    .option('-Q, --queue <name>', 'queue to send to')
    .option('--priority <n>', 'priority 0..255, higher first')
    .option('--task-id <id>', 'use this task id instead of a random one')
    .action(async (taskName: string, flags: CallFlags, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const args = parseJsonFlag('--args', flags.args, 'array');
      const kwargs = parseJsonFlag('--kwargs', flags.kwargs, 'object');
      const options: ApplyOptions = { kwargs: kwargs as Record<string, unknown> };
      if (flags.countdown !== undefined) options.countdown = Number(flags.countdown);
      if (flags.eta !== undefined) options.eta = new Date(flags.eta);
      if (flags.expires !== undefined) {
        options.expires = /^\d+(\.\d+)?$/.test(flags.expires) ? Number(flags.expires) : new Date(flags.expires);
      }
      if (flags.queue) options.queue = flags.queue;
      if (flags.priority !== undefined) options.priority = Number(flags.priority);
      if (flags.taskId) options.taskId = flags.taskId;
      try {
        const result = await app.sendTask(taskName, args as unknown[], options);
        process.stdout.write(`${result.id}\n`);
      } finally {
        await app.close();
      }
    });
}
