/**
 * Lua: one step of a filtered task listing on Redis, run where the metas are, so only
 * the candidates travel: walk up to `count` ids of the task index from a score bound,
 * read each meta, drop ids whose meta expired from the index, and return the metas that
 * contain every needle group (a plain-text test: a superset of what the exact filter, run
 * in the caller, keeps). Reads meta keys it derives from ids (not in KEYS): for a
 * standalone Redis, as Celery's own key layout is.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const scanTasksScript = defineScript(
  'scan-tasks',
  `--[[
scan-tasks: filter a window of the task index by plain-text needles.
KEYS[1]  the task index (zset: task id -> ms of its latest store)
ARGV[1]  meta key prefix (<prefix>celery-task-meta-)
ARGV[2]  'desc' or 'asc'
ARGV[3]  first score bound (inclusive, as ZRANGEBYSCORE takes it; '+inf' / '-inf' too)
ARGV[4]  last score bound
ARGV[5]  offset of the window, ARGV[6] its size
ARGV[7]  number of needle groups, then per group: its size n and n needles; a meta is a
         candidate when, for every group, it contains one of the group's needles
Returns: { examined, id, score, meta, id, score, meta, ... } for the candidates
--]]
local entries
if ARGV[2] == 'desc' then
  entries = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[4], 'WITHSCORES', 'LIMIT', ARGV[5], ARGV[6])
else
  entries = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[4], 'WITHSCORES', 'LIMIT', ARGV[5], ARGV[6])
end
local groups = {}
local at = 8
for g = 1, tonumber(ARGV[7]) do
  local n = tonumber(ARGV[at])
  local group = {}
  for i = 1, n do group[i] = ARGV[at + i] end
  groups[g] = group
  at = at + n + 1
end
local out = { #entries / 2 }
local gone = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  local meta = redis.call('GET', ARGV[1] .. id)
  if not meta then
    gone[#gone + 1] = id
  else
    local keep = true
    for g = 1, #groups do
      local any = false
      for _, needle in ipairs(groups[g]) do
        if string.find(meta, needle, 1, true) then any = true break end
      end
      if not any then keep = false break end
    end
    if keep then
      out[#out + 1] = id
      out[#out + 1] = entries[i + 1]
      out[#out + 1] = meta
    end
  end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
return out
`,
);
