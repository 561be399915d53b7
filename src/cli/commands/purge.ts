/**
 * `celeriac purge`: deletes the ready messages of queues, as Celery's `purge` does on every
 * broker: messages a worker holds (unacked) and delayed ones not yet due stay. Says how many
 * it removed, per queue and in total. Asks first unless -f; the answer may be piped in
 * (`echo y | celeriac purge`), and input that ends unanswered purges nothing.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Broker } from '../../brokers/broker.js';
import { queuesFromFlag } from '../app-queues.js';
import { loadApp } from '../load-app.js';
import type { GlobalOptions } from '../main.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function registerPurgeCommand(program: Command): void {
  program
    .command('purge')
    .description(
      'Delete the waiting (ready) tasks of queues; running and delayed ones stay. Cannot be undone.',
    )
    .option(
      '-Q, --queues <names>',
      "comma-separated queues (default: the app's default queue and its tasks' queues)",
    )
    .option('-f, --force', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts purge                 # asks, then empties the app's queues
  celeriac -A src/tasks.ts purge -Q emails -f    # no question asked`,
    )
    .action(async (flags: { queues?: string; force?: boolean }, command: Command) => {
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const queues = queuesFromFlag(app, flags.queues);
      try {
        const broker = await app.broker();
        if (!flags.force && !(await confirm(broker, queues))) {
          process.stderr.write('Nothing purged (pass -f to purge without asking).\n');
          return;
        }
        let total = 0;
        for (const queue of queues) {
          const removed = await broker.purge(queue);
          total += removed;
          process.stdout.write(`${queue}: ${plural(removed, 'message')} purged\n`);
        }
        process.stdout.write(
          `Purged ${plural(total, 'message')} from ${plural(queues.length, 'queue')}.\n`,
        );
      } finally {
        await app.close();
      }
    });
}

async function confirm(broker: Broker, queues: string[]): Promise<boolean> {
  const waiting = await Promise.all(
    queues.map(async (queue) => `${queue} (${await broker.queueLength(queue)} waiting)`),
  );
  const answer = await ask(
    `Delete every waiting task in ${waiting.join(', ')}? There is no undo. [y/N] `,
  );
  return /^y(es)?$/i.test(answer.trim());
}

/** One line from the terminal; '' when the input ends first (Ctrl-D). */
function ask(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let answered = false;
    rl.on('close', () => {
      if (!answered) process.stderr.write('\n');
      resolve('');
    });
    rl.question(question, (answer) => {
      answered = true;
      resolve(answer);
      rl.close();
    });
  });
}
