/**
 * Lua for flow control's store on Redis: a token-bucket take, a leased-slot acquire and
 * renew, and an idempotency claim, each one atomic step. Times are the caller's clock
 * (ARGV), as the SQLite and key-value stores judge them; key TTLs only clean up.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const flowTakeScript = defineScript(
  'flow-take',
  `--[[
flow-take: take one token from a bucket, refilled to now (full when new); when none is
there but one will be within the reserve window, take it anyway (the bucket goes into debt).
KEYS[1] bucket hash (tokens, at, rate, burst)
ARGV[1] rate, tokens per ms   ARGV[2] burst   ARGV[3] now ms   ARGV[4] reserve window ms
Returns: {1 when taken else 0, ms until the token}
--]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if stored[1] then
  tokens = math.min(burst, tonumber(stored[1]) + math.max(0, now - tonumber(stored[2])) * rate)
end
local wait = 0
if tokens < 1 then wait = math.max(1, math.ceil((1 - tokens) / rate)) end
local taken = 0
if wait <= tonumber(ARGV[4]) then
  taken = 1
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', ARGV[3], 'rate', ARGV[1], 'burst', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return {taken, wait}`,
);

export const flowAcquireScript = defineScript(
  'flow-acquire',
  `--[[
flow-acquire: take one of ARGV[2] slots for a holder, once expired leases are dropped.
KEYS[1] sorted set of holders scored by lease expiry (ms)
ARGV[1] holder   ARGV[2] limit   ARGV[3] lease ms   ARGV[4] now ms
Returns: 1 when the holder holds a slot (renewed if it held one), else 0
--]]
local now = tonumber(ARGV[4])
local untilMs = now + tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], untilMs, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1`,
);

export const flowRenewScript = defineScript(
  'flow-renew',
  `--[[
flow-renew: extend the leases still held; a lost one stays lost.
KEYS[i] sorted set of the i-th lease
ARGV[1] lease ms   ARGV[2] now ms   ARGV[2 + i] holder of the i-th lease
--]]
local now = tonumber(ARGV[2])
local untilMs = now + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local score = redis.call('ZSCORE', key, ARGV[2 + i])
  if score and tonumber(score) > now then
    redis.call('ZADD', key, 'XX', untilMs, ARGV[2 + i])
    if redis.call('PTTL', key) < untilMs - now then redis.call('PEXPIRE', key, untilMs - now) end
  end
end
return 0`,
);

export const flowReleaseScript = defineScript(
  'flow-release',
  `--[[
flow-release: free a holder's slot and, when it held one, announce the freed key.
KEYS[1] sorted set of holders   ARGV[1] holder   ARGV[2] channel   ARGV[3] the limit's key
--]]
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 0`,
);

export const flowClaimScript = defineScript(
  'flow-claim',
  `--[[
flow-claim: claim a key for a task id until now + window, unless a live claim holds it.
KEYS[1] claim string "<until ms>|<task id>"
ARGV[1] task id   ARGV[2] window ms   ARGV[3] now ms
Returns: the task id the key is claimed for
--]]
local current = redis.call('GET', KEYS[1])
if current then
  local untilMs, id = string.match(current, '^(%d+)|(.*)$')
  if untilMs and tonumber(untilMs) > tonumber(ARGV[3]) then return id end
end
redis.call('SET', KEYS[1], (tonumber(ARGV[3]) + tonumber(ARGV[2])) .. '|' .. ARGV[1], 'PX', ARGV[2])
return ARGV[1]`,
);

export const flowUnclaimScript = defineScript(
  'flow-unclaim',
  `--[[
flow-unclaim: drop a claim if it is still the given task's.
KEYS[1] claim string   ARGV[1] task id
--]]
local current = redis.call('GET', KEYS[1])
if current and string.match(current, '^%d+|(.*)$') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`,
);

export const flowDebounceScript = defineScript(
  'flow-debounce',
  `--[[
flow-debounce: a debounced call. With no open window (or one past its keep time), open one
for the task id; with one open, replace its payload and move its due time.
KEYS[1] window hash (id, payload, due, until)
ARGV[1] task id   ARGV[2] payload   ARGV[3] quiet ms   ARGV[4] now ms   ARGV[5] keep ms
Returns: {the open window's task id, 1 when this call opened it else 0}
--]]
local now = tonumber(ARGV[4])
local due = now + tonumber(ARGV[3])
local untilMs = due + tonumber(ARGV[5])
local open = redis.call('HMGET', KEYS[1], 'id', 'until')
if open[1] and tonumber(open[2]) > now then
  redis.call('HSET', KEYS[1], 'payload', ARGV[2], 'due', due, 'until', untilMs)
  redis.call('PEXPIRE', KEYS[1], untilMs - now)
  return {open[1], 0}
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'payload', ARGV[2], 'due', due, 'until', untilMs)
redis.call('PEXPIRE', KEYS[1], untilMs - now)
return {ARGV[1], 1}`,
);

export const flowDebounceTakeScript = defineScript(
  'flow-debounce-take',
  `--[[
flow-debounce-take: the message of a debounce window arrived. Already run (a redelivery):
the payload it ran with. Open and due: close the window, keep its payload under the task id.
KEYS[1] window hash (id, payload, due, until)   KEYS[2] ran string (the payload run)
ARGV[1] task id   ARGV[2] now ms   ARGV[3] keep ms
Returns: {'run', payload} | {'wait', due ms} | {'unknown', ''}
--]]
local ran = redis.call('GET', KEYS[2])
if ran then return {'run', ran} end
local now = tonumber(ARGV[2])
local open = redis.call('HMGET', KEYS[1], 'id', 'payload', 'due', 'until')
if open[1] ~= ARGV[1] or tonumber(open[4]) <= now then return {'unknown', ''} end
if tonumber(open[3]) > now then return {'wait', open[3]} end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], open[2], 'PX', ARGV[3])
return {'run', open[2]}`,
);

export const flowFairPushScript = defineScript(
  'flow-fair-push',
  `--[[
flow-fair-push: queue a task under its key; a key with nothing queued joins the rotation
at the end served next.
KEYS[1] rotation list (keys; RPOPLPUSH serves the tail)   KEYS[2] payload hash (id -> payload)
KEYS[3] the key's queue list (ids, oldest first)
ARGV[1] key   ARGV[2] task id   ARGV[3] payload
--]]
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if redis.call('RPUSH', KEYS[3], ARGV[2]) == 1 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return 0`,
);

export const flowFairRemoveScript = defineScript(
  'flow-fair-remove',
  `--[[
flow-fair-remove: drop a queued task whose message was not sent (no-op once taken).
KEYS[1] rotation list   KEYS[2] payload hash   KEYS[3] the key's queue list
ARGV[1] key   ARGV[2] task id
--]]
if redis.call('LREM', KEYS[3], 0, ARGV[2]) > 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  if redis.call('LLEN', KEYS[3]) == 0 then redis.call('LREM', KEYS[1], 0, ARGV[1]) end
end
return 0`,
);

export const flowFairTakeScript = defineScript(
  'flow-fair-take',
  `--[[
flow-fair-take: the task a delivery (its token) runs: the one it took before (a redelivery),
else the head of the next key in the rotation, round-robin. The queue of a key is
ARGV[2] .. key (computed here: the rotation names the keys).
KEYS[1] rotation list   KEYS[2] payload hash   KEYS[3] taken hash (token -> task id)
ARGV[1] token   ARGV[2] the prefix of the keys' queue lists
Returns: {task id, payload} or false when nothing is queued
--]]
local id = redis.call('HGET', KEYS[3], ARGV[1])
if id then return {id, redis.call('HGET', KEYS[2], id) or ''} end
while true do
  local key = redis.call('RPOPLPUSH', KEYS[1], KEYS[1])
  if not key then return false end
  local queue = ARGV[2] .. key
  id = redis.call('LPOP', queue)
  if redis.call('LLEN', queue) == 0 then redis.call('LREM', KEYS[1], 0, key) end
  if id then
    redis.call('HSET', KEYS[3], ARGV[1], id)
    return {id, redis.call('HGET', KEYS[2], id) or ''}
  end
end`,
);

export const flowFairDoneScript = defineScript(
  'flow-fair-done',
  `--[[
flow-fair-done: the task taken for a token ended: forget it.
KEYS[1] payload hash   KEYS[2] taken hash (token -> task id)
ARGV[1] token
--]]
local id = redis.call('HGET', KEYS[2], ARGV[1])
if id then
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 0`,
);

export const flowDebounceDropScript = defineScript(
  'flow-debounce-drop',
  `--[[
flow-debounce-drop: drop an open window if it is still the given task's.
KEYS[1] window hash (id, payload, due, until)   ARGV[1] task id
--]]
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`,
);
