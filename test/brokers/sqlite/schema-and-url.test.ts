/**
 * The SQLite URL forms, idempotent schema creation under a `user_version` layout number,
 * and the refusal of a file written by a newer layout.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidSqliteUrlError,
  parseSqliteUrl,
  SCHEMA_VERSION,
  SchemaVersionError,
  SqliteBroker,
} from '../../../src/sqlite.js';
import { SqliteBackend } from '../../../src/backends/sqlite/index.js';
import { createBroker } from '../../../src/brokers/registry.js';
import { createBackend } from '../../../src/backends/registry.js';
import { Inbox, makeMessage } from '../../../src/testing/broker-conformance.js';
import { encodeEnvelope } from '../../../src/protocol/kombu-envelope.js';
import { removeDb, tempDbPath } from './temp-db.js';

const files: string[] = [];
afterEach(() => files.splice(0).forEach(removeDb));

describe('sqlite:// URLs', () => {
  it('reads relative, absolute and in-memory forms', () => {
    expect(parseSqliteUrl('sqlite://./celeriac.db')).toEqual({
      filename: path.resolve('celeriac.db'),
      memory: false,
    });
    expect(parseSqliteUrl('sqlite:///var/lib/app/tasks.db')).toEqual({
      filename: '/var/lib/app/tasks.db',
      memory: false,
    });
    expect(parseSqliteUrl('sqlite://data/my%20tasks.db?x=1')).toEqual({
      filename: path.resolve('data/my tasks.db'),
      memory: false,
    });
    expect(parseSqliteUrl('sqlite://:memory:')).toEqual({ filename: ':memory:', memory: true });
  });

  it('rejects URLs that name no file, saying which forms work', () => {
    expect(() => parseSqliteUrl('sqlite://')).toThrow(InvalidSqliteUrlError);
    expect(() => parseSqliteUrl('redis://x')).toThrow(/sqlite:\/\/\.\/celeriac\.db/);
  });

  it('is what the registries build for sqlite://', async () => {
    const file = tempDbPath('registry');
    files.push(file);
    const broker = await createBroker(`sqlite://${file}`, { keyPrefix: 'reg_' });
    const backend = await createBackend(`sqlite://${file}`, { keyPrefix: 'reg_' });
    expect(broker).toBeInstanceOf(SqliteBroker);
    expect(backend).toBeInstanceOf(SqliteBackend);
    await broker.connect();
    await backend.connect();
    await broker.close();
    await backend.close();
  });
});

describe('SQLite schema', () => {
  it('creates tables idempotently, in WAL mode, and records the layout number', async () => {
    const file = tempDbPath('schema');
    files.push(file);
    for (let i = 0; i < 3; i++) {
      const broker = new SqliteBroker(`sqlite://${file}`);
      const backend = new SqliteBackend(`sqlite://${file}`);
      await broker.connect();
      await backend.connect();
      await broker.close();
      await backend.close();
    }
    const db = new Database(file);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = (
      db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'celeriac_%'`)
        .all() as Array<{ name: string }>
    )
      .map((row) => row.name)
      .sort();
    expect(tables).toEqual([
      'celeriac_chord_parts',
      'celeriac_chords',
      'celeriac_dead_letters',
      'celeriac_groups',
      'celeriac_messages',
      'celeriac_once_claims',
      'celeriac_result_fields',
      'celeriac_results',
      'celeriac_revoked',
      'celeriac_sequences',
      'celeriac_task_counts',
      'celeriac_task_events',
      'celeriac_task_runtimes',
    ]);
    db.close();
  });

  it('adds the expiry column to a messages table made before it, keeping its messages, once however many brokers open the file', async () => {
    const file = tempDbPath('expires-column');
    files.push(file);
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    // The messages table as layout 1 first shipped it, one message waiting.
    old.exec(`CREATE TABLE celeriac_messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
      deliver_at INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0,
      deliveries INTEGER NOT NULL DEFAULT 0, redelivered INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL, envelope TEXT NOT NULL)`);
    old.pragma(`user_version = ${SCHEMA_VERSION}`);
    old
      .prepare('INSERT INTO celeriac_messages (queue, created_at, envelope) VALUES (?, ?, ?)')
      .run('q', Date.now(), encodeEnvelope(makeMessage('kept'), 'tag-1'));
    old.close();
    const brokers = Array.from({ length: 3 }, () => new SqliteBroker(`sqlite://${file}`));
    await Promise.all(brokers.map((broker) => broker.connect()));
    const [broker] = brokers;
    const inbox = new Inbox();
    await broker!.publish(makeMessage('gone'), { queue: 'q', expiresAt: Date.now() - 1 });
    await broker!.consume({ queues: ['q'], prefetch: 5, onDelivery: inbox.onDelivery });
    const delivered = await inbox.waitCount(2, 5000);
    expect(delivered.map((d) => [d.message.headers.id, d.expired === true])).toEqual([
      ['kept', false],
      ['gone', true],
    ]);
    for (const one of brokers) await one.close();
    const db = new Database(file);
    const columns = db.prepare(`SELECT name FROM pragma_table_info('celeriac_messages')`).all();
    expect(columns.filter((c) => (c as { name: string }).name === 'expires_at')).toHaveLength(1);
    db.close();
  });

  it('refuses a file written by a newer layout, saying what to do', async () => {
    const file = tempDbPath('newer');
    files.push(file);
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const broker = new SqliteBroker(`sqlite://${file}`);
    await expect(broker.connect()).rejects.toThrow(SchemaVersionError);
    await expect(broker.connect()).rejects.toThrow(/Upgrade celeriac/);
    await broker.close();
  });

  it('says which folder is missing when the file cannot be created', async () => {
    const broker = new SqliteBroker('sqlite:///nonexistent-folder-celeriac/x.db');
    await expect(broker.connect()).rejects.toThrow(/Check that its folder exists/);
    await broker.close();
  });
});
