"""Nothing waits forever: a hanging stage or a slow database is a 503 naming it (with
Retry-After) within its timeout, a slow Redis is served around, and a like made while a
scoring stage is down is kept and scored later. Real PostgreSQL, Redis and model."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.errors import DependencyUnavailable
from matching.core.api.resources import Resources
from matching.core.settings import Settings
from matching.core.stages import LocalStage, TimedStage
from matching.discovery.storage.matches import lock_pair
from serve_app.services import build_services
from tests.integration.conftest import App, make_settings, stop_app
from tests.support import connect, profile_body

STALL_S = 60.0  # far past every timeout below: a test that waited for it would be obvious
BOUND_S = 10.0  # a request that takes this long waited on something it should not have
BERLIN = {"latitude": 52.52, "longitude": 13.405}


class StallingReranker(Reranker):
    """The real reranker, which hangs (a stuck replica) while `stalled` is set."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.stalled = False

    async def _stall(self) -> None:
        if self.stalled:
            await asyncio.sleep(STALL_S)

    async def rank(self, *args: Any, **kwargs: Any) -> Any:
        await self._stall()
        return super().rank(*args, **kwargs)

    async def score_pair(self, *args: Any, **kwargs: Any) -> Any:
        await self._stall()
        return super().score_pair(*args, **kwargs)


@asynccontextmanager
async def app_with(settings: Settings, embedder: Embedder) -> AsyncIterator[App]:
    """The in-process app (as conftest's running_app) with a StallingReranker."""
    retriever = Retriever(settings)
    await retriever.start()
    reranker = LocalStage(StallingReranker(settings))
    resources = Resources(settings, LocalStage(embedder), LocalStage(retriever), reranker)
    await resources.start()
    app = App(build_services(resources), retriever)
    try:
        yield app
    finally:
        await stop_app(app)


def reranker_of(app: App) -> StallingReranker:
    local = app.resources.reranker.stage
    assert isinstance(local, LocalStage) and isinstance(local.target, StallingReranker)
    return local.target


async def put(app: App, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    response = await app.client.put(f"/v1/profiles/{uid}", json=profile_body(name, **fields))
    assert response.status_code == 201, response.text
    return uid


async def swipe(app: App, a: str, b: str, action: str = "like") -> Any:
    body = {"swiper_id": a, "swiped_id": b, "action": action}
    return await app.client.post("/v1/swipes", json=body)


def assert_unavailable(response: Any, dependency: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["field"] == dependency
    assert int(response.headers["Retry-After"]) > 0


# --------------------------------------------------------------------------- stages


async def test_timed_stage_bounds_a_hanging_call_and_passes_answers_through() -> None:
    class Target:
        async def hang(self) -> None:
            await asyncio.sleep(STALL_S)

        def add(self, x: int, y: int) -> int:
            return x + y

        async def boom(self) -> None:
            raise LookupError("its own error")

    stage = TimedStage("scorer", LocalStage(Target()), 0.2)
    assert await stage.add.remote(2, y=3) == 5
    with pytest.raises(LookupError):  # a stage's own error is not a timeout
        await stage.boom.remote()
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable) as caught:
        await stage.hang.remote()
    assert time.monotonic() - started < BOUND_S
    assert caught.value.field == "scorer" and "hang" in caught.value.message
    with pytest.raises(ValueError):
        TimedStage("scorer", LocalStage(Target()), 0)


async def test_a_hanging_stage_is_a_503_naming_it_within_the_timeout(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(fresh_database, tmp_path, MATCHING_STAGE_TIMEOUT_S="0.5")
    async with app_with(settings, embedder) as app:
        me = await put(app, "Me", **BERLIN)
        await put(app, "Other", **BERLIN)
        reranker_of(app).stalled = True
        started = time.monotonic()
        hung = await app.client.get(f"/v1/users/{me}/discover")
        assert time.monotonic() - started < BOUND_S
        assert_unavailable(hung, "reranker")
        reranker_of(app).stalled = False  # the replica recovers: so does the route
        answered = await app.client.get(f"/v1/users/{me}/discover")
        assert answered.status_code == 200 and answered.json()["count"] == 1


# --------------------------------------------------------------------------- database


async def test_a_statement_past_the_database_timeout_is_a_503(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(fresh_database, tmp_path, MATCHING_DB_TIMEOUT_S="1")
    async with app_with(settings, embedder) as app:
        a, b = await put(app, "A", **BERLIN), await put(app, "B", **BERLIN)
        other = await connect(fresh_database)
        try:
            async with other.transaction():  # another writer holds the pair: the swipe waits
                await lock_pair(other, uuid.UUID(a), uuid.UUID(b))
                waited = await asyncio.wait_for(swipe(app, a, b), BOUND_S)
                assert_unavailable(waited, "database")
            stored = await other.fetchval("SELECT count(*) FROM swipe_history")
            assert stored == 0  # the timed-out transaction wrote nothing
        finally:
            await other.close()
        assert (await swipe(app, a, b)).status_code == 200  # the pool's connection still works


async def test_an_exhausted_pool_is_a_503_not_a_hang(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(
        fresh_database, tmp_path, MATCHING_DB_TIMEOUT_S="0.5", MATCHING_DB_POOL_MAX="2"
    )
    async with app_with(settings, embedder) as app:
        me = await put(app, "Me", **BERLIN)
        pool = app.resources.pool
        held = [await pool.acquire() for _ in range(2)]
        try:
            waited = await asyncio.wait_for(app.client.get(f"/v1/users/{me}/matches"), BOUND_S)
            assert_unavailable(waited, "database")
        finally:
            for conn in held:
                await pool.release(conn)
        assert (await app.client.get(f"/v1/users/{me}/matches")).status_code == 200


# --------------------------------------------------------------------------- Redis


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a hung Redis."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_hung_redis_is_served_around(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    async with silent_server() as port:
        settings = make_settings(
            fresh_database,
            tmp_path,
            REDIS_URL=f"redis://127.0.0.1:{port}/0",
            MATCHING_REDIS_TIMEOUT_S="0.2",
            MATCHING_DISCOVER_CACHE_TTL_S="600",  # the cache would be used: it is skipped
        )
        async with app_with(settings, embedder) as app:
            me = await put(app, "Me", **BERLIN)
            other = await put(app, "Other", **BERLIN)
            # as the user: an internal key has no rate budget, a user's is kept in Redis
            as_me = app.bearer(me)
            discover = app.bare.get(f"/v1/users/{me}/discover", headers=as_me)
            found = await asyncio.wait_for(discover, BOUND_S)
            assert found.status_code == 200 and found.json()["count"] == 1
            body = {"swiper_id": me, "swiped_id": other, "action": "like"}
            liked = await app.bare.post("/v1/swipes", json=body, headers=as_me)
            assert liked.status_code == 200  # limits fail open
            assert app.resources.discover_cache.available is False
            assert app.resources.limiter.available is False


# --------------------------------------------------------------------------- deferred score


async def outbox_events(app: App, event_type: str) -> list[dict[str, Any]]:
    rows = await app.resources.pool.fetch(
        "SELECT payload FROM event_outbox WHERE event_type = $1 ORDER BY id", event_type
    )
    return [dict(r["payload"]) for r in rows]


async def maintain(app: App) -> dict[str, Any]:
    [discovery] = [m for m in app.services.modes if m.name == "discovery"]
    return await discovery.maintain()


async def test_a_like_while_the_reranker_hangs_is_kept_and_scored_later(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(fresh_database, tmp_path, MATCHING_STAGE_TIMEOUT_S="0.5")
    async with app_with(settings, embedder) as app:
        a, b = await put(app, "A", **BERLIN), await put(app, "B", **BERLIN, company="Other")
        reranker_of(app).stalled = True
        assert (await swipe(app, a, b)).status_code == 200
        second = await swipe(app, b, a, "super_like")
        assert second.status_code == 200, second.text
        body = second.json()
        assert body["mutual"] is True and body["changed"] is True
        match = body["match"]
        assert match["status"] == "mutual" and match["compatibility_score"] is None
        assert match["match_reason"]["score_pending"] is True
        [created] = await outbox_events(app, "match.created")
        assert created["match_id"] == match["match_id"]
        assert created["compatibility_score"] is None

        # maintenance while the stage still hangs: nothing scored, nothing lost
        assert (await maintain(app))["scored"] == 0
        still = await app.client.get(f"/v1/matches/{match['match_id']}")
        assert still.status_code == 200 and still.json()["compatibility_score"] is None

        reranker_of(app).stalled = False
        assert (await maintain(app))["scored"] == 1
        scored = (await app.client.get(f"/v1/matches/{match['match_id']}")).json()
        assert 0 < scored["compatibility_score"] <= 1
        assert scored["algorithm_version"] == "weighted-v1"
        assert "score_pending" not in scored["match_reason"]
        [event] = await outbox_events(app, "match.scored")
        assert event["match_id"] == match["match_id"]
        assert event["compatibility_score"] == scored["compatibility_score"]
        assert len(await outbox_events(app, "match.created")) == 1  # created once
        assert (await maintain(app))["scored"] == 0  # and scored once
        swipes = await app.resources.pool.fetchval("SELECT count(*) FROM swipe_history")
        assert swipes == 2
