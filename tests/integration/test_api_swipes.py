"""Swipes, matches, analytics and history-aware discover, over the in-process HTTP app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from deployments.embedder import Embedder
from tests.integration.conftest import App, make_settings, running_app
from tests.support import profile_body

BERLIN = {"latitude": 52.52, "longitude": 13.405}


async def put(app: App, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    response = await app.client.put(f"/v1/profiles/{uid}", json=profile_body(name, **fields))
    assert response.status_code == 201, response.text
    return uid


async def swipe(app: App, a: str, b: str, action: str = "like") -> Any:
    return await app.client.post(
        "/v1/swipes",
        json={
            "swiper_id": a,
            "swiped_id": b,
            "action": action,
            "context": {"source": "discover", "position_in_stack": 1},
        },
    )


async def test_mutual_like_creates_one_match_with_score_and_events(app: App) -> None:
    a, b = await put(app, "A", **BERLIN), await put(app, "B", **BERLIN, company="Other")
    first = await swipe(app, a, b)
    assert first.status_code == 200, first.text
    assert first.json()["mutual"] is False and first.json()["match"] is None
    second = await swipe(app, b, a, "super_like")
    body = second.json()
    assert body["mutual"] is True
    match = body["match"]
    assert match["status"] == "mutual"
    assert 0 < match["compatibility_score"] <= 1
    assert match["algorithm_version"] == "weighted-v1"
    assert "shared_interests" in match["match_reason"]
    again = await swipe(app, b, a, "super_like")
    assert again.json()["changed"] is False
    async with app.resources.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM user_matches") == 1
        types = [
            r["event_type"]
            for r in await conn.fetch("SELECT event_type FROM event_outbox ORDER BY id")
        ]
    assert types == ["swipe.performed", "swipe.performed", "match.created"]


async def test_swipe_errors_name_the_field(app: App) -> None:
    a, b = await put(app, "A"), await put(app, "B")
    assert (await swipe(app, a, b, "pass")).status_code == 200
    assert (await swipe(app, a, b, "like")).status_code == 200  # pass -> like is allowed
    back = await swipe(app, a, b, "pass")
    assert back.status_code == 409 and back.json()["field"] == "action"
    missing = await swipe(app, a, str(uuid.uuid4()))
    assert missing.status_code == 404 and missing.json()["field"] == "swiped_id"
    own = await swipe(app, a, a)
    assert own.status_code == 422 and own.json()["field"] == "swiped_id"
    wrong = await app.client.post(
        "/v1/swipes", json={"swiper_id": a, "swiped_id": b, "action": "love"}
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "action"


async def test_discover_leaves_out_swiped_and_matched_and_records_impressions(app: App) -> None:
    me = await put(app, "Me", **BERLIN)
    others = [await put(app, f"O{i}", **BERLIN, company=f"C{i}") for i in range(4)]
    seen = {
        c["user_id"]
        for c in (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    }
    assert set(others) <= seen
    await swipe(app, me, others[0], "pass")
    await swipe(app, me, others[1], "like")
    await swipe(app, others[1], me, "like")
    after = {
        c["user_id"]
        for c in (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    }
    assert after == set(others[2:])
    await app.services.mode("discovery").stop()  # impressions are written after responses
    async with app.resources.pool.acquire() as conn:
        shown = await conn.fetchval(
            "SELECT count(*) FROM matching_analytics WHERE user_id = $1 "
            "AND event_type = 'match_shown'",
            uuid.UUID(me),
        )
    assert shown == len(seen) + len(after)


async def test_match_lifecycle_over_http(app: App) -> None:
    a, b, c = [await put(app, n, **BERLIN, company=n) for n in ("A", "B", "C")]
    await swipe(app, a, b)
    match = (await swipe(app, b, a)).json()["match"]
    mid = match["match_id"]
    assert (await app.client.get(f"/v1/matches/{mid}")).json()["status"] == "mutual"
    outsider = await app.client.patch(
        f"/v1/matches/{mid}", json={"status": "declined", "updated_by": c}
    )
    assert outsider.status_code == 403 and outsider.json()["field"] == "updated_by"
    back = await app.client.patch(f"/v1/matches/{mid}", json={"status": "pending", "updated_by": a})
    assert back.status_code == 409 and back.json()["field"] == "status"
    done = await app.client.patch(
        f"/v1/matches/{mid}", json={"status": "declined", "updated_by": a}
    )
    assert done.status_code == 200 and done.json()["status"] == "declined"
    page = (await app.client.get(f"/v1/users/{a}/matches?status=declined")).json()
    assert [m["match_id"] for m in page["matches"]] == [mid] and page["next_cursor"] is None
    assert (await app.client.get(f"/v1/matches/{uuid.uuid4()}")).status_code == 404
    bad = await app.client.get(f"/v1/users/{a}/matches?cursor=garbage")
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_analytics_and_stats(app: App) -> None:
    a, b = await put(app, "A", **BERLIN), await put(app, "B", **BERLIN, company="B")
    await swipe(app, a, b)
    await swipe(app, b, a)
    ok = await app.client.post(
        "/v1/analytics",
        json={"user_id": a, "event_type": "conversation_started", "target_user_id": b},
    )
    assert ok.status_code == 202
    bad = await app.client.post("/v1/analytics", json={"user_id": a, "event_type": "nope"})
    assert bad.status_code == 422 and bad.json()["field"] == "event_type"
    stats = (await app.client.get(f"/v1/users/{a}/stats")).json()
    assert stats["likes_given"] == 1 and stats["likes_received"] == 1
    assert stats["mutual_rate"] == 1.0
    assert (await app.client.get(f"/v1/users/{uuid.uuid4()}/stats")).status_code == 404
    service = (await app.client.get("/v1/stats")).json()
    assert service["matches_total"] >= 1 and service["matches_by_status"]["mutual"] >= 1


async def test_people_going_to_the_same_event_get_a_visible_boost(app: App) -> None:
    me, friend, other = [await put(app, n, **BERLIN, company=n) for n in ("Me", "F", "O")]
    async with app.resources.pool.acquire() as conn:
        for user in (me, friend):
            await conn.execute(
                "INSERT INTO event_registrations (event_id, user_id, event_category, event_tags)"
                " VALUES ('pycon-berlin', $1, 'tech', '{python}')",
                uuid.UUID(user),
            )
    found = {
        c["user_id"]: c
        for c in (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    }
    assert found[friend]["reasons"]["shared_events"] == ["pycon-berlin"]
    assert "both attending pycon-berlin" in found[friend]["reasons"]["summary"]
    assert found[other]["reasons"]["shared_events"] == []


@pytest_asyncio.fixture
async def cached_app(fresh_database: str, tmp_path: Path, embedder: Embedder) -> AsyncIterator[App]:
    settings = make_settings(
        fresh_database,
        tmp_path / "artifacts",
        MATCHING_DISCOVER_CACHE_TTL_S="600",
        MATCHING_RATE_LIMIT_SWIPES="3",
    )
    async with running_app(settings, embedder) as started:
        yield started


async def test_discover_cache_and_its_invalidation(cached_app: App) -> None:
    app = cached_app
    me = await put(app, "Me", **BERLIN)
    a, b = await put(app, "A", **BERLIN, company="A"), await put(app, "B", **BERLIN, company="B")
    first = (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    late = await put(app, "Late", **BERLIN, company="L")
    cached = (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    assert cached == first and late not in {c["user_id"] for c in cached}  # served from cache
    await swipe(app, me, a, "pass")  # my swipe drops my list
    fresh = {
        c["user_id"]
        for c in (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    }
    assert fresh == {b, late}
    assert (await app.client.delete(f"/v1/profiles/{b}")).status_code == 204
    gone = {
        c["user_id"]
        for c in (await app.client.get(f"/v1/users/{me}/discover")).json()["candidates"]
    }
    assert gone == {late}


async def test_swipe_rate_limit_answers_429_with_retry_after(cached_app: App) -> None:
    app = cached_app
    me = await put(app, "Me")
    targets = [await put(app, f"T{i}") for i in range(5)]
    # The budget is the authenticated user's (the internal key App.client sends is unlimited).
    answers = await asyncio.gather(
        *(
            app.bare.post(
                "/v1/swipes",
                json={"swiper_id": me, "swiped_id": t, "action": "pass"},
                headers=app.bearer(me),
            )
            for t in targets
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 200, 200, 429, 429]
    limited = next(r for r in answers if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    async with app.resources.pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM swipe_history WHERE swiper_id = $1", uuid.UUID(me)
            )
            == 3
        )


async def test_blocking_hides_both_ways_and_ends_an_open_match(app: App) -> None:
    me, them, other, stranger = [
        await put(app, n, **BERLIN, company=n) for n in ("Me", "Them", "O", "S")
    ]
    before = (await app.client.get(f"/v1/users/{stranger}/discover")).json()["candidates"]
    assert me in {c["user_id"] for c in before}
    assert (
        await app.client.post(f"/v1/users/{me}/blocks", json={"blocked_id": stranger})
    ).status_code == 204
    await swipe(app, me, them)
    match = (await swipe(app, them, me)).json()["match"]
    block = await app.client.post(f"/v1/users/{me}/blocks", json={"blocked_id": them})
    assert block.status_code == 204
    assert (await app.client.get(f"/v1/matches/{match['match_id']}")).json()["status"] == "declined"
    for viewer, hidden in ((me, stranger), (stranger, me)):
        seen = (await app.client.get(f"/v1/users/{viewer}/discover")).json()["candidates"]
        assert hidden not in {c["user_id"] for c in seen}
    assert other in {
        c["user_id"]
        for c in (await app.client.get(f"/v1/users/{them}/discover")).json()["candidates"]
    }
    own = await app.client.post(f"/v1/users/{me}/blocks", json={"blocked_id": me})
    assert own.status_code == 422 and own.json()["field"] == "blocked_id"
    missing = await app.client.post(
        f"/v1/users/{me}/blocks", json={"blocked_id": str(uuid.uuid4())}
    )
    assert missing.status_code == 404 and missing.json()["field"] == "blocked_id"
    assert (await app.client.delete(f"/v1/users/{me}/blocks/{them}")).status_code == 204
