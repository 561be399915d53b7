/**
 * `celeriac beat`: runs the periodic scheduler (`beat` or `beat run`), and manages stored
 * schedules while it runs: `list`, `add`, `remove`, `enable`, `disable`, `run-now`.
 */
import { Option, type Command } from 'commander';
import { Beat } from '../../beat/beat.js';
import type { BeatStore, EntryDefinition } from '../../backends/beat-store.js';
import { crontab, every, parseDuration } from '../../beat/schedules/index.js';
import type { Celeriac } from '../../app/celeriac.js';
import { CeleriacError } from '../../errors.js';
import { createLineLogger, parseLogLevel } from '../../logger.js';
import type { JsonObject, JsonValue } from '../../protocol/types.js';
import { loadApp } from '../load-app.js';
import { listEntries } from './beat-list.js';
import { jsonFlag, secondsFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';

export function registerBeatCommand(program: Command): void {
  const beat = program
    .command('beat')
    .description('Run the periodic scheduler, or manage its stored schedules.')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts beat                                  # same as beat run
  celeriac -A src/tasks.ts beat add report reports.daily --cron '0 8 * * *' --tz Europe/Paris
  celeriac -A src/tasks.ts beat add ping health.ping --every 30s
  celeriac -A src/tasks.ts beat run-now report && celeriac -A src/tasks.ts beat list`,
    );

  beat
    .command('run', { isDefault: true })
    .description('Run beat in the foreground (several replicas may run: one leads at a time).')
    .addOption(
      new Option('--lease <seconds>', 'leadership lease: the longest a dead leader delays ticks')
        .argParser(secondsFlag({ positive: true }))
        .default(10),
    )
    .action(async (flags: { lease: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const app = await loadApp(globals.app);
      const logger = createLineLogger({ level: parseLogLevel(globals.loglevel), name: 'beat' });
      const runner = new Beat(app, { logger, leaseSeconds: flags.lease });
      const stop = () =>
        void runner
          .stop()
          .then(() => app.close())
          .then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await runner.start();
    });

  beat
    .command('list')
    .description(
      'Show every entry with its schedule, next run, a pending run-now and its last run.',
    )
    .action((_flags: unknown, command: Command) =>
      withStore(command, async (store, app) => {
        const lines = await listEntries(await store.list(), app, Date.now());
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );

  beat
    .command('add <name> <task>')
    .description('Add or replace a stored entry; a running beat picks it up within a second.')
    .option('--cron <expr>', "crontab expression, 5 fields or 6 with seconds, e.g. '0 8 * * *'")
    .option('--tz <zone>', 'IANA time zone of --cron', 'UTC')
    .option('--every <duration>', 'fixed interval, e.g. 30s, 5m, 1h30m')
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
    .option('-Q, --queue <name>', 'queue to send to')
    .addOption(
      new Option(
        '--expires <seconds>',
        'drop a run not started within this many seconds',
      ).argParser(secondsFlag({ positive: true })),
    )
    .option('--missed <policy>', 'after downtime: catch-up-once or skip', 'catch-up-once')
    .action((name: string, task: string, flags: AddFlags, command: Command) =>
      withStore(command, async (store) => {
        if (Boolean(flags.cron) === Boolean(flags.every))
          throw new CeleriacError('Give exactly one of --cron or --every.');
        const schedule = flags.cron
          ? crontab(flags.cron, { tz: flags.tz })
          : every(parseDuration(flags.every ?? ''));
        if (flags.missed !== 'catch-up-once' && flags.missed !== 'skip') {
          throw new CeleriacError(`--missed must be catch-up-once or skip, not "${flags.missed}".`);
        }
        const definition: EntryDefinition = {
          name,
          task,
          schedule: schedule.toJSON(),
          args: flags.args,
          kwargs: flags.kwargs,
          options: {
            ...(flags.queue ? { queue: flags.queue } : {}),
            ...(flags.expires !== undefined ? { expires: flags.expires } : {}),
          },
          missedRunPolicy: flags.missed,
          enabled: true,
          source: 'store',
        };
        await store.upsert(definition, Date.now());
        process.stdout.write(`Added ${name}: ${task} on ${schedule.describe()}\n`);
      }),
    );

  const simple: Array<
    [string, string, (store: BeatStore, name: string) => Promise<boolean>, string]
  > = [
    ['remove', 'Delete an entry.', (store, name) => store.remove(name), 'Removed'],
    [
      'enable',
      'Enable an entry (its schedule restarts now).',
      (store, name) => store.setEnabled(name, true, Date.now()),
      'Enabled',
    ],
    [
      'disable',
      'Disable an entry.',
      (store, name) => store.setEnabled(name, false, Date.now()),
      'Disabled',
    ],
    [
      'run-now',
      'Send an entry once, now (through the leading beat).',
      (store, name) => store.requestRunNow(name, Date.now()),
      'Requested a run of',
    ],
  ];
  for (const [verb, description, apply, done] of simple) {
    beat
      .command(`${verb} <name>`)
      .description(description)
      .action((name: string, _flags: unknown, command: Command) =>
        withStore(command, async (store) => {
          if (!(await apply(store, name)))
            throw new CeleriacError(`No periodic entry named "${name}".`);
          process.stdout.write(`${done} ${name}\n`);
        }),
      );
  }
}

interface AddFlags {
  cron?: string;
  tz: string;
  every?: string;
  args: JsonValue[];
  kwargs: JsonObject;
  queue?: string;
  expires?: number;
  missed: string;
}

async function withStore(
  command: Command,
  run: (store: BeatStore, app: Celeriac) => Promise<void>,
): Promise<void> {
  const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
  const beat = new Beat(app, { logger: createLineLogger({ level: 'warn', name: 'beat' }) });
  try {
    const store = await beat.open();
    await run(store, app);
    await store.close();
  } finally {
    await app.close();
  }
}
