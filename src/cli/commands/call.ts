/**
 * `celeriac call <task>`: sends any task by name, registered in the module or not, and
 * prints its id as the last line.
 */
import { Option, type Command } from 'commander';
import type { ApplyOptions } from '../../app/task-options.js';
import { loadApp } from '../load-app.js';
import { dateFlag, integerFlag, jsonFlag, secondsFlag, secondsOrDateFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';

interface CallFlags {
  args: unknown[];
  kwargs: Record<string, unknown>;
  countdown?: number;
  eta?: Date;
  expires?: number | Date;
  queue?: string;
  priority?: number;
  taskId?: string;
}

export function registerCallCommand(program: Command): void {
  program
    .command('call <task>')
    .description('Send a task by name; prints the task id.')
    .addOption(
      new Option('-a, --args <json>', 'positional arguments as a JSON array')
        .argParser(jsonFlag('array'))
        .default([], '[]'),
    )
    .addOption(
      new Option('-k, --kwargs <json>', 'keyword arguments as a JSON object')
        .argParser(jsonFlag('object'))
        .default({}, '{}'),
    )
    .addOption(
      new Option(
        '--countdown <seconds>',
        'run no earlier than this many seconds from now',
      ).argParser(secondsFlag({ positive: false })),
    )
    .addOption(new Option('--eta <iso-date>', 'run no earlier than this time').argParser(dateFlag))
    .addOption(
      new Option('--expires <seconds|iso-date>', 'do not run after this').argParser(
        secondsOrDateFlag,
      ),
    )
    .option('-Q, --queue <name>', 'queue to send to')
    .addOption(
      new Option('--priority <n>', 'priority 0..255, higher first').argParser(integerFlag(0, 255)),
    )
    .option('--task-id <id>', 'use this task id instead of a random one')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts call test.add -a '[2, 3]'
  celeriac -A src/tasks.ts call emails.send -k '{"to": "ada@example.com"}' --countdown 60 -Q emails
  id=$(celeriac -A src/tasks.ts call test.add -a '[2, 3]') && celeriac -A src/tasks.ts result "$id"`,
    )
    .action(async (taskName: string, flags: CallFlags, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const options: ApplyOptions = { kwargs: flags.kwargs };
      if (flags.countdown !== undefined) options.countdown = flags.countdown;
      if (flags.eta !== undefined) options.eta = flags.eta;
      if (flags.expires !== undefined) options.expires = flags.expires;
      if (flags.queue) options.queue = flags.queue;
      if (flags.priority !== undefined) options.priority = flags.priority;
      if (flags.taskId) options.taskId = flags.taskId;
      try {
        const result = await app.sendTask(taskName, flags.args, options);
        process.stdout.write(`${result.id}\n`);
      } finally {
        await app.close();
      }
    });
}
