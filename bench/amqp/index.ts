/**
 * `npm run bench -- amqp`: on one RabbitMQ, in one run: the raw amqplib ceiling (publish
 * with confirms, consume with acks), our broker layer on the same workload, Celeriac end
 * to end through one worker, and Python Celery (Debian's) through its worker; prints each
 * figure, its fraction of raw and its ratio to Python, each beside its goal (issue 16).
 * Everything it declares is named uniquely and deleted afterwards. Sizes: BENCH_MESSAGES
 * (30,000 per raw/broker round), BENCH_TASKS (10,000 through each worker: the same count for
 * Celeriac and Python, so warm-up weighs the same on both), BENCH_ROUNDS (3 worker rounds).
 */
import { amqplib } from '../../src/connections/amqp/amqplib.js';
import { against, envCount, fmt, median, row } from '../support.js';
import { measureBroker, type BrokerFigures } from './broker-side.js';
import { uniqueQueue } from './messages.js';
import { measureRaw, type RawFigures } from './raw-side.js';
import { measureCeleriacWorker, measurePythonWorker, type WorkerFigures } from './worker-side.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface AmqpBenchOptions {
  /** @default CELERIAC_BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672 */
  url?: string;
  /** Messages per raw/broker round. @default BENCH_MESSAGES or 30 000 */
  messages?: number;
  /** Raw and broker rounds, interleaved; medians are reported (the figures are noisy). @default 5 */
  rounds?: number;
  /** Worker rounds (Celeriac and both Python runs), interleaved; medians. @default BENCH_ROUNDS or 3 */
  workerRounds?: number;
  /** Tasks through the Celeriac worker. @default BENCH_TASKS or 10 000 */
  tasks?: number;
  /** Tasks through the Python Celery worker. @default the Celeriac count */
  pythonTasks?: number;
  /** Celeriac worker concurrency. @default 10 */
  concurrency?: number;
  /** Prefetch of the raw and broker consumers, and of both workers' second runs. @default 100 */
  prefetch?: number;
}

export interface AmqpBenchFigures {
  raw: RawFigures;
  broker: BrokerFigures;
  celeriac: WorkerFigures;
  python: { prefork?: WorkerFigures; solo?: WorkerFigures; skipped?: string };
  ratios: Record<string, number>;
}

export async function runAmqpBench(
  options: AmqpBenchOptions = {},
): Promise<AmqpBenchFigures | undefined> {
  const url =
    options.url ?? process.env.CELERIAC_BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  let admin: Awaited<ReturnType<typeof amqplib.connect>>;
  try {
    admin = await amqplib.connect(url, {
      clientProperties: { connection_name: 'celeriac-bench admin' },
    });
  } catch (error) {
    process.stdout.write(
      `\nRabbitMQ (${url.replace(/:[^:@/]*@/, ':***@')}): not reachable (${(error as Error).message}); skipped.\n`,
    );
    return undefined;
  }
  const messages = options.messages ?? envCount('BENCH_MESSAGES', 30_000);
  const rounds = options.rounds ?? 5;
  const workerRounds =
    options.workerRounds ?? envCount('BENCH_ROUNDS', envCount('CELERIAC_BENCH_ROUNDS', 3));
  const prefetch = options.prefetch ?? 100;
  const tasks = options.tasks ?? envCount('BENCH_TASKS', 10_000);
  const pythonTasks = options.pythonTasks ?? tasks;
  const concurrency = options.concurrency ?? 10;
  const toDelete: string[] = [];
  process.stdout.write(
    `\nRabbitMQ: raw amqplib vs Celeriac's broker layer vs workers (same server, one run)\n`,
  );
  try {
    const raws: RawFigures[] = [];
    const brokers: BrokerFigures[] = [];
    for (let i = 0; i < rounds; i++) {
      raws.push(await measureRaw(url, uniqueQueue('raw'), messages, prefetch));
      const queue = uniqueQueue('broker');
      toDelete.push(queue);
      brokers.push(await measureBroker(url, queue, messages, prefetch));
    }
    const raw = {
      publishPerSec: median(raws.map((r) => r.publishPerSec)),
      consumePerSec: median(raws.map((r) => r.consumePerSec)),
    };
    const broker = {
      publishPerSec: median(brokers.map((r) => r.publishPerSec)),
      consumePerSec: median(brokers.map((r) => r.consumePerSec)),
    };
    process.stdout.write(
      `  ${messages} messages per round, ${rounds} rounds interleaved, medians; prefetch ${prefetch}\n`,
    );
    row('raw amqplib: publish, confirmed (msgs/s)', fmt(raw.publishPerSec));
    row(
      'Celeriac broker: publishMany, confirmed (msgs/s)',
      fmt(broker.publishPerSec),
      `${pct(broker.publishPerSec, raw.publishPerSec)} of raw`,
    );
    row('raw amqplib: consume + ack (msgs/s)', fmt(raw.consumePerSec));
    row(
      'Celeriac broker: consume + ack (msgs/s)',
      fmt(broker.consumePerSec),
      `${pct(broker.consumePerSec, raw.consumePerSec)} of raw`,
    );

    const prefix = `celeriac-bench-${process.pid}-`;
    toDelete.push(`${prefix}celery`);
    // Same prefetch as the raw consumer: the worker's default (4 per slot) is latency-bound.
    // The worker's prefetch is concurrency x (multiplier + 1), the running ones included.
    const multiplier = Math.max(1, Math.round(prefetch / concurrency) - 1);
    const missing = await pythonCeleryMissing();
    // Python's default pool as users run it, and its fastest setup for no-ops (one process,
    // same prefetch as ours: with its default prefetch of 4, solo manages ~200 tasks/s).
    const pythonRuns = [
      ['prefork', 'prefork', undefined, 'defaults (-c cores, prefetch x4)'],
      ['solo', 'solo', prefetch, `prefetch ${prefetch}`],
    ] as const;
    // Every worker run, rotated round by round as the raw and broker rounds are; medians count.
    const workerRuns: Array<() => Promise<WorkerFigures>> = [
      () => measureCeleriacWorker(url, prefix, tasks, concurrency, multiplier),
      ...(missing
        ? []
        : pythonRuns.map(([, pool, pyMultiplier]) => () => {
            const queue = uniqueQueue(`python-${pool}`);
            toDelete.push(queue);
            return measurePythonWorker(url, queue, pythonTasks, pool, pyMultiplier);
          })),
    ];
    const workerSamples: WorkerFigures[][] = workerRuns.map(() => []);
    for (let round = 0; round < workerRounds; round++) {
      for (let k = 0; k < workerRuns.length; k++) {
        const index = (k + round) % workerRuns.length;
        const figures = await workerRuns[index]!();
        toDelete.push(figures.replyQueue);
        workerSamples[index]!.push(figures);
      }
    }
    const medianOf = (values: Array<number | undefined>) => {
      const known = values.filter((v): v is number => v !== undefined);
      return known.length ? median(known) : undefined;
    };
    const middle = (runs: WorkerFigures[]): WorkerFigures => ({
      sendPerSec: median(runs.map((r) => r.sendPerSec)),
      tasksPerSec: median(runs.map((r) => r.tasksPerSec)),
      workerCpuPerTask: medianOf(runs.map((r) => r.workerCpuPerTask)),
      brokerCpuPerTask: medianOf(runs.map((r) => r.brokerCpuPerTask)),
      replyQueue: runs[0]?.replyQueue ?? '',
    });
    const cpuNote = (figures: WorkerFigures) =>
      [
        figures.workerCpuPerTask === undefined
          ? ''
          : `worker ${figures.workerCpuPerTask.toFixed(1)} µs CPU/task`,
        figures.brokerCpuPerTask === undefined
          ? ''
          : `RabbitMQ ${figures.brokerCpuPerTask.toFixed(1)} µs CPU/task`,
      ]
        .filter(Boolean)
        .join(', ');
    const celeriac = middle(workerSamples[0]!);
    process.stdout.write(
      `  workers: ${fmt(tasks)} Celeriac / ${fmt(pythonTasks)} Python no-ops sent first, then one worker process; no results stored by either; each acks every message; medians of ${workerRounds} interleaved rounds\n`,
    );
    row(
      `Celeriac: send ${fmt(tasks)} tasks (app.sendMany, tasks/s)`,
      fmt(celeriac.sendPerSec),
      `${pct(celeriac.sendPerSec, raw.publishPerSec)} of raw publish`,
    );
    row(
      `Celeriac worker -c ${concurrency} (prefetch ${concurrency * (multiplier + 1)}): tasks/s`,
      fmt(celeriac.tasksPerSec),
      `${pct(celeriac.tasksPerSec, raw.consumePerSec)} of raw consume; ${cpuNote(celeriac)}`,
    );

    const python: AmqpBenchFigures['python'] = {};
    if (missing) {
      python.skipped = missing;
      row('Python Celery worker', 'skipped', missing);
    } else {
      pythonRuns.forEach(([key, pool, , label], i) => {
        const figures = middle(workerSamples[i + 1]!);
        python[key] = figures;
        row(
          `Python Celery 5.2 worker -P ${pool}, ${label}: tasks/s`,
          fmt(figures.tasksPerSec),
          `Celeriac is ${(celeriac.tasksPerSec / figures.tasksPerSec).toFixed(2)}x; ${cpuNote(figures)}`,
        );
      });
    }
    const bestPython = Math.max(python.prefork?.tasksPerSec ?? 0, python.solo?.tasksPerSec ?? 0);
    const ratios: Record<string, number> = {
      brokerPublishVsRaw: broker.publishPerSec / raw.publishPerSec,
      brokerConsumeVsRaw: broker.consumePerSec / raw.consumePerSec,
      sendVsRawPublish: celeriac.sendPerSec / raw.publishPerSec,
      workerVsRawConsume: celeriac.tasksPerSec / raw.consumePerSec,
    };
    if (bestPython > 0) ratios.workerVsBestPython = celeriac.tasksPerSec / bestPython;
    // By CPU: what each worker process (and RabbitMQ for it) spends per task; on a loaded
    // 2-core machine a far steadier figure than the wall time.
    const leanest = (pick: (f: WorkerFigures) => number | undefined) => {
      const known = [python.prefork, python.solo]
        .map((f) => (f ? pick(f) : undefined))
        .filter((v): v is number => v !== undefined);
      return known.length ? Math.min(...known) : undefined;
    };
    const pyWorkerCpu = leanest((f) => f.workerCpuPerTask);
    const pyTotalCpu = leanest((f) =>
      f.workerCpuPerTask === undefined || f.brokerCpuPerTask === undefined
        ? undefined
        : f.workerCpuPerTask + f.brokerCpuPerTask,
    );
    if (pyWorkerCpu !== undefined && celeriac.workerCpuPerTask)
      ratios.workerCpuVsLeanestPython = pyWorkerCpu / celeriac.workerCpuPerTask;
    if (
      pyTotalCpu !== undefined &&
      celeriac.workerCpuPerTask !== undefined &&
      celeriac.brokerCpuPerTask !== undefined
    )
      ratios.totalCpuVsLeanestPython =
        pyTotalCpu / (celeriac.workerCpuPerTask + celeriac.brokerCpuPerTask);
    const goal = (label: string, text: string) =>
      process.stdout.write(`  ${label.padEnd(52)} ${text}\n`);
    process.stdout.write('  goals (issue 16), Celeriac:\n');
    goal(
      'publish, confirmed: broker layer / app.sendMany',
      `${against(ratios.brokerPublishVsRaw!, 0.7, 'of raw amqplib', { percent: true })}; ${against(ratios.sendVsRawPublish!, 0.7, 'of raw amqplib', { percent: true })}`,
    );
    goal(
      'consume with acks: broker layer / whole worker',
      `${against(ratios.brokerConsumeVsRaw!, 0.7, 'of raw amqplib', { percent: true })}; ${against(ratios.workerVsRawConsume!, 0.7, 'of raw amqplib', { percent: true })}`,
    );
    goal(
      'worker vs Python Celery 5.2, its faster setup',
      ratios.workerVsBestPython === undefined
        ? `not measured (${python.skipped ?? 'no Python run'})`
        : against(ratios.workerVsBestPython, 5, 'Python Celery'),
    );
    if (ratios.workerCpuVsLeanestPython !== undefined)
      goal(
        'by CPU per task: worker / worker + RabbitMQ',
        `${ratios.workerCpuVsLeanestPython.toFixed(2)}x less than Python's leanest` +
          (ratios.totalCpuVsLeanestPython === undefined
            ? ''
            : `; ${ratios.totalCpuVsLeanestPython.toFixed(2)}x less`),
      );
    return { raw, broker, celeriac, python, ratios };
  } finally {
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    for (const name of toDelete) {
      await channel.deleteQueue(name).catch(() => undefined);
      await channel.deleteExchange(name).catch(() => undefined);
    }
    await admin.close().catch(() => undefined);
  }
}

function pct(value: number, of: number): string {
  return `${Math.round((value / of) * 100)}%`;
}

async function pythonCeleryMissing(): Promise<string | undefined> {
  try {
    await promisify(execFile)('/usr/bin/python3', ['-c', 'import celery'], { timeout: 20_000 });
    return undefined;
  } catch {
    return '/usr/bin/python3 cannot import celery (apt install python3-celery)';
  }
}
