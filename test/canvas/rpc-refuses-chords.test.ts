/**
 * The rpc:// result backend keeps no chord counters (as in Celery): a chord is refused
 * with ChordsNotSupportedError before any message is sent (the header size is recorded,
 * and refused, before a header task is published).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Celeriac, ChordsNotSupportedError, chord } from '../../src/index.js';
import { AMQP_URL, requireService } from '../support/services.js';

describe('chords on rpc://', () => {
  it('are refused with a clear error, and nothing is sent', async (ctx) => {
    await requireService(ctx, 'rabbitmq');
    const app = new Celeriac({ broker: AMQP_URL, backend: 'rpc://' });
    try {
      const queue = `celeriac-test-rpc-chord-${randomUUID()}`;
      const add = app.signature<[a: number, b: number], number>('tasks.add', { queue });
      const tsum = app.signature<[n: number[]], number>('tasks.tsum', { queue });
      await expect(chord([add.s(1, 1), add.s(2, 2)], tsum.s()).delay()).rejects.toThrow(
        ChordsNotSupportedError,
      );
      await expect(chord([add.s(1, 1)], tsum.s()).delay()).rejects.toThrow(/rpc result backend/);
    } finally {
      await app.close();
    }
  });
});
