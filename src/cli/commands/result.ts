/**
 * `celeriac result <id>`: waits for a task and prints its result as JSON on the last line;
 * on failure prints `<ErrorType>: <message>` to stderr and exits non-zero.
 */
import type { Command } from 'commander';
import { loadApp } from '../load-app.js';
import type { GlobalOptions } from '../main.js';

export function registerResultCommand(program: Command): void {
  program
    .command('result <taskId>')
    .description('Wait for a task\'s result and print it as JSON.')
    .option('-t, --timeout <seconds>', 'give up after this many seconds (exit 2)')
    .action(async (taskId: string, flags: { timeout?: string }, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      try {
        const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout);
        const value = await app.asyncResult(taskId).get({ timeout });
        process.stdout.write(`${JSON.stringify(value ?? null)}\n`);
      } catch (error) {
        const err = error as Error;
        process.stderr.write(`${err.name}: ${err.message}\n`);
        process.exitCode = err.name === 'TimeoutError' ? 2 : 1;
      } finally {
        await app.close();
      }
    });
}
