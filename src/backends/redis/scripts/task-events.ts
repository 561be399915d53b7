/**
 * Lua: append task events (task-history.ts) to one capped list per task, in one call for
 * a batch of tasks; a new list gets the results' expiry (one command per task when the
 * list needs no trim: RPUSH, plus PEXPIRE for its first events).
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const appendEventsScript = defineScript(
  'append-task-events',
  `--[[
append-task-events: for each task of the batch, RPUSH its events, keep the newest
ARGV[1] of the list, and give a new list its expiry (none when ARGV[2] is 0).
KEYS[1..N]  celeriac.task-events:<id> of each task
ARGV[1]     events kept per task
ARGV[2]     expiry in ms (0: never)
ARGV[3..]   per task, in KEYS order: how many events n, then its n events' JSON
Returns: how many events were appended
--]]
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local at = 3
local appended = 0
for i = 1, #KEYS do
  local n = tonumber(ARGV[at])
  local length = redis.call('RPUSH', KEYS[i], unpack(ARGV, at + 1, at + n))
  at = at + n + 1
  appended = appended + n
  if length > cap then redis.call('LTRIM', KEYS[i], -cap, -1) end
  -- The expiry is set when the list is made (a task's events come within its lifetime).
  if length == n and ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return appended
`,
);
