/**
 * The command line refuses bad numbers at once, naming the option (before, `-c x` ran a
 * worker with NaN slots that processed nothing, and `-c 0` silently became 1), prints its
 * version, and shows examples and the global options in every command's help.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/worker-process.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

afterEach(async () => {
  await stopCliProcesses();
  removeTempDirs();
});

describe('bad numeric flags stop the command with an error naming the option', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      '-c x',
      ['worker', '-c', 'x'],
      /option '-c, --concurrency <n>' argument 'x' is invalid\. Give a whole number, 1 or more\./,
    ],
    ['-c 0', ['worker', '-c', '0'], /option '-c, --concurrency <n>' argument '0' is invalid/],
    ['-c -3', ['worker', '-c', '-3'], /option '-c, --concurrency <n>' argument '-3' is invalid/],
    [
      '-c 2.5',
      ['worker', '-c', '2.5'],
      /option '-c, --concurrency <n>' argument '2\.5' is invalid/,
    ],
    [
      '--prefetch-multiplier 0',
      ['worker', '--prefetch-multiplier', '0'],
      /option '--prefetch-multiplier <n>' argument '0' is invalid/,
    ],
    [
      '--shutdown-timeout soon',
      ['worker', '--shutdown-timeout', 'soon'],
      /option '--shutdown-timeout <seconds>' argument 'soon' is invalid/,
    ],
    [
      '-n with an unknown %',
      ['worker', '-n', 'w@%q'],
      /option '-n, --hostname <name>' argument 'w@%q' is invalid\. Unknown "%q"/,
    ],
    [
      'result --timeout 0',
      ['result', 'some-id', '--timeout', '0'],
      /option '-t, --timeout <seconds>' argument '0' is invalid/,
    ],
    [
      'call --priority 300',
      ['call', 'cli.add', '--priority', '300'],
      /option '--priority <n>' argument '300' is invalid\. Give a whole number, from 0 to 255\./,
    ],
    [
      'call --countdown -1',
      ['call', 'cli.add', '--countdown', '-1'],
      /option '--countdown <seconds>' argument '-1' is invalid/,
    ],
    [
      'call --eta tomorrow',
      ['call', 'cli.add', '--eta', 'tomorrow'],
      /option '--eta <iso-date>' argument 'tomorrow' is invalid/,
    ],
    [
      'call --args not-json',
      ['call', 'cli.add', '--args', '{1'],
      /option '-a, --args <json>' argument '\{1' is invalid\. It is not valid JSON/,
    ],
    [
      'beat run --lease 0',
      ['beat', 'run', '--lease', '0'],
      /option '--lease <seconds>' argument '0' is invalid/,
    ],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const { env } = sqliteEnv('flags');
    const run = await runToEnd(['-A', APP, ...args], env);
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(1);
    expect(run.stderr).not.toMatch(/ready: queues=/);
  });
});

describe('--version and --help', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const run = await runToEnd(['--version'], {});
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });

  it('the program help lists the commands and shows examples', async () => {
    const run = await runToEnd(['--help'], {});
    expect(run.code).toBe(0);
    for (const command of ['worker', 'call', 'result', 'purge', 'status', 'beat']) {
      expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(run.stdout).toMatch(/^Examples:\n  celeriac -A src\/tasks\.ts worker/m);
  });

  it.each(['worker', 'call', 'result', 'purge', 'status', 'beat'])(
    '%s --help shows examples and the global -A and -l',
    async (command) => {
      const run = await runToEnd([command, '--help'], {});
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: celeriac ${command}`, 'm'));
      expect(run.stdout).toMatch(/^Global Options:$/m);
      expect(run.stdout).toMatch(/^ {2}-A, --app <module>/m);
      expect(run.stdout).toMatch(/^ {2}-l, --loglevel <level>/m);
      expect(run.stdout).toMatch(
        new RegExp(`^Examples:\\n(  .*\\n)*  celeriac -A src/tasks\\.ts ${command}`, 'm'),
      );
    },
  );

  it('worker --help documents the -n expansions', async () => {
    const run = await runToEnd(['worker', '--help'], {});
    expect(run.stdout.replace(/\s+/g, ' ')).toMatch(
      /-n, --hostname <name> worker name \(default: celeriac@%h\); %h: host name, %n: its first part, %d: domain/,
    );
  });
});
