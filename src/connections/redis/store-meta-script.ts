/**
 * Lua shared by the result backend's store script and the consumer's fetch script (which
 * carries result writes): one result meta written as Celery writes it, `SETEX` and
 * `PUBLISH` on the channel named as its key, keeping a SUCCESS already stored (Celery's
 * rule, checked in the same atomic step where Celery reads it first with a GET).
 * Defines `store_meta(key, ms, text)`, returning 1 when it stored, 0 when it kept a SUCCESS.
 */
export const STORE_META_LUA = `
local function store_meta(key, ms, text)
  local current = redis.call('GET', key)
  local status
  if current then
    status = string.match(current, '^%s*{%s*"status"%s*:%s*"([^"]*)"')
    if not status then
      local ok, decoded = pcall(cjson.decode, current)
      if ok and type(decoded) == 'table' then status = decoded.status end
    end
  end
  if status == 'SUCCESS' then return 0 end
  if ms % 1000 == 0 then
    redis.call('SETEX', key, ms / 1000, text)
  else
    redis.call('SET', key, text, 'PX', ms)
  end
  redis.call('PUBLISH', key, text)
  return 1
end
`;
