/**
 * `celeriac worker`: runs a worker in the foreground. First SIGTERM/SIGINT: warm shutdown
 * (finish running tasks within --shutdown-timeout). Second, or SIGQUIT: soft shutdown when
 * --soft-shutdown-timeout is set (that long more, then give back what still runs), else
 * cold shutdown (give running tasks back at once and exit); one more: cold.
 */
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Worker } from '../../worker/worker.js';
import { Beat } from '../../beat/beat.js';
import { createLineLogger, parseLogLevel } from '../../logger.js';
import { loadApp } from '../load-app.js';
import { expandNodeName } from '../node-name.js';
import { integerFlag, listFlag, secondsFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';
import { POOL_KINDS, type PoolKind } from '../../worker/pools/pool.js';

interface WorkerFlags {
  queues?: string;
  concurrency: number;
  pool: PoolKind;
  autoscale?: { max: number; min: number };
  maxTasksPerChild?: number;
  maxMemoryPerChild?: number;
  timeLimit?: number;
  softTimeLimit?: number;
  softShutdownTimeout: number;
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
      new Option(
        '-P, --pool <kind>',
        'what runs the tasks: async (this event loop), threads, processes',
      )
        .choices(POOL_KINDS)
        .default('async'),
    )
    .addOption(
      new Option(
        '-c, --concurrency <n>',
        'tasks run at once (threads or child processes for those pools)',
      )
        .argParser(integerFlag(1))
        .default(10),
    )
    .addOption(
      new Option(
        '--autoscale <max,min>',
        'grow the pool up to max while tasks wait, shrink back to min',
      ).argParser(autoscaleFlag),
    )
    .addOption(
      new Option(
        '--max-tasks-per-child <n>',
        'replace a thread or child after this many tasks',
      ).argParser(integerFlag(1)),
    )
    .addOption(
      new Option(
        '--max-memory-per-child <KiB>',
        'replace a child whose resident memory (a thread: its heap) passed this many KiB after a task',
      ).argParser(integerFlag(1)),
    )
    .addOption(
      new Option('--time-limit <seconds>', 'hard time limit for tasks that set none').argParser(
        secondsFlag({ positive: true }),
      ),
    )
    .addOption(
      new Option(
        '--soft-time-limit <seconds>',
        'soft time limit for tasks that set none',
      ).argParser(secondsFlag({ positive: true })),
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
    .addOption(
      new Option(
        '--soft-shutdown-timeout <seconds>',
        'on a second signal or SIGQUIT, how long running tasks still get before they go back to the queue (0: at once)',
      )
        .argParser(secondsFlag({ positive: false }))
        .default(0),
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
  celeriac -A src/tasks.ts worker -P processes -c 4 --time-limit 300 --max-tasks-per-child 100
  celeriac -A src/tasks.ts worker -P threads --autoscale 8,2

  celeriac -A src/tasks.ts worker -E          # with task events (celery events, Flower)`,
    )
    .action(async (flags: WorkerFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions & WorkerFlags>();
      const app = await loadApp(globals.app);
      const logger = createLineLogger({ level: parseLogLevel(globals.loglevel), name: 'worker' });
      const worker = new Worker(app, {
        queues: listFlag(flags.queues),
        concurrency: flags.concurrency,
        pool: flags.pool,
        appModule: globals.app ? path.resolve(globals.app) : undefined,
        autoscale: flags.autoscale,
        maxTasksPerChild: flags.maxTasksPerChild,
        maxMemoryPerChild: flags.maxMemoryPerChild,
        timeLimit: flags.timeLimit,
        softTimeLimit: flags.softTimeLimit,
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
      let stage: 'running' | 'warm' | 'soft' | 'cold' = 'running';
      let exiting = false;
      const exit = async () => {
        if (exiting) return;
        exiting = true;
        await beat?.stop();
        await app.close();
        process.exit(stage === 'cold' ? 1 : 0);
      };
      const cold = (signal: NodeJS.Signals) => {
        stage = 'cold';
        logger.warn(`${signal}: cold shutdown, running tasks go back to the queue`);
        void worker.terminate().then(exit);
      };
      const onSignal = (signal: NodeJS.Signals) => {
        if (stage === 'cold') return;
        if (stage === 'running' && signal !== 'SIGQUIT') {
          stage = 'warm';
          logger.info(`${signal} received: warm shutdown (send again to stop sooner)`);
          void worker.stop().then(exit);
        } else if (stage !== 'soft' && flags.softShutdownTimeout > 0) {
          stage = 'soft';
          logger.warn(
            `${signal}: soft shutdown, running tasks have ${flags.softShutdownTimeout} s to finish, then go back to the queue`,
          );
          void worker.softStop(flags.softShutdownTimeout).then(exit);
        } else cold(signal);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      process.on('SIGQUIT', onSignal);
      try {
        await worker.start();
      } catch (error) {
        // Refused at start-up (a flow limit without a store, say): the app's connections
        // would keep the process alive with nothing to do.
        await app.close().catch(() => undefined);
        throw error;
      }
      await beat?.start();
    });
}

/** `--autoscale max,min` (Celery's order; `max` alone means min 1). */
function autoscaleFlag(text: string): { max: number; min: number } {
  const [maxText = '', minText = '1', ...rest] = text.split(',').map((part) => part.trim());
  const max = /^\d+$/.test(maxText) ? Number(maxText) : NaN;
  const min = /^\d+$/.test(minText) ? Number(minText) : NaN;
  if (rest.length > 0 || !(max >= 1) || !(min >= 1) || min > max)
    throw new InvalidArgumentError(
      'Give max,min: whole numbers, 1 or more, max at least min, e.g. 8,2.',
    );
  return { max, min };
}
