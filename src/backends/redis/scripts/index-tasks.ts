/**
 * Lua: the dashboard's index writes for the metas stored in one turn (with the app's
 * `resultExtended` only), in one call sent in the same pipeline as their store: the task
 * index and the per-state, name, queue, worker and field indexes (task-index.ts), the
 * per-minute and total counters, and run-time buckets. A task
 * leaves the index of every other state it was under. Each store's score is its unix ms
 * plus a sequence within the millisecond (steps of 1/1024, exact in a double until the
 * year 2109), kept in `<it>:last`, so scores only grow in store order and tasks stored in
 * the same millisecond list in store order, as SQLite's `seq` does. Index keys it
 * touches are trimmed of entries older than the result expiry and expire themselves one result expiry after
 * their last store, so an index of a value no later task has does not linger. Writes keys derived from ARGV (not in KEYS):
 * for a standalone Redis, as Celery's own key layout is.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const indexTasksScript = defineScript(
  'index-tasks',
  `--[[
index-tasks: index a batch of stored metas for listing and counters.
ARGV[1]  the task index key (zset); per-kind indexes are <it>:state:<s>, <it>:name:<n>,
         <it>:queue:<q>, <it>:worker:<w>, <it>:field:<field=JSON>; <it>:last holds the
         last score given (each store scores max(now, last + 1/1024))
ARGV[2]  set of the states indexed so far
ARGV[3]  totals hash, ARGV[4] run-time hash, ARGV[5] this minute's counts hash
ARGV[6]  now (unix ms), ARGV[7] result expiry (ms), ARGV[8] minute counters' expiry (ms)
ARGV[9]  number of tasks, then per task: id, state, name, queue, worker, number of fields
         n, then n fields (field=JSON); then the number of counters, and per counter its
         field (name\\0queue\\0state) and increment; then the number of run-time fields,
         and per one its field (name\\0bucket or name\\0sum) and increment
Returns: the number of tasks indexed
--]]
local it = ARGV[1]
local now = tonumber(ARGV[6])
local expires = tonumber(ARGV[7])
local last = tonumber(redis.call('GET', it .. ':last') or '0')
local score
local touched = {}
local function add(key, id)
  redis.call('ZADD', key, score, id)
  touched[key] = true
end
local states = redis.call('SMEMBERS', ARGV[2])
local known = {}
for _, s in ipairs(states) do known[s] = true end
local at = 10
local n = tonumber(ARGV[9])
for t = 1, n do
  local id, state, name, queue, worker = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local nfields = tonumber(ARGV[at + 5])
  score = math.max(now, last + 1 / 1024)
  last = score
  redis.call('ZADD', it, score, id)
  for _, s in ipairs(states) do
    if s ~= state then redis.call('ZREM', it .. ':state:' .. s, id) end
  end
  if not known[state] then
    known[state] = true
    states[#states + 1] = state
    redis.call('SADD', ARGV[2], state)
  end
  add(it .. ':state:' .. state, id)
  if name ~= '' then add(it .. ':name:' .. name, id) end
  if queue ~= '' then add(it .. ':queue:' .. queue, id) end
  if worker ~= '' then add(it .. ':worker:' .. worker, id) end
  for f = 1, nfields do add(it .. ':field:' .. ARGV[at + 5 + f], id) end
  at = at + 6 + nfields
end
local ncounts = tonumber(ARGV[at])
for c = 1, ncounts do
  redis.call('HINCRBY', ARGV[3], ARGV[at + 2 * c - 1], ARGV[at + 2 * c])
  redis.call('HINCRBY', ARGV[5], ARGV[at + 2 * c - 1], ARGV[at + 2 * c])
end
at = at + 2 * ncounts + 1
for r = 1, tonumber(ARGV[at]) do
  redis.call('HINCRBYFLOAT', ARGV[4], ARGV[at + 2 * r - 1], ARGV[at + 2 * r])
end
redis.call('PEXPIRE', ARGV[5], ARGV[8])
redis.call('SET', it .. ':last', string.format('%.17g', last), 'PX', expires)
local floor = '(' .. (now - expires)
touched[it] = true
for key in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', floor)
  -- An index no store touches for a result expiry holds only expired tasks: it goes.
  redis.call('PEXPIRE', key, expires)
end
return n
`,
);
