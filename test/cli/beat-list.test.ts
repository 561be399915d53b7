/**
 * `celeriac beat list` after `beat run-now`: shows the requested run while no beat has sent
 * it (before, nothing told it apart), and once the leading beat sends it, the run: its
 * task id and that task's state. Real beat and worker processes, on SQLite and on Redis.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runCli, startWorker } from '../support/worker-process.js';
import { REDIS_URL, requireService } from '../support/services.js';
import { deleteRedisPrefix } from '../support/redis-cleanup.js';
import { APP, removeTempDirs, runToEnd, sqliteEnv, stopCliProcesses } from './cli-support.js';

const prefixes: string[] = [];

afterEach(async () => {
  await killAll();
  await stopCliProcesses();
  removeTempDirs();
  for (const prefix of prefixes.splice(0)) await deleteRedisPrefix(prefix);
});

describe.each(['sqlite', 'redis'] as const)(
  'celeriac beat list after run-now, store on %s',
  (kind) => {
    it('shows the pending request, then the run beat sent', async (ctx) => {
      let env = sqliteEnv('beat').env;
      if (kind === 'redis') {
        await requireService(ctx, 'redis');
        const prefix = `cli-beat-${randomUUID()}:`;
        prefixes.push(prefix);
        env = { CELERIAC_BROKER_URL: `${REDIS_URL}/0?keyPrefix=${prefix}` };
      }
      const added = await runToEnd(
        ['-A', APP, 'beat', 'add', 'nightly', 'cli.add', '--cron', '0 3 * * *', '-a', '[20, 22]'],
        env,
      );
      expect(added.stdout).toMatch(/^Added nightly: cli\.add on /);
      const requested = await runToEnd(['-A', APP, 'beat', 'run-now', 'nightly'], env);
      expect(requested.stdout).toBe('Requested a run of nightly\n');

      const before = await runToEnd(['-A', APP, 'beat', 'list'], env);
      expect(before.code).toBe(0);
      expect(before.stdout).toMatch(
        /^nightly {2}task=cli\.add .* runs=0 .*run-now=requested \d{4}-\d\d-\d\dT[\d:.]+Z$/m,
      );
      expect(before.stdout).not.toMatch(/last-task=/);

      await startWorker(APP, env, ['-n', 'beat-list@test']);
      const beat = runCli(['-A', APP, 'beat', '-l', 'info'], env);
      const sent = await beat.waitFor(/Sent nightly \(cli\.add\) \[[^\]]+\] for run-now/);
      const id = /[0-9a-f]{8}-[0-9a-f-]{27}/.exec(sent)?.[0];
      expect(id, sent).toBeDefined();
      // The result is stored by the worker, a moment after beat sends: wait for the final state.
      let after = '';
      for (let i = 0; i < 30 && !/SUCCESS/.test(after); i++) {
        after = (await runToEnd(['-A', APP, 'beat', 'list'], env)).stdout;
      }
      expect(after).toMatch(
        new RegExp(`^nightly {2}task=cli\\.add .* runs=1 .*last-task=${id} SUCCESS at \\S+$`, 'm'),
      );
      expect(after).not.toMatch(/run-now=requested/);
      const result = await runToEnd(['-A', APP, 'result', id ?? '', '-q'], env);
      expect(result.stdout).toBe('42\n');
    });
  },
);
