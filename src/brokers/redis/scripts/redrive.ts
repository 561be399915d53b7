/**
 * Lua: give one dead letter back to its queue. Remove and push happen in one script, so of
 * two dashboards redriving the same letter one moves it and the other finds it gone: a
 * letter is pushed back at most once.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const redriveScript = defineScript(
  'redrive',
  `--[[
redrive: move one dead letter back to the head of its queue's list (where LPUSH puts new messages).
KEYS[1] the queue's dead letters (list of JSON entries)
KEYS[2] the queue's list for the message's priority
ARGV[1] the dead-letter entry, exactly as stored
ARGV[2] the envelope to push
Returns: 1 when moved, 0 when the entry was gone
--]]
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
`,
);
