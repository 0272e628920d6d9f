"""The one place that talks to Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

from matching.core.settings import RedisSettings


def create_client(
    settings: RedisSettings, read_timeout_s: float | None = None
) -> aioredis.Redis | None:
    """A client (connections are opened lazily), or None when REDIS_URL is not set.
    `read_timeout_s` replaces the read timeout for a client that blocks on purpose (pub/sub)."""
    if not settings.url:
        return None
    timeout = settings.timeout_s  # a Redis slower than this counts as down: caches skipped
    return aioredis.from_url(
        settings.url,
        socket_timeout=read_timeout_s or timeout,
        socket_connect_timeout=timeout,
    )


async def ping(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
