"""The Redis rate limiter and caches, against a real Redis (db 15) and a stopped one."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from matching.core.cache.caches import DiscoverCache, FeatureCache
from matching.core.cache.client import create_client
from matching.core.cache.ratelimit import RateLimiter
from matching.core.settings import RedisSettings
from matching.devtools.services import LocalRedis
from tests.integration.conftest import REDIS_URL


def _settings(url: str | None = REDIS_URL, **values: Any) -> RedisSettings:
    return RedisSettings.model_validate({"REDIS_URL": url, **values})


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    c = create_client(_settings())
    assert c is not None
    try:
        yield c
    finally:
        await c.aclose()


@pytest_asyncio.fixture
async def ns(client: aioredis.Redis) -> AsyncIterator[str]:
    """A key namespace of this test's own, deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        keys = [k async for k in client.scan_iter(match=f"{name}:*", count=1000)]
        if keys:
            await client.delete(*keys)


@pytest.fixture(scope="module")
def stopped_redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a Redis that was started and then stopped: nothing listens there now."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    local = LocalRedis(tmp_path_factory.mktemp("redis") / "data")
    url = local.start()
    local.stop()
    return url


@pytest_asyncio.fixture
async def down_client(stopped_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = create_client(_settings(stopped_redis_url))
    assert c is not None
    try:
        yield c
    finally:
        await c.aclose()


# --------------------------------------------------------------------------- rate limiter


async def test_burst_allows_exactly_the_limit(client: aioredis.Redis, ns: str) -> None:
    limiter = RateLimiter(client, _settings(MATCHING_RATE_LIMIT_DISCOVER=10), namespace=ns)
    decisions = await asyncio.gather(*(limiter.check("u1", "discover") for _ in range(30)))
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 10
    assert sorted(d.remaining for d in allowed) == list(range(10))
    assert not any(d.degraded for d in decisions)
    # refused requests are not recorded, so they do not push the reopening back
    assert await client.zcard(f"{ns}:rate:discover:u1") == 10
    for d in decisions:
        if not d.allowed:
            assert d.limit == 10 and d.remaining == 0
            assert 3590 <= d.retry_after_s <= 3600
    # other users and endpoints have budgets of their own
    assert (await limiter.check("u2", "discover")).allowed
    assert (await limiter.check("u1", "swipes")).allowed


async def test_two_replicas_share_the_limit(client: aioredis.Redis, ns: str) -> None:
    other = create_client(_settings())
    assert other is not None
    try:
        settings = _settings(MATCHING_RATE_LIMIT_PREFERENCES=7)
        a = RateLimiter(client, settings, namespace=ns)
        b = RateLimiter(other, settings, namespace=ns)
        checks = [(a if i % 2 else b).check("u", "preferences") for i in range(21)]
        decisions = await asyncio.gather(*checks)
        assert sum(d.allowed for d in decisions) == 7
        assert not (await a.check("u", "preferences")).allowed
        assert not (await b.check("u", "preferences")).allowed
        assert await a.reset("u", "preferences")
        assert (await b.check("u", "preferences")).remaining == 6
    finally:
        await other.aclose()


async def test_window_slides(client: aioredis.Redis, ns: str) -> None:
    settings = _settings(MATCHING_RATE_LIMIT_WINDOW_S=2, MATCHING_RATE_LIMIT_SWIPES=3)
    limiter = RateLimiter(client, settings, namespace=ns)
    assert (await limiter.check("u", "swipes")).allowed
    await asyncio.sleep(1.0)
    assert (await limiter.check("u", "swipes")).allowed
    assert (await limiter.check("u", "swipes")).allowed
    denied = await limiter.check("u", "swipes")
    assert not denied.allowed and denied.retry_after_s == 1  # the first frees in ~1 s
    await asyncio.sleep(1.1)
    # the first request left the window; the two later ones are still in it
    first_freed = await limiter.check("u", "swipes")
    assert first_freed.allowed and first_freed.remaining == 0
    again = await limiter.check("u", "swipes")
    assert not again.allowed and 1 <= again.retry_after_s <= 2


async def test_limit_zero_is_unlimited(client: aioredis.Redis, ns: str) -> None:
    limiter = RateLimiter(client, _settings(MATCHING_RATE_LIMIT_ANALYTICS=0), namespace=ns)
    decisions = await asyncio.gather(*(limiter.check("u", "analytics") for _ in range(300)))
    assert all(d.allowed and d.limit == 0 and not d.degraded for d in decisions)
    assert [k async for k in client.scan_iter(match=f"{ns}:*")] == []


@pytest.mark.parametrize("fail_open", [True, False])
async def test_redis_down_fails_open_or_closed(
    down_client: aioredis.Redis, fail_open: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(MATCHING_RATE_LIMIT_FAIL_OPEN=fail_open, MATCHING_RATE_LIMIT_DISCOVER=2)
    limiter = RateLimiter(down_client, settings)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="matching.core.cache.caches"):
        decisions = [await limiter.check("u", "discover") for _ in range(5)]
    assert time.monotonic() - started < 5
    assert all(d.degraded for d in decisions)
    if fail_open:
        assert all(d.allowed and d.retry_after_s == 0 for d in decisions)
    else:
        assert all(not d.allowed and d.retry_after_s == 5 for d in decisions)
    assert not limiter.available and limiter.last_error
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert not await limiter.reset("u", "discover")


async def test_no_redis_configured_follows_the_policy() -> None:
    closed = RateLimiter(None, _settings(None, MATCHING_RATE_LIMIT_FAIL_OPEN=False))
    d = await closed.check("u", "swipes")
    assert d.degraded and not d.allowed and d.retry_after_s == 5
    opened = RateLimiter(None, _settings(None))
    assert (await opened.check("u", "swipes")).allowed


async def test_recovers_when_redis_comes_back(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    local = LocalRedis(tmp_path / "redis")
    url = local.start()
    c = create_client(_settings(url))
    assert c is not None
    try:
        limiter = RateLimiter(c, _settings(url, MATCHING_RATE_LIMIT_DISCOVER=1))
        assert not (await limiter.check("u", "discover")).degraded
        local.stop()
        assert (await limiter.check("u", "discover")).degraded
        assert not limiter.available
        local.start()
        d = await limiter.check("u", "discover")
        assert not d.degraded and d.allowed  # persistence off: the restarted Redis forgot
        assert limiter.available and limiter.last_error is None
    finally:
        await c.aclose()
        local.stop()


# --------------------------------------------------------------------------- caches


async def test_discover_cache_put_get_and_ttl(client: aioredis.Redis, ns: str) -> None:
    cache = DiscoverCache(client, _settings(MATCHING_DISCOVER_CACHE_TTL_S=1), namespace=ns)
    value = {"matches": [{"id": "c1", "score": 0.9}, {"id": "c2", "score": 0.5}], "n": 2}
    assert await cache.get("u") is None
    assert await cache.put("u", value, ["c1", "c2"])
    assert await cache.get("u") == value
    assert cache.available and cache.last_error is None
    await asyncio.sleep(1.2)
    assert await cache.get("u") is None
    assert [k async for k in client.scan_iter(match=f"{ns}:*")] == []  # index expired too


async def test_discover_cache_invalidation(client: aioredis.Redis, ns: str) -> None:
    cache = DiscoverCache(client, _settings(), namespace=ns)
    await cache.put("a", {"ids": ["c1", "c2"]}, ["c1", "c2"])
    await cache.put("b", {"ids": ["c2", "c3"]}, ["c2", "c3"])
    await cache.put("c", {"ids": ["c3"]}, ["c3"])
    await cache.put("d", {"ids": []}, [])

    assert await cache.invalidate_candidate("c2") == 2
    assert await cache.get("a") is None and await cache.get("b") is None
    assert await cache.get("c") == {"ids": ["c3"]}
    assert await cache.get("d") == {"ids": []}
    assert await cache.invalidate_candidate("c2") == 0

    # a re-put list without c3 must not be dropped for c3; the fresh list with c3 must be
    await cache.put("c", {"ids": ["c4"]}, ["c4"])
    await cache.put("e", {"ids": ["c3"]}, ["c3"])
    assert await cache.invalidate_candidate("c3") == 1
    assert await cache.get("c") == {"ids": ["c4"]}
    assert await cache.get("e") is None

    assert await cache.invalidate_user("c")
    assert await cache.get("c") is None
    assert await client.smembers(f"{ns}:discover:in:c4") == set()
    assert await cache.get("d") == {"ids": []}


async def test_feature_cache(client: aioredis.Redis, ns: str) -> None:
    cache = FeatureCache(client, _settings(MATCHING_FEATURES_CACHE_TTL_S=1), namespace=ns)
    assert await cache.get("u") is None
    assert await cache.put("u", {"age": 31, "interests": ["ai", "go"]})
    assert await cache.put_many({"v": {"age": 40}, "w": {"age": 22}})
    assert await cache.get("u") == {"age": 31, "interests": ["ai", "go"]}
    assert await cache.get_many(["u", "v", "x"]) == {
        "u": {"age": 31, "interests": ["ai", "go"]},
        "v": {"age": 40},
    }
    assert await cache.invalidate("v")
    assert await cache.get("v") is None
    await asyncio.sleep(1.2)
    assert await cache.get_many(["u", "w"]) == {}


async def test_caches_with_redis_down(
    down_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    discover = DiscoverCache(down_client, _settings())
    features = FeatureCache(down_client, _settings())
    with caplog.at_level(logging.WARNING, logger="matching.core.cache.caches"):
        assert await discover.get("u") is None
        assert await discover.put("u", {"x": 1}, ["c"]) is False
        assert await discover.invalidate_user("u") is False
        assert await discover.invalidate_candidate("c") is None
        assert await features.get("u") is None
        assert await features.put("u", {"x": 1}) is False
        assert await features.invalidate("u") is False
    assert not discover.available and discover.last_error
    assert not features.available and features.last_error
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per component and outage, not one per call


async def test_caches_without_redis_or_with_ttl_zero(client: aioredis.Redis, ns: str) -> None:
    none = DiscoverCache(None, _settings(None))
    assert await none.get("u") is None and not await none.put("u", {}, [])
    assert not none.available and none.last_error
    off = DiscoverCache(client, _settings(MATCHING_DISCOVER_CACHE_TTL_S=0), namespace=ns)
    assert not await off.put("u", {"x": 1}, ["c"])
    assert await off.get("u") is None
