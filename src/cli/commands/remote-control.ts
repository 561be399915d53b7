/**
 * `celeriac inspect <command>` and `celeriac control <command>`: Celery's remote control
 * from our CLI, answered by Python Celery workers and Celeriac workers alike. Arguments
 * are positional as in Celery (`control rate_limit emails.send 10/m`); replies print as
 * `-> node: OK` with the reply below, or as JSON with `--json`. Exits 69 (EX_UNAVAILABLE)
 * when no node replied, as Celery does.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { Celeriac } from '../../app/celeriac.js';
import { ControlClient, type NodeReply } from '../../app/control-client.js';
import type { JsonObject, JsonValue } from '../../protocol/types.js';
import { loadApp } from '../load-app.js';
import { listFlag, secondsFlag } from '../parse.js';
import type { GlobalOptions } from '../main.js';

type ArgType = 'str' | 'int' | 'float';
interface CommandSpec {
  args?: Array<[name: string, type: ArgType]>;
  variadic?: string;
  help: string;
}

/** Celery's Panel metadata for the commands it lists (celery/worker/control.py). */
const INSPECT: Record<string, CommandSpec> = {
  ping: { help: 'ping the workers' },
  stats: { help: 'worker statistics' },
  active: { help: 'tasks running now' },
  reserved: { help: 'tasks taken and waiting for a slot' },
  scheduled: { help: 'tasks held until their ETA' },
  registered: { variadic: 'taskinfoitems', help: 'registered task names' },
  revoked: { help: 'revoked task ids' },
  query_task: { variadic: 'ids', help: 'what the workers know of these task ids' },
  active_queues: { help: 'queues each worker consumes' },
  flow_state: {
    help: "flow control per worker: each limited task's rate, slots held and waiting, by key (Celeriac workers)",
  },
  clock: { help: 'Lamport clock value' },
  report: { help: "a worker's bug-report information (Python workers)" },
  conf: { help: "a worker's configuration (Python workers)" },
  memsample: { help: 'RSS sample (Python workers)' },
};

const CONTROL: Record<string, CommandSpec> = {
  revoke: { variadic: 'task_id', help: 'revoke task ids (add --terminate to stop running ones)' },
  terminate: { args: [['signal', 'str']], variadic: 'task_id', help: 'terminate running tasks' },
  rate_limit: {
    args: [
      ['task_name', 'str'],
      ['rate_limit', 'str'],
    ],
    help: 'set a task rate limit, e.g. 10/m (0 lifts it)',
  },
  time_limit: {
    args: [
      ['task_name', 'str'],
      ['soft', 'float'],
      ['hard', 'float'],
    ],
    help: 'set soft and hard time limits of a task type',
  },
  shutdown: { help: 'warm shutdown of the workers' },
  pool_grow: { args: [['n', 'int']], help: 'add pool slots' },
  pool_shrink: { args: [['n', 'int']], help: 'remove pool slots' },
  autoscale: {
    args: [
      ['max', 'int'],
      ['min', 'int'],
    ],
    help: 'change autoscale bounds',
  },
  add_consumer: {
    args: [
      ['queue', 'str'],
      ['exchange', 'str'],
      ['exchange_type', 'str'],
      ['routing_key', 'str'],
    ],
    help: 'start consuming a queue',
  },
  cancel_consumer: { args: [['queue', 'str']], help: 'stop consuming a queue' },
  heartbeat: { help: 'ask for a worker-heartbeat event now' },
  enable_events: { help: 'turn task events on' },
  disable_events: { help: 'turn task events off' },
};

interface RemoteFlags {
  timeout: number;
  destination?: string;
  json?: boolean;
  terminate?: boolean;
  signal?: string;
}

export function registerRemoteControlCommands(program: Command): void {
  register(program, 'inspect', INSPECT, 'Ask the workers (Python or Celeriac) what they hold.');
  register(program, 'control', CONTROL, 'Tell the workers (Python or Celeriac) to change.');
}

function register(
  program: Command,
  name: 'inspect' | 'control',
  specs: Record<string, CommandSpec>,
  description: string,
): void {
  const list = Object.entries(specs)
    .map(([method, spec]) => `  ${method.padEnd(16)}${spec.help}`)
    .join('\n');
  const command = program
    .command(`${name} <command> [args...]`)
    .description(description)
    .option(
      '-t, --timeout <seconds>',
      'how long to wait for replies (default: 1)',
      secondsFlag({ positive: true }),
      1,
    )
    .option('-d, --destination <nodes>', 'comma-separated node names (default: all)')
    .option('-j, --json', 'print the replies as JSON');
  if (name === 'control') {
    command
      .option('--terminate', 'revoke: also stop the task where it runs')
      .option('--signal <name>', 'revoke --terminate: the signal (default: SIGTERM)');
  }
  command
    .addHelpText(
      'after',
      `
Commands:
${list}

Examples:
  celeriac -A src/tasks.ts ${name === 'inspect' ? 'inspect active' : 'control rate_limit emails.send 10/m'}
  celeriac -b redis://localhost:6379/0 ${name} ${name === 'inspect' ? 'ping -d w1@host' : 'revoke <task-id> --terminate'}`,
    )
    .action(async (method: string, args: string[], flags: RemoteFlags, cmd: Command) => {
      const spec = specs[method];
      if (!spec)
        throw new InvalidArgumentError(
          `Unknown ${name} command "${method}". Known: ${Object.keys(specs).join(', ')}.`,
        );
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const app = await appFor(globals);
      try {
        const client = new ControlClient(await app.broker());
        const argumentsOf = compileArguments(method, spec, args);
        if (method === 'revoke' && flags.terminate) {
          argumentsOf.terminate = true;
          argumentsOf.signal = flags.signal ?? 'SIGTERM';
        }
        const replies = await client.broadcast(method, {
          arguments: argumentsOf,
          destination: listFlag(flags.destination),
          timeout: flags.timeout,
          onReply: flags.json ? undefined : (reply) => sayReply(reply),
        });
        if (replies.length === 0) {
          process.stderr.write('Error: No nodes replied within time constraint\n');
          process.exitCode = 69;
          return;
        }
        if (flags.json) {
          const out = name === 'inspect' ? (Object.assign({}, ...replies) as JsonObject) : replies;
          process.stdout.write(`${JSON.stringify(out)}\n`);
          return;
        }
        process.stdout.write(
          `\n${replies.length} ${replies.length === 1 ? 'node' : 'nodes'} online.\n`,
        );
      } finally {
        await app.close();
      }
    });
}

/** The app from -A, or else one on the broker URL (-b / CELERIAC_BROKER_URL) alone. */
export async function appFor(globals: GlobalOptions): Promise<Celeriac> {
  if (globals.app) return loadApp(globals.app);
  return new Celeriac();
}

/** Celery's `_compile_arguments`: positional values by name and type, the rest variadic. */
export function compileArguments(method: string, spec: CommandSpec, given: string[]): JsonObject {
  const out: JsonObject = {};
  const rest = [...given];
  for (const [name, type] of spec.args ?? []) {
    if (rest.length === 0) break;
    const text = rest.shift() as string;
    out[name] = convert(method, name, type, text);
  }
  if (spec.variadic) out[spec.variadic] = rest;
  else if (rest.length > 0) {
    const names = (spec.args ?? []).map(([name]) => name).join(' ');
    throw new InvalidArgumentError(
      `Command "${method}" takes arguments: ${names || '(none)'}; got ${given.length}.`,
    );
  }
  return out;
}

function convert(method: string, name: string, type: ArgType, text: string): JsonValue {
  if (type === 'str') return text;
  const value = Number(text);
  const ok = type === 'int' ? Number.isInteger(value) : Number.isFinite(value);
  if (!ok || text.trim() === '')
    throw new InvalidArgumentError(
      `${method}: ${name} must be ${type === 'int' ? 'a whole number' : 'a number'}, got "${text}".`,
    );
  return value;
}

/** Celery's `-> node: OK` line, with the reply indented below it. */
function sayReply(reply: NodeReply): void {
  const [node, value] = Object.entries(reply)[0] ?? ['?', null];
  const isError = typeof value === 'object' && value !== null && 'error' in value;
  process.stdout.write(`-> ${node}: ${isError ? 'ERROR' : 'OK'}\n`);
  const text = pretty(value);
  if (text) process.stdout.write(`${text.replace(/^/gm, '    ')}\n`);
}

function pretty(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'ok' || keys[0] === 'error'))
      return typeof value[keys[0]] === 'string'
        ? (value[keys[0]] as string)
        : JSON.stringify(value[keys[0]]);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return '- empty -';
    return value
      .map((item) => `* ${typeof item === 'string' ? item : JSON.stringify(item)}`)
      .join('\n');
  }
  return JSON.stringify(value, null, 2);
}
