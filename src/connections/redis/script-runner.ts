/**
 * Runs the embedded Lua scripts: by SHA first (one small command on the wire), falling back
 * to the full text when Redis does not know the script yet (first use, or after a restart
 * emptied its script cache). Must never build Lua from user input: scripts are constants,
 * data travels in KEYS and ARGV only.
 */
import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';

export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

export function defineScript(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** Buffers pass bytes as they are: delivery tags need not be text. */
export type ScriptArg = string | number | Buffer;

export async function runScript(
  client: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly ScriptArg[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(script.lua, keys.length, ...keys, ...args);
  }
}

/** Queues the script in a pipeline by its full text (a pipeline cannot retry on NOSCRIPT). */
export function pipeScript(
  pipeline: ChainableCommander,
  script: LuaScript,
  keys: readonly string[],
  args: readonly ScriptArg[],
): void {
  pipeline.eval(script.lua, keys.length, ...keys, ...args);
}
