/**
 * A RabbitMQ virtual host of a test file's own, made with `rabbitmqctl` and deleted with
 * everything in it at the end: remote control and events use exchange names that are
 * global in a vhost (`celery.pidbox`, `celeryev`), so tests that share one would hear each
 * other. Must never delete a vhost it did not make.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { TestContext } from 'vitest';
import { AMQP_URL, requireService } from './services.js';

const run = promisify(execFile);

export interface TestVhost {
  name: string;
  /** The AMQP URL of the vhost (guest/guest on 127.0.0.1). */
  url: string;
  dispose(): Promise<void>;
}

/** Null when `rabbitmqctl` can make vhosts here, else why not. */
export async function vhostsUnavailable(): Promise<string | null> {
  try {
    await run('rabbitmqctl', ['-q', 'list_vhosts'], { timeout: 20_000 });
    return null;
  } catch (error) {
    return `rabbitmqctl cannot list vhosts (${(error as Error).message.split('\n')[0]})`;
  }
}

/**
 * Skips the test (with the reason) unless RabbitMQ answers and `rabbitmqctl` can make vhosts
 * here; with CI=true either missing fails it, as `requireService` does.
 */
export async function requireVhosts(ctx: TestContext): Promise<void> {
  await requireService(ctx, 'rabbitmq');
  const reason = await vhostsUnavailable();
  if (reason === null) return;
  if (process.env.CI === 'true')
    throw new Error(`CI=true and RabbitMQ vhosts are required: ${reason}`);
  ctx.skip(reason);
}

export async function createVhost(label: string): Promise<TestVhost> {
  const name = `celeriac-test-${label}-${randomUUID().slice(0, 8)}`;
  await run('rabbitmqctl', ['-q', 'add_vhost', name], { timeout: 30_000 });
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', name, 'guest', '.*', '.*', '.*'], {
    timeout: 30_000,
  });
  const base = AMQP_URL.replace(/\/+$/, '');
  return {
    name,
    url: `${base}/${encodeURIComponent(name)}`,
    dispose: async () => {
      await run('rabbitmqctl', ['-q', 'delete_vhost', name], { timeout: 30_000 }).catch(
        () => undefined,
      );
    },
  };
}
