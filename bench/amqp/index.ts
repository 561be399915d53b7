/**
 * `npm run bench -- amqp`: on one RabbitMQ, in one run: the raw amqplib ceiling (publish
 * with confirms, consume with acks), our broker layer on the same workload, Celeriac end
 * to end through one worker, and Python Celery (Debian's) through its worker; prints each
 * figure and the ratios. Everything it declares is named uniquely and deleted afterwards.
 */
import { amqplib } from '../../src/connections/amqp/amqplib.js';
import { fmt, row } from '../support.js';
import { measureBroker, type BrokerFigures } from './broker-side.js';
import { uniqueQueue } from './messages.js';
import { measureRaw, type RawFigures } from './raw-side.js';
import { measureCeleriacWorker, measurePythonWorker, type WorkerFigures } from './worker-side.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface AmqpBenchOptions {
  /** @default CELERIAC_BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672 */
  url?: string;
  /** Messages per raw/broker round. @default 30 000 */
  messages?: number;
  /** Raw and broker rounds, interleaved; medians are reported (the figures are noisy). @default 5 */
  rounds?: number;
  /** Tasks through the Celeriac worker. @default 20 000 */
  tasks?: number;
  /** Tasks through the Python Celery worker. @default 5 000 */
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
  const messages = options.messages ?? 30_000;
  const rounds = options.rounds ?? 5;
  const prefetch = options.prefetch ?? 100;
  const tasks = options.tasks ?? 20_000;
  const pythonTasks = options.pythonTasks ?? 5_000;
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
    const celeriac = await measureCeleriacWorker(url, prefix, tasks, concurrency, multiplier);
    toDelete.push(celeriac.replyQueue);
    row(`Celeriac: send ${tasks} tasks (sendMany, tasks/s)`, fmt(celeriac.sendPerSec));
    row(
      `Celeriac worker -c ${concurrency} (prefetch ${concurrency * (multiplier + 1)}): tasks/s`,
      fmt(celeriac.tasksPerSec),
      `${pct(celeriac.tasksPerSec, raw.consumePerSec)} of raw consume`,
    );

    const python: AmqpBenchFigures['python'] = {};
    const missing = await pythonCeleryMissing();
    if (missing) {
      python.skipped = missing;
      row('Python Celery worker', 'skipped', missing);
    } else {
      // Python's default pool as users run it, and its fastest setup for no-ops (one process,
      // same prefetch as ours: with its default prefetch of 4, solo manages ~200 tasks/s).
      const runs = [
        ['prefork', 'prefork', undefined, 'defaults (-c cores, prefetch x4)'],
        ['solo', 'solo', prefetch, `prefetch ${prefetch}`],
      ] as const;
      for (const [key, pool, multiplier, label] of runs) {
        const queue = uniqueQueue(`python-${pool}`);
        toDelete.push(queue);
        const figures = await measurePythonWorker(url, queue, pythonTasks, pool, multiplier);
        toDelete.push(figures.replyQueue);
        python[key] = figures;
        row(
          `Python Celery 5.2 worker -P ${pool}, ${label}: tasks/s`,
          fmt(figures.tasksPerSec),
          `Celeriac is ${fmt(celeriac.tasksPerSec / figures.tasksPerSec)}x`,
        );
      }
    }
    const bestPython = Math.max(python.prefork?.tasksPerSec ?? 0, python.solo?.tasksPerSec ?? 0);
    const ratios: Record<string, number> = {
      brokerPublishVsRaw: broker.publishPerSec / raw.publishPerSec,
      brokerConsumeVsRaw: broker.consumePerSec / raw.consumePerSec,
      workerVsRawConsume: celeriac.tasksPerSec / raw.consumePerSec,
    };
    if (bestPython > 0) ratios.workerVsBestPython = celeriac.tasksPerSec / bestPython;
    process.stdout.write(
      `  ratios: ${Object.entries(ratios)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}\n`,
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
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
