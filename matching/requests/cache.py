"""Completed results in Redis (`match_result:{request_id}`, MATCHING_REQUEST_RESULT_TTL_S);
PostgreSQL keeps them for good, so a miss or Redis being down only costs a read."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from matching.core.cache.caches import REDIS_ERRORS, RedisGuard

PREFIX = "match_result:"


class ResultCache(RedisGuard):
    component = "match result cache"

    def __init__(self, client: Redis | None, ttl_s: int) -> None:
        super().__init__(client)
        self.ttl_s = ttl_s

    async def get(self, request_id: str) -> dict[str, Any] | None:
        """{"requester": ..., "result": ...} or None (a miss, or Redis unavailable)."""
        if self.client is None or self.ttl_s <= 0:
            return None
        try:
            raw = await self.client.get(PREFIX + request_id)
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            return None
        self._ok()
        try:
            found = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    async def put(self, request_id: str, requester: str, result: dict[str, Any]) -> None:
        if self.client is None or self.ttl_s <= 0:
            return
        value = json.dumps({"requester": requester, "result": result}, separators=(",", ":"))
        try:
            await self.client.set(PREFIX + request_id, value, ex=self.ttl_s)
        except REDIS_ERRORS as exc:
            self._failed("set", exc)
            return
        self._ok()
