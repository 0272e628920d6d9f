"""Redis caches for discovery lists and per-user features.

Every operation swallows Redis errors: with Redis down, or no REDIS_URL, ``get`` answers None
(a miss) and the writes answer False, so the service keeps serving, only slower. An outage is
logged at WARNING once (and its end at INFO); ``available`` / ``last_error`` are for health.

Keys (``ns`` is the namespace, "matching" by default)::

    {ns}:discover:u:{user}     JSON of the user's cached discovery answer  (discover_cache_ttl_s)
    {ns}:discover:ids:{user}   set of the candidate ids in that answer     (same TTL)
    {ns}:discover:in:{cand}    set of users whose cached answer holds cand (>= those entries')
    {ns}:features:{user}       JSON of the user's feature dict             (features_cache_ttl_s)

A TTL of 0 in the settings turns that cache off (no Redis traffic at all).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from matching.core import metrics
from matching.core.settings import RedisSettings

log = logging.getLogger(__name__)

# What a Redis call may raise when Redis is down, slow or confused; never let it out.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisGuard:
    """Tracks whether Redis answered the last call; logs each outage once."""

    component = "redis"

    def __init__(self, client: Redis | None) -> None:
        self.client = client
        self.available = client is not None
        self.last_error: str | None = None if client is not None else "REDIS_URL is not set"

    def _ok(self) -> None:
        if not self.available and self.client is not None:
            log.info("%s: Redis is reachable again", self.component)
        self.available = self.client is not None
        if self.available:
            self.last_error = None

    def _failed(self, op: str, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.available:
            log.warning("%s: Redis %s failed (%s); carrying on without it", self.component, op, exc)
        self.available = False


# Atomically drop every cached discovery answer that holds the candidate: KEYS[1] is the
# reverse-index set; ARGV[1] the answer key prefix, ARGV[2] the candidate-ids set prefix,
# ARGV[3] the candidate id. A member whose answer no longer holds the candidate (stale after a
# re-put) is only dropped from the index.
# The entry keys are derived inside the script: fine on a standalone Redis, not on a cluster.
_INVALIDATE_CANDIDATE = """
local users = redis.call('SMEMBERS', KEYS[1])
local dropped = 0
for _, user in ipairs(users) do
  local ids = ARGV[2] .. user
  if redis.call('SISMEMBER', ids, ARGV[3]) == 1 then
    if redis.call('DEL', ARGV[1] .. user, ids) > 0 then dropped = dropped + 1 end
  end
end
redis.call('DEL', KEYS[1])
return dropped
"""


class DiscoverCache(RedisGuard):
    """Each user's discovery answer, dropped when they or any candidate in it change."""

    component = "discover cache"

    def __init__(self, client: Redis | None, settings: RedisSettings, namespace: str = "matching"):
        super().__init__(client)
        self.ttl_s = settings.discover_cache_ttl_s
        self._prefix = f"{namespace}:discover:u:"
        self._ids_prefix = f"{namespace}:discover:ids:"
        self._index_prefix = f"{namespace}:discover:in:"
        self._invalidate_script = (
            client.register_script(_INVALIDATE_CANDIDATE) if client is not None else None
        )

    def _key(self, user_id: str) -> str:
        return self._prefix + user_id

    def _ids_key(self, user_id: str) -> str:
        return self._ids_prefix + user_id

    def _index_key(self, candidate_id: str) -> str:
        return self._index_prefix + candidate_id

    async def get(self, user_id: str) -> Any | None:
        if self.client is None or self.ttl_s <= 0:
            return None
        try:
            raw = await self.client.get(self._key(user_id))
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            return None
        self._ok()
        metrics.inc(
            "matching_cache_requests_total",
            cache="discover",
            result="miss" if raw is None else "hit",
        )
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            log.warning("discover cache: undecodable entry for %s dropped (%s)", user_id, exc)
            await self.invalidate_user(user_id)
            return None

    async def put(self, user_id: str, value: Any, candidate_ids: Iterable[str]) -> bool:
        """Cache ``value`` (JSON-serialisable) as the answer for ``user_id`` listing these ids."""
        if self.client is None or self.ttl_s <= 0:
            return False
        payload = json.dumps(value, separators=(",", ":"))
        ids = list(dict.fromkeys(candidate_ids))
        key, ids_key = self._key(user_id), self._ids_key(user_id)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(key, payload, ex=self.ttl_s)
                pipe.delete(ids_key)
                if ids:
                    pipe.sadd(ids_key, *ids)
                    pipe.expire(ids_key, self.ttl_s)
                for cand in ids:
                    # Every entry uses the same TTL and this one is the newest, so resetting the
                    # index's TTL keeps it >= the TTL of every entry it points at.
                    pipe.sadd(self._index_key(cand), user_id)
                    pipe.expire(self._index_key(cand), self.ttl_s)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self._failed("put", exc)
            return False
        self._ok()
        return True

    async def invalidate_user(self, user_id: str) -> bool:
        """Drop the user's own answer (they swiped, or changed their profile or preferences)."""
        if self.client is None:
            return False
        key, ids_key = self._key(user_id), self._ids_key(user_id)
        try:
            ids = [_text(c) for c in await self.client.smembers(ids_key)]
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key, ids_key)
                for cand in ids:
                    pipe.srem(self._index_key(cand), user_id)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self._failed("invalidate", exc)
            return False
        self._ok()
        return True

    async def invalidate_candidate(self, candidate_id: str) -> int | None:
        """Drop every cached answer listing ``candidate_id``; how many, or None on error."""
        if self.client is None or self._invalidate_script is None:
            return None
        try:
            dropped = await self._invalidate_script(
                keys=[self._index_key(candidate_id)],
                args=[self._prefix, self._ids_prefix, candidate_id],
            )
        except REDIS_ERRORS as exc:
            self._failed("invalidate", exc)
            return None
        self._ok()
        return int(dropped)


class FeatureCache(RedisGuard):
    """Per-user feature dicts, keyed by user id."""

    component = "feature cache"

    def __init__(self, client: Redis | None, settings: RedisSettings, namespace: str = "matching"):
        super().__init__(client)
        self.ttl_s = settings.features_cache_ttl_s
        self._prefix = f"{namespace}:features:"

    async def get(self, user_id: str) -> dict[str, Any] | None:
        found = await self.get_many([user_id])
        return None if found is None else found.get(user_id)

    async def get_many(self, user_ids: Iterable[str]) -> dict[str, dict[str, Any]] | None:
        """The cached dicts of those users that have one; None when Redis failed."""
        ids = list(user_ids)
        if self.client is None or self.ttl_s <= 0:
            return None
        if not ids:
            return {}
        try:
            raws = await self.client.mget([self._prefix + u for u in ids])
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            return None
        self._ok()
        out: dict[str, dict[str, Any]] = {}
        for user_id, raw in zip(ids, raws, strict=True):
            if raw is None:
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                out[user_id] = value
        metrics.inc("matching_cache_requests_total", len(out), cache="features", result="hit")
        metrics.inc(
            "matching_cache_requests_total", len(ids) - len(out), cache="features", result="miss"
        )
        return out

    async def put(self, user_id: str, features: Mapping[str, Any]) -> bool:
        return await self.put_many({user_id: features})

    async def put_many(self, features: Mapping[str, Mapping[str, Any]]) -> bool:
        if self.client is None or self.ttl_s <= 0:
            return False
        if not features:
            return True
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, value in features.items():
                    payload = json.dumps(dict(value), separators=(",", ":"))
                    pipe.set(self._prefix + user_id, payload, ex=self.ttl_s)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self._failed("put", exc)
            return False
        self._ok()
        return True

    async def invalidate(self, user_id: str) -> bool:
        if self.client is None:
            return False
        try:
            await self.client.delete(self._prefix + user_id)
        except REDIS_ERRORS as exc:
            self._failed("invalidate", exc)
            return False
        self._ok()
        return True
