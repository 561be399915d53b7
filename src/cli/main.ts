/**
 * The `celeriac` command line: parses arguments and wires commands to the runtime. Only
 * this layer touches process signals, exit codes and the environment.
 */
import { Command, Option } from 'commander';
import { registerWorkerCommand } from './commands/worker.js';
import { registerCallCommand } from './commands/call.js';
import { registerResultCommand } from './commands/result.js';
import { registerPurgeCommand } from './commands/purge.js';
import { registerStatusCommand } from './commands/status.js';
import { registerBeatCommand } from './commands/beat.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerRemoteControlCommands } from './commands/remote-control.js';
import { registerEventsCommand } from './commands/events.js';
import { registerQueueCommand } from './commands/queue.js';
import { readFileSync } from 'node:fs';

export interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
  loglevel?: string;
}

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description("Background tasks for TypeScript web apps, on Celery's protocol.")
    .option(
      '-A, --app <module>',
      'module exporting the app (default export or `app`), e.g. src/tasks.ts',
    )
    .option('-b, --broker <url>', 'broker URL (overrides the app and CELERIAC_BROKER_URL)')
    .option(
      '--result-backend <url>',
      'result backend URL (overrides the app and CELERIAC_RESULT_BACKEND)',
    )
    .addOption(
      new Option('-l, --loglevel <level>', 'log level (default: info)').choices([
        'debug',
        'info',
        'warning',
        'warn',
        'error',
        'critical',
      ]),
    )
    .version(packageVersion(), '-V, --version', 'print the version of celeriac')
    // Every command's --help lists -A, -b, -l too: they go before the command but users look there.
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for the command's options and examples)")
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts worker -l info
  celeriac -A src/tasks.ts call emails.send --args '["ada@example.com"]'
  celeriac -A src/tasks.ts result <task-id> --timeout 30
  celeriac -A src/tasks.ts status
  celeriac -A src/tasks.ts beat
  celeriac -A src/tasks.ts inspect active
  celeriac -A src/tasks.ts control revoke <task-id> --terminate
  celeriac -A src/tasks.ts events
  celeriac -A src/tasks.ts queue pause emails
  celeriac <command> --help`,
    )
    .hook('preAction', (command) => applyUrlOverrides(command.opts<GlobalOptions>()));
  registerWorkerCommand(program);
  registerCallCommand(program);
  registerResultCommand(program);
  registerPurgeCommand(program);
  registerStatusCommand(program);
  registerBeatCommand(program);
  registerDashboardCommand(program);
  registerRemoteControlCommands(program);
  registerEventsCommand(program);
  registerQueueCommand(program);
  return program;
}

/** The installed package's own version: src/cli and dist/cli both sit two levels below package.json. */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The URL flags win over the environment, which wins over the code: set before the app loads. */
function applyUrlOverrides(options: GlobalOptions): void {
  if (options.broker) process.env.CELERIAC_BROKER_URL = options.broker;
  if (options.resultBackend) process.env.CELERIAC_RESULT_BACKEND = options.resultBackend;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`Error: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
