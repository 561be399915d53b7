/**
 * Lua: store a result meta and publish it on the channel named as its key, as Celery's
 * `MULTI; SETEX; PUBLISH; EXEC` does, with Celery's rule that a stored SUCCESS is never
 * overwritten (checked in the same atomic step, where Celery reads it first with a GET).
 */
import { defineScript } from '../../../brokers/redis/script-runner.js';

export const storeMetaScript = defineScript(
  'store-meta',
  `--[[
store-meta: keep a SUCCESS, else write the meta with its expiry and publish it.
KEYS[1] celery-task-meta-<id> (string; also the pub/sub channel)
ARGV[1] the meta, JSON as Celery writes it
ARGV[2] expiry in ms
Returns: 1 when stored and published, 0 when a SUCCESS was already stored
--]]
local current = redis.call('GET', KEYS[1])
if current then
  local status = string.match(current, '^%s*{%s*"status"%s*:%s*"([^"]*)"')
  if not status then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' then status = decoded.status end
  end
  if status == 'SUCCESS' then return 0 end
end
local ms = tonumber(ARGV[2])
if ms % 1000 == 0 then
  redis.call('SETEX', KEYS[1], ms / 1000, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`,
);
