/**
 * Lua for the restore pass: give back one delivery whose holder is presumed dead, and
 * release kombu's `unacked_mutex`. The conditions are checked inside the script so that a
 * consumer renewing its lease at the same moment wins: a live consumer's message is never
 * handed to another.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const restoreStaleScript = defineScript(
  'restore-stale',
  `--[[
restore-stale: push an unacked delivery back to the front of its list if it is still stale.
KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3] leases, KEYS[4] the list to push to
ARGV[1] delivery tag
ARGV[2] 'lease' for a delivery held by a Celeriac consumer (stale when its lease expired),
        'foreign' for one held by another client such as a Celery worker (stale when its
        unacked_index score is older than the visibility timeout, kombu's rule)
ARGV[3] now, unix ms
ARGV[4] the visibility-timeout ceiling, unix seconds (used for 'foreign')
ARGV[5] the envelope to push (marked redelivered)
Returns: 1 if restored, 0 if not stale (or no longer unacked)
--]]
local tag = ARGV[1]
local lease = redis.call('ZSCORE', KEYS[3], tag)
if ARGV[2] == 'lease' then
  if not lease or tonumber(lease) > tonumber(ARGV[3]) then return 0 end
else
  if lease then return 0 end
  local score = redis.call('ZSCORE', KEYS[2], tag)
  if not score or tonumber(score) > tonumber(ARGV[4]) then return 0 end
end
if redis.call('HDEL', KEYS[1], tag) == 0 then
  redis.call('ZREM', KEYS[2], tag)
  redis.call('ZREM', KEYS[3], tag)
  return 0
end
redis.call('ZREM', KEYS[2], tag)
redis.call('ZREM', KEYS[3], tag)
redis.call('RPUSH', KEYS[4], ARGV[5])
return 1
`,
);

export const releaseMutexScript = defineScript(
  'release-mutex',
  `--[[
release-mutex: delete a lock only if we still own it (redis-py's Lock.release, as kombu uses).
KEYS[1] the mutex key (unacked_mutex)
ARGV[1] our token
Returns: 1 if released, 0 if it had expired or belonged to someone else
--]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);
