/**
 * `celeriac worker`: runs a worker in the foreground. First SIGTERM/SIGINT: warm shutdown
 * (finish running tasks within the timeout); second: cold shutdown (give them back, exit).
 */
import os from 'node:os';
import { Option, type Command } from 'commander';
import { Worker } from '../../worker/worker.js';
import { Beat } from '../../beat/beat.js';
import { createLineLogger, parseLogLevel } from '../../logger.js';
import { loadApp } from '../load-app.js';
import { expandNodeName } from '../node-name.js';
import { integerFlag, listFlag, secondsFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';

interface WorkerFlags {
  queues?: string;
  concurrency: number;
  hostname?: string;
  prefetchMultiplier: number;
  shutdownTimeout: number;
  beat?: boolean;
  taskEvents?: boolean;
  heartbeat: boolean;
  control: boolean;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Start a worker that consumes queues and runs tasks.')
    .option(
      '-Q, --queues <names>',
      "comma-separated queues to consume (default: the app's default queue)",
    )
    .addOption(
      new Option('-c, --concurrency <n>', 'tasks run at once')
        .argParser(integerFlag(1))
        .default(10),
    )
    .addOption(
      new Option(
        '-n, --hostname <name>',
        'worker name (default: celeriac@%h); %h: host name, %n: its first part, %d: domain, %%: a %',
      ).argParser((text) => expandNodeName(text, os.hostname())),
    )
    .addOption(
      new Option('--prefetch-multiplier <n>', 'messages reserved per slot')
        .argParser(integerFlag(1))
        .default(4),
    )
    .addOption(
      new Option('--shutdown-timeout <seconds>', 'how long a warm shutdown waits for running tasks')
        .argParser(secondsFlag({ positive: false }))
        .default(30),
    )
    .option('-B, --beat', 'also run beat in this process (small setups)')
    .option('-E, --task-events', "send task events for monitors (Celery's -E)")
    .option('--without-heartbeat', 'send no worker-online / heartbeat / offline events')
    .option('--without-control', 'do not answer remote control (inspect, control)')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts worker -l info
  celeriac -A src/tasks.ts worker -Q emails,celery -c 20 -n emails@%h
  celeriac -A src/tasks.ts worker -B          # with beat in the same process
  celeriac -A src/tasks.ts worker -E          # with task events (celery events, Flower)`,
    )
    .action(async (flags: WorkerFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions & WorkerFlags>();
      const app = await loadApp(globals.app);
      const logger = createLineLogger({ level: parseLogLevel(globals.loglevel), name: 'worker' });
      const worker = new Worker(app, {
        queues: listFlag(flags.queues),
        concurrency: flags.concurrency,
        hostname: flags.hostname,
        prefetchMultiplier: flags.prefetchMultiplier,
        shutdownTimeout: flags.shutdownTimeout,
        logger,
        taskEvents: flags.taskEvents,
        workerEvents: flags.heartbeat,
        remoteControl: flags.control,
        onRemoteShutdown: () => onSignal('SIGTERM'),
      });
      const beat = flags.beat
        ? new Beat(app, {
            logger: createLineLogger({ level: parseLogLevel(globals.loglevel), name: 'beat' }),
          })
        : undefined;
      let signals = 0;
      let cold = false;
      const exit = async () => {
        await beat?.stop();
        await app.close();
        process.exit(cold ? 1 : 0);
      };
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          logger.info(`${signal} received: warm shutdown (send again to stop at once)`);
          void worker.stop().then(exit);
        } else if (!cold) {
          cold = true;
          logger.warn(
            `${signal} received again: cold shutdown, running tasks go back to the queue`,
          );
          void worker.terminate().then(exit);
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await worker.start();
      await beat?.start();
    });
}
