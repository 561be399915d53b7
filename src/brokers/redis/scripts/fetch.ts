/**
 * Lua: store results, acknowledge finished messages and claim waiting ones, in one call.
 * Claiming pops a message and records it as unacked (kombu's hash + index, and our lease)
 * inside one script, so no instant exists where a killed consumer holds a message that
 * Redis does not list as unacked. Results and acks ride along with the next claim (as
 * BullMQ's moveToFinished stores, completes and fetches the next job in one call): one
 * round trip per batch instead of three. An envelope over the size limit is moved, unread,
 * to its queue's dead letters in the same step; a tag the consumer could not send back
 * byte for byte is replaced by one of ours, so every claim can be acked.
 * Must never block (waiting is the list waiter's job), nor parse an envelope over the limit.
 */
import { defineScript } from '../../../connections/redis/script-runner.js';
import { STORE_META_LUA } from '../../../connections/redis/store-meta-script.js';

export const fetchScript = defineScript(
  'fetch',
  `--[[
fetch: store the given result metas, acknowledge the given tags, then claim up to N
messages from the first non-empty lists, in order.
KEYS[1]       unacked        (hash: delivery tag -> JSON [envelope, exchange, routing_key], kombu's)
KEYS[2]       unacked_index  (zset: delivery tag -> unix seconds of delivery, kombu's)
KEYS[3]       leases         (zset: delivery tag -> lease expiry in unix ms, ours)
KEYS[4..]     L queue lists to claim from, in order of preference
KEYS[4+L..]   per list: the dead-letter list of its queue (for envelopes over the limit)
KEYS[4+2L..]  W result keys (celery-task-meta-<id>) to store
ARGV[1]       the unacked_index score: unix seconds now, rounded up to a whole second
ARGV[2]       lease expiry of claimed messages, unix ms
ARGV[3]       N, the most messages to claim (0: only store and acknowledge)
ARGV[4]       a fresh prefix to make a tag for an envelope that carries no usable one
ARGV[5]       L
ARGV[6]       now, unix ms (the time of a dead letter)
ARGV[7]       the largest envelope to claim, in bytes: a bigger one is dead-lettered unread
ARGV[8..]     per list: the JSON tail of its unacked triple, e.g. ', "", "celery"]'
ARGV[8+L..]   per list: its queue's name as a JSON string (for a dead letter)
ARGV[8+2L]    W
ARGV[..]      per result key: expiry in ms, then the meta's JSON
ARGV[..]      the rest: delivery tags to acknowledge (as kombu acks: ZREM unacked_index,
              HDEL unacked; and our lease)
Returns: a flat array {list number (1 = KEYS[4]), delivery tag, envelope, ...}; for an
envelope dead-lettered for its size, {-list number, '', its size in bytes}
--]]
${STORE_META_LUA}
local now = ARGV[1]
local expiry = ARGV[2]
local want = tonumber(ARGV[3])
local fallback = ARGV[4]
local lists = tonumber(ARGV[5])
local nowMs = ARGV[6]
local maxBytes = tonumber(ARGV[7])
local writes = tonumber(ARGV[8 + 2 * lists])
local firstWrite = 9 + 2 * lists
for i = 1, writes do
  store_meta(KEYS[3 + 2 * lists + i], tonumber(ARGV[firstWrite + 2 * i - 2]), ARGV[firstWrite + 2 * i - 1])
end
local firstAck = firstWrite + 2 * writes
if #ARGV >= firstAck then
  local acks = {unpack(ARGV, firstAck)}
  redis.call('ZREM', KEYS[2], unpack(acks))
  redis.call('HDEL', KEYS[1], unpack(acks))
  redis.call('ZREM', KEYS[3], unpack(acks))
end
local out, index, triples, leases = {}, {}, {}, {}
local got, claimed = 0, 0
for k = 4, 3 + lists do
  if got >= want then break end
  local items = redis.call('RPOP', KEYS[k], want - got)
  if items then
    local n = k - 3
    for _, envelope in ipairs(items) do
      got = got + 1
      if #envelope > maxBytes then
        -- Never parsed, here or by the consumer: straight to the queue's dead letters, whole.
        redis.call('LPUSH', KEYS[3 + lists + n], '{"queue": ' .. ARGV[7 + lists + n] ..
          ', "reason": "the message is ' .. #envelope .. ' bytes, over the limit of ' .. maxBytes ..
          ' (maxEnvelopeBytes)", "at": ' .. nowMs .. ', "envelope": ' .. cjson.encode(envelope) .. '}')
        out[#out + 1] = -n
        out[#out + 1] = ''
        out[#out + 1] = #envelope
      else
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
          elseif not ok then
            -- Keep the unacked triple valid JSON even for garbage, so a restore pass
            -- (ours or kombu's) can read it instead of failing on it.
            stored = cjson.encode(envelope)
          end
        end
        -- A tag is kept only when it is short printable ASCII: the consumer gets replies as
        -- UTF-8 text, and a tag that does not survive that trip byte for byte (any byte
        -- over 127 that is not valid UTF-8) could never be acked. Any other gets one of ours.
        if not tag or #tag > 200 or string.find(tag, '[^ -~]') then
          claimed = claimed + 1
          tag = fallback .. claimed
        end
        index[#index + 1] = now
        index[#index + 1] = tag
        triples[#triples + 1] = tag
        triples[#triples + 1] = '[' .. stored .. ARGV[7 + n]
        leases[#leases + 1] = expiry
        leases[#leases + 1] = tag
        out[#out + 1] = n
        out[#out + 1] = tag
        out[#out + 1] = envelope
      end
    end
  end
end
if #index > 0 then
  redis.call('ZADD', KEYS[2], unpack(index))
  redis.call('HSET', KEYS[1], unpack(triples))
  redis.call('ZADD', KEYS[3], unpack(leases))
end
return out
`,
);
