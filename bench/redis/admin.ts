/**
 * The benches' own Redis connection: opened once to learn whether the server answers (a
 * suite without it says so and skips) and kept to clean up only the keys a run made.
 */
import { Redis } from 'ioredis';

/** A connected client for `url`, or undefined after printing why `what` is skipped. */
export async function openBenchRedis(url: string, what: string): Promise<Redis | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The socket's own error says why (connect() only rejects with "Connection is closed").
  let cause: Error | undefined;
  const noteCause = (error: Error) => (cause ??= error);
  client.on('error', noteCause);
  try {
    await client.connect();
    client.off('error', noteCause);
    return client;
  } catch (error) {
    client.disconnect();
    const why = (cause ?? (error as Error)).message;
    process.stdout.write(`\n${what} (${url}): not reachable (${why}); skipped.\n`);
    return undefined;
  }
}

/** Deletes the keys under `prefix` (a run's own), never anything else. */
export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await client.unlink(...keys);
  } while (cursor !== '0');
}
