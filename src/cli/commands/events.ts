/**
 * `celeriac events`: watches Celery's events from Python and Celeriac workers and clients,
 * as `celery events` does: a compact live view redrawn every second, or `--dump` for one
 * line per event. Runs until Ctrl-C (or `--duration`).
 */
import type { Command } from 'commander';
import { receiveEvents } from '../../app/event-receiver.js';
import { EventsView, dumpLine } from '../events-view.js';
import { secondsFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';
import { appFor } from './remote-control.js';

export function registerEventsCommand(program: Command): void {
  program
    .command('events')
    .description('Watch task and worker events live (Python and Celeriac workers).')
    .option('--dump', 'print every event as a line instead of the live view')
    .option('--duration <seconds>', 'stop after this long', secondsFlag({ positive: true }))
    .addHelpText(
      'after',
      `
Workers send worker events by default; task events need \`worker -E\` (or
workerSendTaskEvents / Celery's worker_send_task_events).

Examples:
  celeriac -A src/tasks.ts events
  celeriac -b redis://localhost:6379/0 events --dump`,
    )
    .action(async (flags: { dump?: boolean; duration?: number }, command: Command) => {
      const app = await appFor(command.optsWithGlobals<GlobalOptions>());
      const broker = await app.broker();
      const view = new EventsView();
      const tty = process.stdout.isTTY === true;
      const draw = () => process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : '\n'}${view.render()}\n`);
      if (flags.dump) process.stdout.write('-> celeriac events: starting capture...\n');
      const stop = await receiveEvents(
        broker,
        (event) => {
          if (flags.dump) process.stdout.write(`${dumpLine(event)}\n`);
          else view.add(event);
        },
        { onError: (error) => process.stderr.write(`events: ${error.message}\n`) },
      );
      const timer = flags.dump ? undefined : setInterval(draw, 1000);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        if (flags.duration) setTimeout(resolve, flags.duration * 1000);
      });
      clearInterval(timer);
      if (!flags.dump) draw();
      await stop();
      await app.close();
    });
}
