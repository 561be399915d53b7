/**
 * Lua: one chord header part is done. Same keys and steps as Celery's Redis backend
 * (`ZADD .j`, `ZCOUNT`, `GET .t`, `GET .s`, `EXPIRE` all three) in one atomic script, so
 * concurrent parts each see a distinct count and exactly one sees the chord complete.
 */
import { defineScript } from '../../../brokers/redis/script-runner.js';

export const chordPartScript = defineScript(
  'chord-part',
  `--[[
chord-part: record a part's result in the join and count the parts done.
KEYS[1] celery-taskset-meta-<gid>.j (zset: '[1, task id, state, result]' -> group index)
KEYS[2] celery-taskset-meta-<gid>.t (counter of parts added by replaced tasks)
KEYS[3] celery-taskset-meta-<gid>.s (chord size; Celery's client sets it when it sends the chord)
ARGV[1] group index (the score)
ARGV[2] the member, JSON as Celery writes it
ARGV[3] expiry of the three keys, seconds
ARGV[4] chord size, written to .s if nobody did, so Celery workers finishing parts can count too
Returns: parts done, as Celery compares it with the size (ZCOUNT minus the .t adjustment)
--]]
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local count = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local extra = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
redis.call('SET', KEYS[3], ARGV[4], 'NX')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return count - extra
`,
);
