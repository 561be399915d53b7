/**
 * Lua: acknowledge finished messages and claim waiting ones, in one call. Claiming pops a
 * message and records it as unacked (kombu's hash + index, and our lease) inside one
 * script, so no instant exists where a killed consumer holds a message that Redis does
 * not list as unacked. Acks ride along with the next claim (as BullMQ's moveToFinished
 * fetches the next job): one round trip per batch instead of two.
 * Must never block: waiting is the list waiter's job.
 */
import { defineScript } from '../script-runner.js';

export const fetchScript = defineScript(
  'fetch',
  `--[[
fetch: acknowledge the given tags, then claim up to N messages from the first non-empty
lists, in order.
KEYS[1]    unacked        (hash: delivery tag -> JSON [envelope, exchange, routing_key], kombu's)
KEYS[2]    unacked_index  (zset: delivery tag -> unix seconds of delivery, kombu's)
KEYS[3]    leases         (zset: delivery tag -> lease expiry in unix ms, ours)
KEYS[4..]  the queue lists to claim from, in order of preference
ARGV[1]    now, unix seconds as a decimal (the unacked_index score kombu writes)
ARGV[2]    lease expiry of claimed messages, unix ms
ARGV[3]    N, the most messages to claim (0: only acknowledge)
ARGV[4]    a fresh prefix to make a tag for an envelope that carries none
ARGV[5..]  per list in KEYS[4..]: the JSON tail of its unacked triple, e.g. ', "", "celery"]'
ARGV[..]   after the tails: delivery tags to acknowledge (as kombu acks: ZREM unacked_index,
           HDEL unacked; and our lease)
Returns: a flat array {list number (1 = KEYS[4]), delivery tag, envelope, ...}
--]]
local now = ARGV[1]
local expiry = ARGV[2]
local want = tonumber(ARGV[3])
local fallback = ARGV[4]
local out, index, triples, leases = {}, {}, {}, {}
local got = 0
local firstAck = 5 + (#KEYS - 3)
if #ARGV >= firstAck then
  local acks = {unpack(ARGV, firstAck)}
  redis.call('ZREM', KEYS[2], unpack(acks))
  redis.call('HDEL', KEYS[1], unpack(acks))
  redis.call('ZREM', KEYS[3], unpack(acks))
end
for k = 4, #KEYS do
  if got >= want then break end
  local items = redis.call('RPOP', KEYS[k], want - got)
  if items then
    local tail = ARGV[4 + (k - 3)]
    for _, envelope in ipairs(items) do
      got = got + 1
      -- kombu writes delivery_tag (a uuid4) last in properties, properties last in the
      -- envelope: read it off the end, without scanning or parsing the whole envelope.
      local tag
      if string.sub(envelope, -56, -40) == '"delivery_tag": "' and string.sub(envelope, -3) == '"}}' then
        tag = string.sub(envelope, -39, -4)
      else
        tag = string.match(string.sub(envelope, -200), '"delivery_tag":%s*"([^"\\\\]+)"%s*}%s*}%s*$')
      end
      local stored = envelope
      if not tag then
        local ok, decoded = pcall(cjson.decode, envelope)
        if ok and type(decoded) == 'table' and type(decoded.properties) == 'table'
          and type(decoded.properties.delivery_tag) == 'string' then
          tag = decoded.properties.delivery_tag
        else
          tag = fallback .. got
          -- Keep the unacked triple valid JSON even for garbage, so a restore pass
          -- (ours or kombu's) can read it instead of failing on it.
          if not ok then stored = cjson.encode(envelope) end
        end
      end
      index[#index + 1] = now
      index[#index + 1] = tag
      triples[#triples + 1] = tag
      triples[#triples + 1] = '[' .. stored .. tail
      leases[#leases + 1] = expiry
      leases[#leases + 1] = tag
      out[#out + 1] = k - 3
      out[#out + 1] = tag
      out[#out + 1] = envelope
    end
  end
end
if got > 0 then
  redis.call('ZADD', KEYS[2], unpack(index))
  redis.call('HSET', KEYS[1], unpack(triples))
  redis.call('ZADD', KEYS[3], unpack(leases))
end
return out
`,
);
