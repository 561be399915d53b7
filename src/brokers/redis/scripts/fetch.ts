/**
 * Lua: store results, acknowledge finished messages and claim waiting ones, in one call.
 * Claiming pops a message and records it as unacked (kombu's hash + index, and our lease)
 * inside one script, so no instant exists where a killed consumer holds a message that
 * Redis does not list as unacked. Results and acks ride along with the next claim (as
 * BullMQ's moveToFinished stores, completes and fetches the next job in one call): one
 * round trip per batch instead of three.
 * Must never block: waiting is the list waiter's job.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';
import { STORE_META_LUA } from '../../../connections/redis/store-meta-script.js';

export const fetchScript = defineScript(
  'fetch',
  `--[[
fetch: store the given result metas, acknowledge the given tags, then claim up to N
messages from the first non-empty lists, in order.
KEYS[1]      unacked        (hash: delivery tag -> JSON [envelope, exchange, routing_key], kombu's)
KEYS[2]      unacked_index  (zset: delivery tag -> unix seconds of delivery, kombu's)
KEYS[3]      leases         (zset: delivery tag -> lease expiry in unix ms, ours)
KEYS[4..]    L queue lists to claim from, in order of preference
KEYS[4+L..]  W result keys (celery-task-meta-<id>) to store
ARGV[1]      the unacked_index score: unix seconds now, rounded up to a whole second
ARGV[2]      lease expiry of claimed messages, unix ms
ARGV[3]      N, the most messages to claim (0: only store and acknowledge)
ARGV[4]      a fresh prefix to make a tag for an envelope that carries none
ARGV[5]      L
ARGV[6..]    per list: the JSON tail of its unacked triple, e.g. ', "", "celery"]'
ARGV[6+L]    W
ARGV[..]     per result key: expiry in ms, then the meta's JSON
ARGV[..]     the rest: delivery tags to acknowledge (as kombu acks: ZREM unacked_index,
             HDEL unacked; and our lease)
Returns: a flat array {list number (1 = KEYS[4]), delivery tag, envelope, ...}
--]]
${STORE_META_LUA}
local now = ARGV[1]
local expiry = ARGV[2]
local want = tonumber(ARGV[3])
local fallback = ARGV[4]
local lists = tonumber(ARGV[5])
local writes = tonumber(ARGV[6 + lists])
local firstWrite = 7 + lists
for i = 1, writes do
  store_meta(KEYS[3 + lists + i], tonumber(ARGV[firstWrite + 2 * i - 2]), ARGV[firstWrite + 2 * i - 1])
end
local firstAck = firstWrite + 2 * writes
if #ARGV >= firstAck then
  local acks = {unpack(ARGV, firstAck)}
  redis.call('ZREM', KEYS[2], unpack(acks))
  redis.call('HDEL', KEYS[1], unpack(acks))
  redis.call('ZREM', KEYS[3], unpack(acks))
end
local out, index, triples, leases = {}, {}, {}, {}
local got = 0
for k = 4, 3 + lists do
  if got >= want then break end
  local items = redis.call('RPOP', KEYS[k], want - got)
  if items then
    local tail = ARGV[5 + (k - 3)]
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
