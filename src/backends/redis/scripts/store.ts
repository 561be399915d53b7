/**
 * Lua: store result metas and publish each on the channel named as its key, as Celery's
 * `MULTI; SETEX; PUBLISH; EXEC` does, with Celery's rule that a stored SUCCESS is never
 * overwritten (checked in the same atomic step, where Celery reads it first with a GET).
 * One call carries every meta stored in one turn of the event loop.
 */
import { defineScript } from '../../../brokers/redis/script-runner.js';

export const storeManyScript = defineScript(
  'store-many',
  `--[[
store-many: for each meta of the batch, keep a SUCCESS already
stored, else write it with its expiry and publish it on the channel named as its key.
KEYS[1..N]  celery-task-meta-<id> of each meta
ARGV        per meta, in KEYS order: expiry in ms, then the meta's JSON
Returns: how many were stored and published
--]]
local stored = 0
for i = 1, #KEYS do
  local ms = tonumber(ARGV[2 * i - 1])
  local text = ARGV[2 * i]
  local current = redis.call('GET', KEYS[i])
  local status
  if current then
    status = string.match(current, '^%s*{%s*"status"%s*:%s*"([^"]*)"')
    if not status then
      local ok, decoded = pcall(cjson.decode, current)
      if ok and type(decoded) == 'table' then status = decoded.status end
    end
  end
  if status ~= 'SUCCESS' then
    if ms % 1000 == 0 then
      redis.call('SETEX', KEYS[i], ms / 1000, text)
    else
      redis.call('SET', KEYS[i], text, 'PX', ms)
    end
    redis.call('PUBLISH', KEYS[i], text)
    stored = stored + 1
  end
end
return stored
`,
);
