"""The Lua shared by every queue script: clocks, events, history and the transitions that
several scripts make (requeue, finalise a ticket, end a match, cancel a ticket).

Every script gets ARGV[1..5] = prefix, events kept per user, ticket timeout (ms), base
cooldown (ms), cooldown cap (ms); its own arguments follow from ARGV[6]. Keys are built from
the prefix, whose braces put them all in one cluster slot. Redis's clock (TIME) is the only
clock, so replicas with skewed clocks agree on deadlines.
"""

PRELUDE = r"""
local P = ARGV[1]
local MAXLEN = tonumber(ARGV[2])
local TIMEOUT = tonumber(ARGV[3])
local CD = tonumber(ARGV[4])
local CDMAX = tonumber(ARGV[5])
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local KEEP = 7 * 86400  -- finished tickets, matches and sessions stay readable this long

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end

-- One user's event: the next sequence number is the stream id, so a client resumes after it.
local function emit(user, kind, body)
  local seq = redis.call('INCR', P .. 'seq:' .. user)
  body['seq'] = seq
  body['type'] = kind
  body['at'] = NOW
  local key = P .. 'ev:' .. user
  redis.call('XADD', key, 'MAXLEN', '~', MAXLEN, seq .. '-0', 'e', cjson.encode(body))
  redis.call('EXPIRE', key, KEEP)
  redis.call('PUBLISH', P .. 'notify', user)
end

-- A transition for PostgreSQL, applied in stream order by the history writer.
local function history(kind, body)
  body['kind'] = kind
  body['at'] = NOW
  redis.call('XADD', P .. 'history', '*', 'h', cjson.encode(body))
end

local function cooldown(user)
  local key = P .. 'strikes:' .. user
  local n = redis.call('INCR', key)
  redis.call('EXPIRE', key, 3600)
  local ms = math.floor(math.min(CD * 2 ^ (n - 1), CDMAX))
  if ms > 0 then redis.call('SET', P .. 'cool:' .. user, n, 'PX', ms) end
end

local function finish_ticket(tid, user, status)
  redis.call('HSET', P .. 't:' .. tid, 'status', status, 'ended', NOW)
  redis.call('EXPIRE', P .. 't:' .. tid, KEEP)
  if redis.call('GET', P .. 'u:' .. user) == tid then redis.call('DEL', P .. 'u:' .. user) end
  history('ticket', {id = tid, status = status})
end

-- Back in its queue at its original score: it keeps its place; its timeout restarts.
local function requeue(tid)
  local t = hgetall(P .. 't:' .. tid)
  redis.call('HSET', P .. 't:' .. tid, 'status', 'pending', 'match', '', 'expires', NOW + TIMEOUT)
  redis.call('ZADD', P .. 'w:' .. t['ckey'], tonumber(t['score']), tid)
  redis.call('ZADD', P .. 'expiry', NOW + TIMEOUT, tid)
  history('ticket', {id = tid, status = 'pending'})
  redis.call('PUBLISH', P .. 'wake', t['ckey'])
end

-- Ends a pending match: tickets named in `outs` end with that status and a cooldown; the
-- others go back to the queue.
local function end_match(mid, m, status, reason, outs)
  redis.call('HSET', P .. 'm:' .. mid, 'status', status, 'reason', reason, 'ended', NOW)
  redis.call('EXPIRE', P .. 'm:' .. mid, KEEP)
  redis.call('ZREM', P .. 'deadlines', mid)
  for _, side in ipairs({{m['ta'], m['ua']}, {m['tb'], m['ub']}}) do
    local tid, user = side[1], side[2]
    local out = outs[tid]
    if out then
      finish_ticket(tid, user, out)
      cooldown(user)
    else
      requeue(tid)
    end
    emit(user, 'match_expired',
      {match_id = mid, ticket_id = tid, reason = reason, requeued = (out == nil)})
  end
  history('match_end', {id = mid, status = status, reason = reason})
end

local function cancel_ticket(tid, reason)
  local t = hgetall(P .. 't:' .. tid)
  if t['status'] == 'pending' then
    redis.call('ZREM', P .. 'w:' .. t['ckey'], tid)
    redis.call('ZREM', P .. 'expiry', tid)
    finish_ticket(tid, t['user'], 'cancelled')
    return {'cancelled'}
  end
  if t['status'] == 'matched' then
    local mid = t['match']
    end_match(mid, hgetall(P .. 'm:' .. mid), 'cancelled', reason, {[tid] = 'cancelled'})
    return {'cancelled'}
  end
  return {'final', t['status']}
end
"""
