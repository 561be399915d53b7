/**
 * Lua: promote due delayed messages into their queue lists. Pop and push happen in one
 * script, so whichever consumer runs it first moves a message and every other finds it
 * gone: a due message is pushed exactly once (never Celery's double run, celery#2599).
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const promoteDueScript = defineScript(
  'promote-due',
  `--[[
promote-due: move members of the delayed zset whose time has come to their lists.
KEYS[1] delayed (zset: '<length of list name>:<list name><envelope>' -> due unix ms)
ARGV[1] now, unix ms
ARGV[2] the most members to move in this call
ARGV[3] the key prefix to put before each list name
Lists are named inside the members, so this script touches keys it was not given:
fine on a single Redis, not on Redis Cluster (kombu's layout is not cluster-ready either).
Returns: {number moved, due time of the next member in unix ms or -1 when none is left}
--]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local length, rest = string.match(member, '^(%d+):(.*)$')
  if length then
    local n = tonumber(length)
    redis.call('LPUSH', ARGV[3] .. string.sub(rest, 1, n), string.sub(rest, n + 1))
  end
  redis.call('ZREM', KEYS[1], member)
end
local nextDue = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nextDue[2] then return {#due, tonumber(nextDue[2])} end
return {#due, -1}
`,
);
