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
      'celeriac_results',
      'celeriac_revoked',
      'celeriac_sequences',
    ]);
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
