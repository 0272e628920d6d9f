"""Per-caller, per-family rate limits shared by every replica through Redis.

The subject is who authenticated (a user's id from the token, or an internal API key's id),
never an id the caller names in the request, so no one can spend another's budget. An
internal key's budget per family is ``rate_service_multiplier`` times a user's (0: unlimited).

Algorithm: a sliding-window log. Each (user, endpoint) has a sorted set of the instants (Redis
server time, in microseconds) of the requests it let through in the last ``rate_window_s``. One
Lua script trims what fell out of the window, counts, and either records the request or answers
when the oldest one leaves the window. Why this and not fixed windows with previous-window
weighting: the limits are small (tens to hundreds per hour), so the log costs at most ``limit``
small members per active user and endpoint, and in exchange it is exact (no double burst at a
window edge, no approximation) and gives an exact ``retry_after_s``. The script runs atomically,
so a burst of concurrent requests from any number of replicas can never pass more than
``limit``; it reads Redis's clock, so replicas with skewed clocks agree. Refused requests are
not recorded, so a client hammering a closed window does not push its reopening back.

With Redis unreachable (or no REDIS_URL) nothing is enforced here: ``rate_fail_open`` decides
whether requests pass (``allowed=True``) or are refused with ``retry_after_s=5``; either way the
decision says ``degraded=True`` and no exception escapes. A limit of 0 means unlimited.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from redis.asyncio import Redis

from matching.core import metrics
from matching.core.cache.caches import REDIS_ERRORS, RedisGuard
from matching.core.settings import RedisSettings

Endpoint = Literal["discover", "search", "swipes", "preferences", "analytics", "stats", "admin"]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
FAIL_CLOSED_RETRY_S = 5


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # 0: unlimited
    remaining: int  # requests still allowed in the window after this one (0 when unlimited)
    retry_after_s: int  # 0 when allowed; >= 1 when refused
    degraded: bool  # Redis could not be asked: the decision is the fail-open/closed policy


# KEYS[1]: the log. ARGV: window (us), limit, a unique member for this request.
# Returns {allowed (0/1), remaining, microseconds until a slot frees}.
_SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = window
if oldest[2] then
  wait = tonumber(oldest[2]) + window - now
end
return {0, 0, wait}
"""


class RateLimiter(RedisGuard):
    """``await limiter.check(subject, "discover")`` before serving; never raises."""

    component = "rate limiter"

    def __init__(self, client: Redis | None, settings: RedisSettings, namespace: str = "matching"):
        super().__init__(client)
        self.fail_open = settings.rate_fail_open
        self.window_s = settings.rate_window_s
        self.limits: dict[Endpoint, int] = {
            "discover": settings.rate_discover,
            "swipes": settings.rate_swipes,
            "preferences": settings.rate_preferences,
            "analytics": settings.rate_analytics,
            "search": settings.rate_search,
            "stats": settings.rate_stats,
            "admin": settings.rate_admin,
        }
        self.service_multiplier = settings.rate_service_multiplier
        self._prefix = f"{namespace}:rate:"
        self._script = client.register_script(_SLIDING_LOG) if client is not None else None

    def _key(self, subject: str, endpoint: Endpoint) -> str:
        return f"{self._prefix}{endpoint}:{subject}"

    def limit_for(self, endpoint: Endpoint, *, service: bool = False) -> int:
        """The budget per window; 0 means unlimited."""
        return self.limits[endpoint] * (self.service_multiplier if service else 1)

    def _degraded(self, limit: int) -> Decision:
        if self.fail_open:
            return Decision(True, limit, limit, 0, degraded=True)
        return Decision(False, limit, 0, FAIL_CLOSED_RETRY_S, degraded=True)

    async def check(self, subject: str, endpoint: Endpoint, *, service: bool = False) -> Decision:
        """Count one request of ``subject`` (a user's id or a key's id) to ``endpoint``."""
        limit = self.limit_for(endpoint, service=service)
        if limit <= 0:
            return Decision(True, 0, 0, 0, degraded=False)
        if self._script is None:
            return self._degraded(limit)
        try:
            allowed, remaining, wait_us = await self._script(
                keys=[self._key(subject, endpoint)],
                args=[self.window_s * 1_000_000, limit, uuid.uuid4().hex],
            )
        except REDIS_ERRORS as exc:
            self._failed("check", exc)
            return self._degraded(limit)
        self._ok()
        if int(allowed):
            return Decision(True, limit, int(remaining), 0, degraded=False)
        retry_after = max(1, math.ceil(int(wait_us) / 1_000_000))
        metrics.inc("matching_rate_limited_total", endpoint=str(endpoint))
        return Decision(False, limit, 0, retry_after, degraded=False)

    async def reset(self, subject: str, endpoint: Endpoint) -> bool:
        """Forget the subject's requests to ``endpoint`` (tests, admin); False on Redis errors."""
        if self.client is None:
            return False
        try:
            await self.client.delete(self._key(subject, endpoint))
        except REDIS_ERRORS as exc:
            self._failed("reset", exc)
            return False
        self._ok()
        return True
