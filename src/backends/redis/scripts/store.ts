/**
 * Lua: store result metas and publish each on the channel named as its key, as Celery's
 * `MULTI; SETEX; PUBLISH; EXEC` does, with Celery's rule that a stored SUCCESS is never
 * overwritten (checked in the same atomic step, where Celery reads it first with a GET).
 * One call carries every meta stored in one turn of the event loop.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';
import { STORE_META_LUA } from '../../../connections/redis/store-meta-script.js';

export const storeManyScript = defineScript(
  'store-many',
  `--[[
store-many: for each meta of the batch, keep a SUCCESS already
stored, else write it with its expiry and publish it on the channel named as its key.
KEYS[1..N]  celery-task-meta-<id> of each meta
ARGV        per meta, in KEYS order: expiry in ms, then the meta's JSON
Returns: how many were stored and published
--]]
${STORE_META_LUA}
local stored = 0
for i = 1, #KEYS do
  stored = stored + store_meta(KEYS[i], tonumber(ARGV[2 * i - 1]), ARGV[2 * i])
end
return stored
`,
);
