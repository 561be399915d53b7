/**
 * `celeriac dashboard`: serves the dashboard (celeriac/dashboard) on its own HTTP server,
 * for when the app has no web server to mount it in. Listens on 127.0.0.1 by default;
 * anyone who reaches it may act, so another host needs `--read-only` or an explicit
 * `--allow-anonymous`. Parses flags and wires; the dashboard itself lives in web/.
 */
import http from 'node:http';
import type { Command } from 'commander';
import { loadApp } from '../load-app.js';
import type { GlobalOptions } from '../main.js';
import { createDashboard } from '../../web/dashboard/index.js';
import { celeriacNode } from '../../web/node-http.js';

interface DashboardFlags {
  host: string;
  port: string;
  readOnly?: boolean;
  allowAnonymous?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('Serve the dashboard: tasks, queues, workers, schedules, metrics.')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'port to listen on', '5555')
    .option('--read-only', 'pages only, no actions')
    .option('--allow-anonymous', 'let anyone who reaches a non-local address act')
    .addHelpText(
      'after',
      `
Examples:
  celeriac -A src/tasks.ts dashboard                 # http://127.0.0.1:5555/
  celeriac -A src/tasks.ts dashboard --host 0.0.0.0 --read-only`,
    )
    .action(async (flags: DashboardFlags, command: Command) => {
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write(
          `celeriac dashboard: --port must be a port number, not "${flags.port}"\n`,
        );
        process.exitCode = 2;
        return;
      }
      if (!LOOPBACK.has(flags.host) && !flags.readOnly && !flags.allowAnonymous) {
        process.stderr.write(
          `celeriac dashboard: ${flags.host} is reachable from other machines and the dashboard has no login: add --read-only, or --allow-anonymous if that is what you want (or mount it in your app with an authorize hook)\n`,
        );
        process.exitCode = 2;
        return;
      }
      const app = await loadApp(command.optsWithGlobals<GlobalOptions>().app);
      const dashboard = createDashboard(app, {
        prefix: '',
        ...(flags.readOnly ? { readOnly: true } : { allowAnonymous: true }),
      });
      const server = http.createServer(celeriacNode(dashboard));
      await new Promise<void>((resolve) => server.listen(port, flags.host, resolve));
      const address = server.address();
      const shown = typeof address === 'object' && address ? address.port : port;
      process.stdout.write(
        `celeriac dashboard on http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${shown}/\n`,
      );
      const stop = () => {
        server.closeAllConnections();
        server.close(() => void app.close().finally(() => process.exit(0)));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
