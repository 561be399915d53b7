/**
 * `BENCH_BASE=<checkout>`: the same bench app run by an older build of Celeriac, so one run
 * on one machine can say whether a change made the worker slower (issue 13: "throughput with
 * no limits must not fall below today's"). The checkout must be built (`npm run build` there,
 * with its dependencies installed or linked). Its own bench app may predate the figures this
 * one prints, so ours is copied into a scratch folder whose `node_modules/celeriac` points at
 * the checkout: the app's `import 'celeriac'` then loads the old build, and the old CLI runs it.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './support.js';

export interface BaseBuild {
  /** The checkout, as given. */
  readonly dir: string;
  /** `celeriac worker` of the old build on our bench app, with these flags. */
  workerArgs(flags: string[]): string[];
  dispose(): void;
}

/** The build named by BENCH_BASE, or undefined when it is not set. Throws when it is not built. */
export function baseBuildFromEnv(): BaseBuild | undefined {
  const dir = process.env.BENCH_BASE;
  if (!dir) return undefined;
  const cli = path.resolve(dir, 'dist/cli/main.js');
  if (!existsSync(cli))
    throw new Error(`BENCH_BASE=${dir} has no ${cli}: run npm run build in that checkout first`);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'celeriac-bench-base-'));
  mkdirSync(path.join(scratch, 'node_modules'));
  symlinkSync(path.resolve(dir), path.join(scratch, 'node_modules/celeriac'), 'dir');
  const app = path.join(scratch, 'bench-app.mjs');
  copyFileSync(path.join(ROOT, 'bench/bench-app.mjs'), app);
  // As bench/worker-cli.mjs does for this checkout: the old CLI's main, with no loader.
  const runner = path.join(scratch, 'worker-cli.mjs');
  writeFileSync(
    runner,
    `import { main } from ${JSON.stringify(pathToFileURL(cli).href)};\nawait main(process.argv);\n`,
  );
  return {
    dir,
    workerArgs: (flags) => [runner, '-A', app, 'worker', '-l', 'warning', ...flags],
    dispose: () => rmSync(scratch, { recursive: true, force: true }),
  };
}
