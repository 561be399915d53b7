/**
 * Lua for the restore pass: give back one delivery whose holder is presumed dead, or move
 * it to the dead letters when it cannot be given back, and release kombu's `unacked_mutex`.
 * The conditions are checked inside the script so that a consumer renewing its lease at
 * the same moment wins: a live consumer's message is never handed to another. Tags are
 * any bytes (a Celery client may write any); the script never needs them to be text.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const restoreStaleScript = defineScript(
  'restore-stale',
  `--[[
restore-stale: if an unacked delivery is still stale, push it back to the front of its list,
or, when it cannot be restored, move it to a dead-letter list with the reason.
KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3] leases
KEYS[4] the list to push to (unused when ARGV[5] is empty)
KEYS[5] the dead-letter list for what cannot be restored
ARGV[1] delivery tag
ARGV[2] 'lease' for a delivery held by a Celeriac consumer (stale when its lease expired),
        'foreign' for one held by another client such as a Celery worker (stale when its
        unacked_index score is older than the visibility timeout, kombu's rule)
ARGV[3] now, unix ms
ARGV[4] the visibility-timeout ceiling, unix seconds (used for 'foreign')
ARGV[5] the envelope to push (marked redelivered), or '' when the entry cannot be restored
ARGV[6] why it cannot be restored (when ARGV[5] is '')
Returns: 1 if restored, 2 if dead-lettered, 0 if not stale (or no longer unacked)
--]]
local tag = ARGV[1]
local lease = redis.call('ZSCORE', KEYS[3], tag)
local score = redis.call('ZSCORE', KEYS[2], tag)
if ARGV[2] == 'lease' then
  if not lease or tonumber(lease) > tonumber(ARGV[3]) then return 0 end
else
  if lease then return 0 end
  if not score or tonumber(score) > tonumber(ARGV[4]) then return 0 end
end
local raw = redis.call('HGET', KEYS[1], tag)
redis.call('HDEL', KEYS[1], tag)
redis.call('ZREM', KEYS[2], tag)
redis.call('ZREM', KEYS[3], tag)
if raw and ARGV[5] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[5])
  return 1
end
-- A lease alone is left over from a message settled by a client that knows nothing of
-- leases (kombu's restore or ack): nothing is lost, there is nothing to record.
if not raw and not score then return 0 end
local reason = ARGV[6]
if not raw then reason = 'listed in unacked_index without its unacked hash field: the message is gone' end
redis.call('LPUSH', KEYS[5], cjson.encode({queue = '', reason = reason, at = tonumber(ARGV[3]), envelope = raw or '', tag = tag}))
return 2
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
