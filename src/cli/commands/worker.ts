/**
 * `celeriac worker`: runs a worker in the foreground. First SIGTERM/SIGINT: warm shutdown
 * (finish running tasks within the timeout); second: cold shutdown (give them back, exit).
 */
import type { Command } from 'commander';
import { Worker } from '../../worker/worker.js';
import { Beat } from '../../beat/beat.js';
import { createLineLogger, parseLogLevel } from '../../logger.js';
import { loadApp } from '../load-app.js';
import type { GlobalOptions } from '../main.js';

interface WorkerFlags {
  queues?: string;
  concurrency?: string;
  hostname?: string;
  prefetchMultiplier?: string;
  shutdownTimeout?: string;
  beat?: boolean;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Start a worker that consumes queues and runs tasks.')
    .option('-Q, --queues <names>', 'comma-separated queues to consume (default: the app\'s default queue)')
    .option('-c, --concurrency <n>', 'tasks run at once', '10')
    .option('-n, --hostname <name>', 'worker name (default: celeriac@<host>)')
    .option('--prefetch-multiplier <n>', 'messages reserved per slot', '4')
    .option('--shutdown-timeout <seconds>', 'how long a warm shutdown waits for running tasks', '30')
    .option('-B, --beat', 'also run beat in this process (small setups)')
    .action(async (flags: WorkerFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions & WorkerFlags>();
      const app = await loadApp(globals.app);
      const logger = createLineLogger({ level: parseLogLevel(globals.loglevel), name: 'worker' });
      const worker = new Worker(app, {
        queues: flags.queues?.split(',').map((q) => q.trim()).filter(Boolean),
        concurrency: Number(flags.concurrency),
        hostname: flags.hostname,
        prefetchMultiplier: Number(flags.prefetchMultiplier),
        shutdownTimeout: Number(flags.shutdownTimeout),
        logger,
      });
      const beat = flags.beat ? new Beat(app, { logger: createLineLogger({ level: parseLogLevel(globals.loglevel), name: 'beat' }) }) : undefined;
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
          logger.warn(`${signal} received again: cold shutdown, running tasks go back to the queue`);
          void worker.terminate().then(exit);
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await worker.start();
      await beat?.start();
    });
}
