/**
 * Lua: one chord header part, recorded and counted in one atomic step, in the layout of
 * Celery's Redis backend (`on_chord_part_return` with `result_chord_ordered`): the part is
 * `[1, task_id, state, result]` in the `.j` zset scored by its group_index (`+inf` when it
 * has none), the header size is `.s` plus `.t`. Where Celery's pipeline counts a
 * redelivered part twice, this script finds a part of the same task id at the same score
 * and does not add it again.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const chordPartScript = defineScript(
  'chord-part',
  `--[[
chord-part: record one header part and say whether the join is complete.
KEYS[1]  celery-taskset-meta-<gid>.j   (zset of encoded parts)
KEYS[2]  celery-taskset-meta-<gid>.t   (parts added since the size was set)
KEYS[3]  celery-taskset-meta-<gid>.s   (header size)
ARGV[1]  task id      ARGV[2] score (group_index or +inf)
ARGV[3]  encoded part ARGV[4] expiry in seconds (0: none)
Returns: {0} not complete (or no size recorded: the join was cleared, nothing is written);
         {1, parts} completed by this call; {2, parts} a duplicate part of a complete join.
         parts in score order.
--]]
local size = redis.call('GET', KEYS[3])
if not size then return {0} end
local duplicate = false
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
  local ok, part = pcall(cjson.decode, member)
  if ok and type(part) == 'table' and part[2] == ARGV[1] then
    duplicate = true
    break
  end
end
if not duplicate then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) end
local expiry = tonumber(ARGV[4])
if expiry > 0 then
  redis.call('EXPIRE', KEYS[1], expiry)
  redis.call('EXPIRE', KEYS[2], expiry)
  redis.call('EXPIRE', KEYS[3], expiry)
end
local total = tonumber(size) + tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('ZCARD', KEYS[1]) ~= total then return {0} end
return {duplicate and 2 or 1, redis.call('ZRANGE', KEYS[1], 0, -1)}
`,
);
