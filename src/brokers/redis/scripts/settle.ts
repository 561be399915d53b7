/**
 * Lua: settle one delivery other than by a plain ack — give it back to a queue (reject
 * with requeue, or a consumer closing), dead-letter it, or defer it to a later time —
 * atomically with removing it from the unacked records, so it is never both in flight and
 * waiting. Each acts only while the delivery is still recorded as unacked: a delivery
 * already restored elsewhere is left alone rather than doubled.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const requeueScript = defineScript(
  'requeue',
  `--[[
requeue: move one unacked delivery back to the front of a queue list (kombu's restore).
KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3] leases, KEYS[4] the list to push to
ARGV[1] delivery tag
ARGV[2] the envelope to push (marked redelivered)
ARGV[3] '1' to push at the back (LPUSH) instead of the front (RPUSH, what kombu's restore does)
Returns: 1 if moved, 0 if the tag was no longer unacked
--]]
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[3] == '1' then
  redis.call('LPUSH', KEYS[4], ARGV[2])
else
  redis.call('RPUSH', KEYS[4], ARGV[2])
end
return 1
`,
);

export const deadLetterScript = defineScript(
  'dead-letter',
  `--[[
dead-letter: move one unacked delivery to a dead-letter list with its reason.
KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3] leases, KEYS[4] the dead-letter list
ARGV[1] delivery tag
ARGV[2] the dead-letter entry (JSON: queue, reason, at, envelope)
Returns: 1 if moved, 0 if the tag was no longer unacked
--]]
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('LPUSH', KEYS[4], ARGV[2])
return 1
`,
);

export const deferScript = defineScript(
  'defer',
  `--[[
defer: move one unacked delivery to the delayed set, to be promoted at its due time.
KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3] leases, KEYS[4] delayed (zset)
ARGV[1] delivery tag
ARGV[2] due time, unix ms (the score)
ARGV[3] the delayed member: '<length of list name>:<list name><envelope>'
Returns: 1 if moved, 0 if the tag was no longer unacked
--]]
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
return 1
`,
);
