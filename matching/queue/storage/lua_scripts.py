"""One Lua script per transition of the queue; each runs atomically in Redis, so no ticket
is in two matches and none is lost between two steps (see lua_prelude for the helpers)."""

from matching.queue.storage.lua_prelude import PRELUDE

# ARGV[6..]: user, ticket id, client request id ('' none), criteria key, criteria JSON.
# A new ticket comes back whole (its hash, its place from 0, the criteria's recent waits),
# so the request that made it needs no second read.
ENQUEUE = (
    PRELUDE
    + r"""
local user, tid, crid, ckey, crit = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
if crid ~= '' then
  local seen = redis.call('GET', P .. 'crid:' .. user .. ':' .. crid)
  if seen then return {'existing', seen} end
end
local open = redis.call('GET', P .. 'u:' .. user)
if open then return {'conflict', open} end
local session = redis.call('GET', P .. 'us:' .. user)
if session then return {'in_session', session} end
local cool = redis.call('PTTL', P .. 'cool:' .. user)
if cool > 0 then return {'cooldown', tostring(cool)} end
redis.call('HSET', P .. 't:' .. tid, 'user', user, 'ckey', ckey, 'criteria', crit,
  'score', NOW, 'status', 'pending', 'match', '', 'created', NOW,
  'expires', NOW + TIMEOUT, 'crid', crid)
redis.call('ZADD', P .. 'w:' .. ckey, NOW, tid)
redis.call('ZADD', P .. 'expiry', NOW + TIMEOUT, tid)
redis.call('SET', P .. 'u:' .. user, tid)
if crid ~= '' then redis.call('SET', P .. 'crid:' .. user .. ':' .. crid, tid, 'EX', 86400) end
history('ticket', {id = tid, user = user, criteria = cjson.decode(crit), crid = crid,
  status = 'pending', created = NOW})
redis.call('PUBLISH', P .. 'wake', ckey)
redis.call('PUBLISH', P .. 'notify', user)  -- their sockets send the new ticket's place now
return {'created', tid, redis.call('HGETALL', P .. 't:' .. tid),
  redis.call('ZRANK', P .. 'w:' .. ckey, tid), redis.call('LRANGE', P .. 'waits:' .. ckey, 0, -1)}
"""
)

# ARGV[6..]: the older ticket, the other, the match id, confirm window (ms), relaxation JSON.
CLAIM = (
    PRELUDE
    + r"""
local ta, tb, mid, window, relax = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
local a = hgetall(P .. 't:' .. ta)
local b = hgetall(P .. 't:' .. tb)
if a['status'] ~= 'pending' or b['status'] ~= 'pending' or a['user'] == b['user'] then
  return 0
end
redis.call('ZREM', P .. 'w:' .. a['ckey'], ta)
redis.call('ZREM', P .. 'w:' .. b['ckey'], tb)
redis.call('ZREM', P .. 'expiry', ta, tb)
redis.call('HSET', P .. 't:' .. ta, 'status', 'matched', 'match', mid)
redis.call('HSET', P .. 't:' .. tb, 'status', 'matched', 'match', mid)
local deadline = NOW + window
redis.call('HSET', P .. 'm:' .. mid, 'ta', ta, 'tb', tb, 'ua', a['user'], 'ub', b['user'],
  'status', 'pending', 'created', NOW, 'deadline', deadline, 'relaxation', relax,
  'criteria', a['criteria'], 'ca', '0', 'cb', '0')
redis.call('ZADD', P .. 'deadlines', deadline, mid)
for _, t in ipairs({a, b}) do
  redis.call('LPUSH', P .. 'waits:' .. t['ckey'], NOW - tonumber(t['score']))
  redis.call('LTRIM', P .. 'waits:' .. t['ckey'], 0, 49)
end
local rel = cjson.decode(relax)
for _, side in ipairs({{ta, a, b}, {tb, b, a}}) do
  emit(side[2]['user'], 'match_found', {match_id = mid, ticket_id = side[1],
    deadline = deadline, criteria = cjson.decode(side[2]['criteria']),
    partner_criteria = cjson.decode(side[3]['criteria']), relaxation = rel})
end
history('match', {id = mid, ta = ta, tb = tb, ua = a['user'], ub = b['user'],
  criteria = cjson.decode(a['criteria']), relaxation = rel, created = NOW, deadline = deadline})
for _, tid in ipairs({ta, tb}) do history('ticket', {id = tid, status = 'matched', match = mid}) end
return 1
"""
)

# ARGV[6..]: match id, user, '1' confirm / '0' decline, session id, item ('' none).
CONFIRM = (
    PRELUDE
    + r"""
local mid, user, yes, sid, item = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local m = hgetall(P .. 'm:' .. mid)
if not m['status'] then return {'not_found'} end
local side = (user == m['ua'] and 'a') or (user == m['ub'] and 'b') or nil
if not side then return {'forbidden'} end
if m['status'] ~= 'pending' then return {'closed', m['status']} end
if tonumber(m['deadline']) <= NOW then
  local outs = {}
  if m['ca'] ~= '1' then outs[m['ta']] = 'expired' end
  if m['cb'] ~= '1' then outs[m['tb']] = 'expired' end
  end_match(mid, m, 'expired', 'timeout', outs)
  return {'closed', 'expired'}
end
if yes ~= '1' then
  end_match(mid, m, 'declined', 'declined', {[m['t' .. side]] = 'cancelled'})
  return {'declined'}
end
if m['c' .. side] == '1' then return {'confirmed'} end
redis.call('HSET', P .. 'm:' .. mid, 'c' .. side, '1')
m['c' .. side] = '1'
history('confirm', {match = mid, user = user})
if m['ca'] ~= '1' or m['cb'] ~= '1' then return {'confirmed'} end
redis.call('HSET', P .. 'm:' .. mid, 'status', 'confirmed', 'ended', NOW, 'session', sid)
redis.call('EXPIRE', P .. 'm:' .. mid, KEEP)
redis.call('ZREM', P .. 'deadlines', mid)
finish_ticket(m['ta'], m['ua'], 'confirmed')
finish_ticket(m['tb'], m['ub'], 'confirmed')
redis.call('HSET', P .. 's:' .. sid, 'id', sid, 'match', mid, 'ua', m['ua'], 'ub', m['ub'],
  'criteria', m['criteria'], 'item', item, 'status', 'active', 'created', NOW)
redis.call('SET', P .. 'us:' .. m['ua'], sid)
redis.call('SET', P .. 'us:' .. m['ub'], sid)
local session = {session_id = sid, match_id = mid, users = {m['ua'], m['ub']},
  criteria = cjson.decode(m['criteria']), item = item, created = NOW}
emit(m['ua'], 'match_ready', {match_id = mid, session = session})
emit(m['ub'], 'match_ready', {match_id = mid, session = session})
history('match_end', {id = mid, status = 'confirmed', reason = 'confirmed'})
history('session', session)
return {'ready', sid}
"""
)

# ARGV[6]: a match id whose deadline may have passed.
TIMEOUT = (
    PRELUDE
    + r"""
local mid = ARGV[6]
local m = hgetall(P .. 'm:' .. mid)
if m['status'] ~= 'pending' then
  redis.call('ZREM', P .. 'deadlines', mid)
  return 0
end
if tonumber(m['deadline']) > NOW then return 0 end
local outs = {}
if m['ca'] ~= '1' then outs[m['ta']] = 'expired' end
if m['cb'] ~= '1' then outs[m['tb']] = 'expired' end
end_match(mid, m, 'expired', 'timeout', outs)
return 1
"""
)

# ARGV[6]: a ticket whose timeout may have passed.
EXPIRE = (
    PRELUDE
    + r"""
local tid = ARGV[6]
local t = hgetall(P .. 't:' .. tid)
if t['status'] ~= 'pending' then
  redis.call('ZREM', P .. 'expiry', tid)
  return 0
end
if tonumber(t['expires']) > NOW then return 0 end
redis.call('ZREM', P .. 'w:' .. t['ckey'], tid)
redis.call('ZREM', P .. 'expiry', tid)
finish_ticket(tid, t['user'], 'expired')
emit(t['user'], 'match_expired', {ticket_id = tid, reason = 'no_match', requeued = false})
return 1
"""
)

# ARGV[6..]: ticket id, the user acting ('' for the platform), reason.
CANCEL = (
    PRELUDE
    + r"""
local tid, user, reason = ARGV[6], ARGV[7], ARGV[8]
local owner = redis.call('HGET', P .. 't:' .. tid, 'user')
if not owner then return {'not_found'} end
if user ~= '' and owner ~= user then return {'forbidden'} end
return cancel_ticket(tid, reason)
"""
)

# ARGV[6..]: user, session id ('' for their active one).
LEAVE = (
    PRELUDE
    + r"""
local user, sid = ARGV[6], ARGV[7]
if sid == '' then sid = redis.call('GET', P .. 'us:' .. user) end
if not sid then return {'not_found'} end
local s = hgetall(P .. 's:' .. sid)
if not s['status'] then return {'not_found'} end
if user ~= s['ua'] and user ~= s['ub'] then return {'forbidden'} end
if s['status'] ~= 'active' then return {'final', s['status']} end
redis.call('HSET', P .. 's:' .. sid, 'status', 'ended', 'ended', NOW, 'left_by', user)
redis.call('EXPIRE', P .. 's:' .. sid, KEEP)
for _, u in ipairs({s['ua'], s['ub']}) do
  if redis.call('GET', P .. 'us:' .. u) == sid then redis.call('DEL', P .. 'us:' .. u) end
end
local partner = (user == s['ua']) and s['ub'] or s['ua']
emit(partner, 'partner_left', {session_id = sid})
history('session_end', {id = sid, left_by = user})
return {'left', sid}
"""
)

# ARGV[6..]: user, +1 (a socket opened) or -1 (one closed), grace (ms). With no socket left,
# the user is "gone" after the grace period unless one opens again.
PRESENCE = (
    PRELUDE
    + r"""
local user, delta, grace = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local n = redis.call('INCRBY', P .. 'conn:' .. user, delta)
if n < 0 then  -- a replica that died with sockets open left the count behind
  redis.call('SET', P .. 'conn:' .. user, 0)
  n = 0
end
redis.call('EXPIRE', P .. 'conn:' .. user, 86400)
if n > 0 then
  redis.call('ZREM', P .. 'gone', user)
else
  redis.call('ZADD', P .. 'gone', NOW + grace, user)
end
return n
"""
)

# ARGV[6]: a user who may be past their grace period: their open ticket is cancelled.
GONE = (
    PRELUDE
    + r"""
local user = ARGV[6]
local until_ms = redis.call('ZSCORE', P .. 'gone', user)
if not until_ms or tonumber(until_ms) > NOW then return 0 end
redis.call('ZREM', P .. 'gone', user)
if tonumber(redis.call('GET', P .. 'conn:' .. user) or '0') > 0 then return 0 end
local tid = redis.call('GET', P .. 'u:' .. user)
if not tid then return 0 end
cancel_ticket(tid, 'disconnected')
return 1
"""
)

# Read only, no prelude. ARGV: prefix, user, first stream id to read, how many events. A
# socket's whole read in one round trip: {events' JSON after it, {ticket id, place from 0
# (-1 not waiting)}, recent waits of its criteria} (the place is empty while not waiting).
FOLLOW = r"""
local P, user = ARGV[1], ARGV[2]
local events = {}
for i, row in ipairs(redis.call('XRANGE', P .. 'ev:' .. user, ARGV[3], '+', 'COUNT', ARGV[4])) do
  events[i] = row[2][2]
end
local tid = redis.call('GET', P .. 'u:' .. user)
if not tid then return {events, {}, {}} end
local t = redis.call('HMGET', P .. 't:' .. tid, 'status', 'ckey')
if t[1] ~= 'pending' then return {events, {}, {}} end
local rank = redis.call('ZRANK', P .. 'w:' .. t[2], tid) or -1
return {events, {tid, rank}, redis.call('LRANGE', P .. 'waits:' .. t[2], 0, -1)}
"""
