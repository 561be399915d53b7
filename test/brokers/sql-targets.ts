/**
 * The two SQL brokers as test targets: a fresh SQLite file or a fresh PostgreSQL schema,
 * each with its cleanup, for tests that must hold on both (`describe.each(Object.keys(targets))`).
 */
import type { TestContext } from 'vitest';
import type { Broker } from '../../src/brokers/broker.js';
import { PostgresBroker } from '../../src/brokers/postgres/index.js';
import { SqliteBroker } from '../../src/brokers/sqlite/index.js';
import type { DeadLetter } from '../../src/brokers/sql/queue-store.js';
import { requireService } from '../support/services.js';
import { testSchema } from '../support/postgres.js';
import { removeDb, tempDbPath } from './sqlite/temp-db.js';

export type SqlBroker = Broker & { deadLetters(queue: string): Promise<DeadLetter[]> };

export interface Target {
  url: string;
  open(leaseMs: number): SqlBroker;
  cleanup(): Promise<void>;
}

export const targets: Record<string, (ctx: TestContext) => Promise<Target>> = {
  sqlite: () => {
    const file = tempDbPath('expiry');
    const url = `sqlite://${file}`;
    return Promise.resolve({
      url,
      open: (leaseMs) => new SqliteBroker(url, { leaseMs }),
      cleanup: () => Promise.resolve(removeDb(file)),
    });
  },
  postgres: async (ctx) => {
    await requireService(ctx, 'postgres');
    const pg = testSchema('expiry');
    return {
      url: pg.url,
      open: (leaseMs) => new PostgresBroker(pg.url, { leaseMs }),
      cleanup: () => pg.drop(),
    };
  },
};
