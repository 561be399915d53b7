/**
 * Lua for beat's store on Redis: taking the leader lease with a fencing token, claiming a
 * run under that token and confirming it under the same check, and replacing an entry's
 * definition, each one atomic step.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const beatLeadScript = defineScript(
  'beat-lead',
  `--[[
beat-lead: take or renew the leader lease. Expiry is judged on the callers' clock (as the
SQLite store does), so every replica must keep reasonable time; the key's own TTL only
cleans up after the last replica is gone.
KEYS[1] leader key (string "<owner>|<token>|<expires at ms>")
KEYS[2] token counter (integer, never expires: every new leadership gets a larger token)
ARGV[1] owner id
ARGV[2] lease in ms
ARGV[3] now in ms
Returns: the fencing token when ARGV[1] leads, else false (nil)
--]]
local now = tonumber(ARGV[3])
local expires = now + tonumber(ARGV[2])
local current = redis.call('GET', KEYS[1])
local token
if current then
  local owner, held, until_ms = string.match(current, '^(.*)|(%d+)|(%d+)$')
  if owner == ARGV[1] then
    token = tonumber(held)
  elseif until_ms and tonumber(until_ms) > now then
    return false
  end
end
if not token then token = redis.call('INCR', KEYS[2]) end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token .. '|' .. expires, 'PX', tonumber(ARGV[2]) + 60000)
return token`,
);

export const beatClaimScript = defineScript(
  'beat-claim',
  `--[[
beat-claim: record that the leader sends one run, if it still leads and the run is new.
KEYS[1] leader key ("<owner>|<token>|<expires at ms>")
KEYS[2] entry hash (fields: enabled, last_run_at, total_runs, run_now_at, pending_task_id, pending_slot, last_task_id,
        pending_claim: "<owner>|<token>" of the claimant, which beat-confirm accepts)
ARGV[1] "<owner>|<token>" of the caller
ARGV[2] slot in ms, or "" to claim a run-now request
ARGV[3] task id of the run
Returns: 1 when claimed, 0 when refused (stale token, entry gone, slot already run)
--]]
local leader = redis.call('GET', KEYS[1])
if not leader or string.sub(leader, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '|' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[2] == '' then
  if not redis.call('HGET', KEYS[2], 'run_now_at') then return 0 end
  redis.call('HDEL', KEYS[2], 'run_now_at', 'pending_slot')
else
  if redis.call('HGET', KEYS[2], 'enabled') ~= '1' then return 0 end
  local last = redis.call('HGET', KEYS[2], 'last_run_at')
  if last and tonumber(last) >= tonumber(ARGV[2]) then return 0 end
  redis.call('HSET', KEYS[2], 'last_run_at', ARGV[2], 'pending_slot', ARGV[2])
end
redis.call('HINCRBY', KEYS[2], 'total_runs', 1)
redis.call('HSET', KEYS[2], 'pending_task_id', ARGV[3], 'last_task_id', ARGV[3], 'pending_claim', ARGV[1])
return 1`,
);

export const beatConfirmScript = defineScript(
  'beat-confirm',
  `--[[
beat-confirm: mark the pending run as sent, if the caller claimed it or leads now.
KEYS[1] leader key ("<owner>|<token>|<expires at ms>")
KEYS[2] entry hash (fields pending_task_id, pending_slot, pending_claim)
ARGV[1] "<owner>|<token>" of the caller
ARGV[2] task id of the run
Returns: 1 when confirmed, 0 when refused (the run is not pending, or the caller neither
claimed it nor leads with that token)
--]]
if redis.call('HGET', KEYS[2], 'pending_task_id') ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[2], 'pending_claim') ~= ARGV[1] then
  local leader = redis.call('GET', KEYS[1])
  if not leader or string.sub(leader, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '|' then return 0 end
end
redis.call('HDEL', KEYS[2], 'pending_task_id', 'pending_slot', 'pending_claim')
return 1`,
);

export const beatUpsertScript = defineScript(
  'beat-upsert',
  `--[[
beat-upsert: create or replace an entry; an unchanged definition keeps its run history.
KEYS[1] entry hash
KEYS[2] set of entry names
ARGV[1] entry name
ARGV[2] definition JSON (without name and enabled)
ARGV[3] enabled "1" or "0"
ARGV[4] now in ms (the new created_at when the definition changed)
Returns: 1 when the definition changed or is new, 0 when only enabled was set
--]]
redis.call('SADD', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'definition') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'enabled', ARGV[3])
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'definition', ARGV[2], 'enabled', ARGV[3], 'created_at', ARGV[4], 'total_runs', 0)
return 1`,
);
