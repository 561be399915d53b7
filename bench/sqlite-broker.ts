/**
 * Quick figures for the SQLite broker alone (no app, no worker): publish rate, claim+ack
 * rate of one consumer, and enqueue-to-delivery latency on an idle consumer, in process
 * and from another process. Run: `npx tsx bench/sqlite-broker.ts`. Uses a temp file it
 * deletes; must never touch anything else.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteBroker } from '../src/brokers/sqlite/index.js';
import type { Delivery } from '../src/brokers/broker.js';
import type { TransportMessage } from '../src/protocol/types.js';

const message = (i: number): TransportMessage => ({
  body: Buffer.from(
    JSON.stringify([[i], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
  ),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { lang: 'py', task: 'bench.noop', id: `b-${i}`, sent_at: now() },
  properties: { correlation_id: `b-${i}`, delivery_mode: 2, priority: 0 },
});

/** Epoch ms with sub-ms precision, comparable across processes on one machine. */
const now = () => performance.timeOrigin + performance.now();

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

async function throughput(url: string, count: number, prefetch: number): Promise<void> {
  const broker = new SqliteBroker(url);
  await broker.connect();
  const queue = `tp-${prefetch}`;
  let t = performance.now();
  for (let i = 0; i < count; i += 1000) {
    await broker.publishMany(
      Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({
        message: message(i + j),
        options: { queue },
      })),
    );
  }
  const publishS = (performance.now() - t) / 1000;
  let acked = 0;
  t = performance.now();
  await new Promise<void>((resolve) => {
    void broker.consume({
      queues: [queue],
      prefetch,
      onDelivery: (delivery) => {
        void delivery.ack().then(() => {
          acked += 1;
          if (acked === count) resolve();
        });
      },
    });
  });
  const consumeS = (performance.now() - t) / 1000;
  console.log(
    `publishMany (batches of 1000): ${Math.round(count / publishS)} msg/s | ` +
      `one consumer, prefetch ${prefetch}, claim+ack: ${Math.round(count / consumeS)} msg/s (${count} messages)`,
  );
  await broker.close();
}

async function latencyInProcess(url: string, rounds: number): Promise<void> {
  const publisher = new SqliteBroker(url);
  const consumerBroker = new SqliteBroker(url);
  await publisher.connect();
  await consumerBroker.connect();
  const queue = 'lat-local';
  let waiting: ((d: Delivery) => void) | undefined;
  await consumerBroker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => waiting?.(d) });
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, 2)); // the consumer is idle when each publish lands
    const got = new Promise<Delivery>((resolve) => (waiting = resolve));
    const t = performance.now();
    await publisher.publish(message(i), { queue });
    const delivery = await got;
    samples.push(performance.now() - t);
    await delivery.ack();
  }
  samples.sort((a, b) => a - b);
  console.log(
    `enqueue-to-delivery, same process, two connections: p50 ${fmt(percentile(samples, 0.5))}, p99 ${fmt(percentile(samples, 0.99))} (${rounds} rounds)`,
  );
  await consumerBroker.close();
  await publisher.close();
}

async function latencyCrossProcess(url: string, rounds: number): Promise<void> {
  const broker = new SqliteBroker(url);
  await broker.connect();
  const queue = 'lat-remote';
  const samples: number[] = [];
  await broker.consume({
    queues: [queue],
    prefetch: 1,
    onDelivery: (d) => {
      samples.push(now() - Number(d.message.headers.sent_at));
      void d.ack();
    },
  });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), 'publish', url, queue, String(rounds)],
    { stdio: 'inherit' },
  );
  await new Promise((resolve) => child.once('exit', resolve));
  await new Promise((r) => setTimeout(r, 300));
  samples.sort((a, b) => a - b);
  console.log(
    `enqueue-to-delivery, other process (fs.watch on the WAL): p50 ${fmt(percentile(samples, 0.5))}, p99 ${fmt(percentile(samples, 0.99))} ` +
      `(${samples.length} rounds)`,
  );
  await broker.close();
}

async function publishChild(url: string, queue: string, rounds: number): Promise<void> {
  const broker = new SqliteBroker(url);
  await broker.connect();
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, 10));
    await broker.publish(message(i), { queue });
  }
  await broker.close();
}

if (process.argv[2] === 'publish') {
  await publishChild(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
} else {
  const file = path.join(os.tmpdir(), `celeriac-bench-${process.pid}.db`);
  const url = `sqlite://${file}`;
  try {
    console.log(`SQLite broker on ${file} (Node ${process.version}, ${os.cpus().length} cores)`);
    await throughput(url, 50_000, 100);
    await throughput(url, 50_000, 1000);
    await throughput(url, 20_000, 10);
    await latencyInProcess(url, 1000);
    await latencyCrossProcess(url, 300);
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }
}
