/**
 * Lua: the delivery tag of the message next in line in each of a queue's lists (the
 * right end, where BRPOP takes from), read off the envelope's end as the fetch script
 * does, so no message body travels. What the queues page's oldest message is made of.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';

export const tailTagsScript = defineScript(
  'tail-tags',
  `--[[
tail-tags: for each list, the delivery_tag of its last element (the next one out).
KEYS[1..N]  a queue's lists (kombu's priority lists)
Returns: per list, false when it is empty, '' when the tag cannot be read, else the tag
--]]
local out = {}
for i = 1, #KEYS do
  local envelope = redis.call('LINDEX', KEYS[i], -1)
  if not envelope then
    out[i] = false
  else
    out[i] = string.match(string.sub(envelope, -200), '"delivery_tag":%s*"([^"\\\\]+)"%s*}%s*}%s*$') or ''
  end
end
return out
`,
);
