"""The Lua scripts of the Redis presence backend: storage primitives only (read, compare-and-set),
never a presence rule (those are Python, presence/rules.py). Batched ones run through
kernel.redis_client.eval_batched: per item a count, then that many strings."""

USER_FIELDS = ("online", "last_seen", "deadline", "v")

# Batched over users (kernel.redis_client.eval_batched). Per user: the record hash, the
# session set. Returns per user {the record's fields in USER_FIELDS order, the sessions}.
READ_USERS = """#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
local i = 1
while i <= #ARGV do
  local hash, set = ARGV[i + 1], ARGV[i + 2]
  local record = redis.call('HMGET', hash, 'online', 'last_seen', 'deadline', 'v')
  out[#out + 1] = {record, redis.call('SMEMBERS', set)}
  i = i + tonumber(ARGV[i]) + 1
end
return out
"""
# Batched over users. Per user: the record hash, the session set, the version read ('' = none
# yet), the number of field/value strings, those, the number of sessions to remove, those, then
# the sessions to add. Writes a user (and bumps `v`) only if nobody wrote it since the read:
# returns per user 1 (written) or 0 (lost the race).
CAS_USERS = """#!lua flags=allow-cross-slot-keys
local out = {}
local i = 1
while i <= #ARGV do
  local last = i + tonumber(ARGV[i])
  local hash, set = ARGV[i + 1], ARGV[i + 2]
  local v = redis.call('HGET', hash, 'v') or ''
  if v ~= ARGV[i + 3] then
    out[#out + 1] = 0
  else
    redis.call('HSET', hash, 'v', tostring((tonumber(v) or 0) + 1))
    local j = i + 5
    for _ = 1, tonumber(ARGV[i + 4]), 2 do redis.call('HSET', hash, ARGV[j], ARGV[j + 1]); j = j + 2 end
    local n = tonumber(ARGV[j]); j = j + 1
    for _ = 1, n do redis.call('SREM', set, ARGV[j]); j = j + 1 end
    while j <= last do redis.call('SADD', set, ARGV[j]); j = j + 1 end
    out[#out + 1] = 1
  end
  i = last + 1
end
return out
"""
# KEYS: the edge hash and its session set (one hash tag). ARGV: version read, new lease
# deadline ('' = lease gone), '1' to empty the set first, the number of removals, then the
# sessions to remove, then the sessions to add.
CAS_EDGE = """
local v = redis.call('HGET', KEYS[1], 'v') or ''
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', tostring((tonumber(v) or 0) + 1), 'deadline', ARGV[2])
if ARGV[3] == '1' then redis.call('DEL', KEYS[2]) end
local n = tonumber(ARGV[4])
for i = 5, 4 + n do redis.call('SREM', KEYS[2], ARGV[i]) end
for i = 5 + n, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
return 1
"""
