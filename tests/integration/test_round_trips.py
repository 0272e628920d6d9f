"""One database round trip per discover, impressions after the response, and a write seen at
once on another replica: counted on the real pools with asyncpg's query loggers."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import asyncpg
import pytest

from deployments.embedder import Embedder
from matching.core.settings import Settings
from matching.discovery import service as service_module
from matching.discovery.mode import Discovery
from matching.discovery.service import DiscoveryService
from serve_app.workers import BackgroundWork
from tests.integration.conftest import App, running_app, start_app, stop_app
from tests.support import connect, profile_body

_INTROSPECTION = ("typeinfo_tree", "current_setting('jit')", "set_config('jit'")


class Trips:
    """Every statement the watched pools send, in order."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.reset = ""

    async def watch(self, pool: asyncpg.Pool) -> None:
        # every connection the pool may hand out: all of them checked out at once
        held = [await pool.acquire() for _ in range(pool.get_max_size())]
        for conn in held:
            conn.add_query_logger(lambda q: self.queries.append(q.query))
            self.reset = conn.get_reset_query()
        for conn in held:
            await pool.release(conn)

    async def take(self) -> tuple[list[str], int]:
        """(the statements since the last take, the pool resets among them)."""
        for _ in range(3):  # loggers are called soon after each statement
            await asyncio.sleep(0)
        # asyncpg asks the server about a type the first time a connection meets it: once
        # per pooled connection, not per request
        taken = [q for q in self.queries if not any(m in q for m in _INTROSPECTION)]
        self.queries = []
        return [q for q in taken if q != self.reset], sum(q == self.reset for q in taken)


async def watched(app: App) -> Trips:
    """Statements from now on; impressions wait to be flushed by the test, and the activity
    read (once per ACTIVITY_REFRESH_S, not per request) is not due while it counts."""
    buffer = discovery(app).impressions
    buffer.every_s = 60.0
    await buffer.close()  # what earlier requests queued is written before counting
    app.retriever._activity_due = time.monotonic() + 3600
    trips = Trips()
    await trips.watch(app.resources.pool)
    await trips.watch(app.retriever._pool)  # the single composition's retriever has its own
    await trips.take()
    return trips


def discovery(app: App) -> DiscoveryService:
    mode = app.services.mode("discovery")
    assert isinstance(mode, Discovery)
    return mode.service


async def put(app: App, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    body = profile_body(name, company=f"Co {name}", **fields)
    assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
    return uid


async def people(app: App) -> dict[str, str]:
    """A requester, two going to the requester's event, one swiped on, and two more."""
    ids = {name: await put(app, name) for name in ("me", "fan", "fan2", "swiped", "p1", "p2")}
    like = {"swiper_id": ids["me"], "swiped_id": ids["swiped"], "action": "like"}
    assert (await app.client.post("/v1/swipes", json=like)).status_code == 200
    await app.resources.pool.execute(
        "INSERT INTO event_registrations (event_id, user_id) "
        "SELECT e, u FROM unnest($1::text[], $2::uuid[]) AS t(e, u)",
        ["meetup", "meetup", "meetup", "expo", "expo"],
        [uuid.UUID(ids[n]) for n in ("me", "fan", "fan2", "me", "fan")],
    )
    return ids


async def discover(app: App, user: str) -> dict[str, dict[str, Any]]:
    response = await app.client.get(f"/v1/users/{user}/discover?limit=50")
    assert response.status_code == 200, response.text
    return {c["user_id"]: c for c in response.json()["candidates"]}


async def impressions(app: App, user: str) -> int:
    sql = "SELECT count(*) FROM matching_analytics WHERE user_id = $1 AND event_type = $2"
    return int(await app.resources.pool.fetchval(sql, uuid.UUID(user), "match_shown"))


async def test_one_discover_is_one_statement_and_impressions_come_after(app: App) -> None:
    ids = await people(app)
    await discover(app, ids["me"])  # the first asks the reranker's version and replays the log
    trips = await watched(app)
    shown = await discover(app, ids["me"])
    statements, resets = await trips.take()
    assert len(statements) == 1 and resets == 1, statements  # one acquire, one statement
    assert "index_changes" in statements[0] and "swipe_history" in statements[0]
    assert set(shown) == {ids[n] for n in ("fan", "fan2", "p1", "p2")}  # not "swiped"
    assert shown[ids["fan"]]["reasons"]["shared_events"] == ["expo", "meetup"]
    assert shown[ids["fan2"]]["reasons"]["shared_events"] == ["meetup"]
    assert shown[ids["p1"]]["reasons"]["shared_events"] == []
    before = await impressions(app, ids["me"])
    await discovery(app).impressions.flush()
    statements, _ = await trips.take()
    assert sum("INSERT INTO matching_analytics" in q for q in statements) == 1  # one batch
    assert await impressions(app, ids["me"]) == before + len(shown)


async def test_many_co_attendees_are_matched_in_a_second_trip(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await people(app)
    expected = await discover(app, ids["me"])
    monkeypatch.setattr(service_module, "CO_ATTENDEES_MAX", 2)  # three registrations share
    trips = await watched(app)
    shown = await discover(app, ids["me"])
    statements, _ = await trips.take()
    assert len(statements) == 2 and "event_registrations r" in statements[1]
    assert shown == expected


async def test_a_write_on_one_app_is_seen_by_the_other_at_once(
    settings: Settings, embedder: Embedder
) -> None:
    """The other app's retriever replays the log when the context shows it is behind, and
    only then."""
    async with running_app(settings, embedder) as one, running_app(settings, embedder) as other:
        ids = await people(one)
        assert set(await discover(other, ids["me"])) == set(await discover(one, ids["me"]))
        trips = await watched(other)
        new = await put(one, "new")
        assert new in await discover(other, ids["me"])
        statements, _ = await trips.take()
        assert len(statements) == 3  # the context, the changes after it, the people changed
        assert "index_changes" in statements[1] and "index_changes" not in statements[2]
        await discover(other, ids["me"])
        assert len((await trips.take())[0]) == 1
        younger = profile_body("new", preferences={"age_max": 30})  # "me" is 34
        assert (await one.client.put(f"/v1/profiles/{new}", json=younger)).status_code == 200
        assert new not in await discover(other, ids["me"])
        assert (await one.client.delete(f"/v1/profiles/{ids['fan']}")).status_code == 204
        assert ids["fan"] not in await discover(other, ids["me"])
        assert (await other.client.get(f"/v1/users/{ids['fan']}/discover")).status_code == 404


async def test_impressions_are_written_by_the_flusher_on_its_own(app: App) -> None:
    ids = await people(app)
    shown = await discover(app, ids["me"])
    deadline = time.monotonic() + 10
    while await impressions(app, ids["me"]) < len(shown):
        assert time.monotonic() < deadline, discovery(app).impressions.info()
        await asyncio.sleep(0.05)
    assert discovery(app).impressions.info()["waiting"] == 0


async def test_impressions_survive_a_clean_shutdown(settings: Settings, embedder: Embedder) -> None:
    app = await start_app(settings, embedder)
    try:
        ids = await people(app)
        discovery(app).impressions.every_s = 60.0
        shown = await discover(app, ids["me"])
        assert await impressions(app, ids["me"]) == 0  # not written on the request path
        await BackgroundWork(app.services).stop()  # what the replica's shutdown runs
    finally:
        await stop_app(app)
    assert settings.database.url is not None
    conn = await connect(settings.database.url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM matching_analytics")
    finally:
        await conn.close()
    assert count == len(shown)


async def test_a_failing_write_is_retried_then_dropped_never_failing_discover(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await people(app)
    buffer = discovery(app).impressions
    buffer.every_s, buffer.backoff_s = 60.0, 0.2
    rename = "ALTER TABLE {} RENAME TO {}"
    await app.resources.pool.execute(rename.format("matching_analytics", "analytics_away"))
    shown = await discover(app, ids["me"])  # the table is gone: discover answers all the same
    flushing = asyncio.create_task(buffer.flush())
    deadline = time.monotonic() + 10
    while "retrying" not in caplog.text:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await app.resources.pool.execute(rename.format("analytics_away", "matching_analytics"))
    await flushing  # a retry after the table came back writes them
    assert await impressions(app, ids["me"]) == len(shown)
    await app.resources.pool.execute(rename.format("matching_analytics", "analytics_away"))
    await discover(app, ids["me"])
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="matching.discovery.impressions"):
        await buffer.flush()  # every retry fails: logged and dropped, never raised
    assert "impressions not recorded" in caplog.text
    assert buffer.info() == {"waiting": 0, "written": len(shown), "dropped": len(shown)}
    await app.resources.pool.execute(rename.format("analytics_away", "matching_analytics"))
