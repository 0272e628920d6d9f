"""Pairing's routes in-process over real PostgreSQL, Redis and the real model: pools,
opt-in and out, status, history; who may do what; bad input answered 4xx naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
import redis.asyncio as aioredis

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.resources import Resources
from matching.core.settings import Settings
from matching.core.stages import LocalStage
from matching.pairing.runner import Runner
from serve_app.services import build_services
from tests.integration.conftest import REDIS_URL, App, stop_app
from tests.support import profile_body


@pytest_asyncio.fixture
async def papp(settings: Settings, embedder: Embedder) -> AsyncIterator[App]:
    """The app with discovery and pairing enabled."""
    retriever = Retriever(settings)
    await retriever.start()
    resources = Resources(
        settings, LocalStage(embedder), LocalStage(retriever), LocalStage(Reranker(settings))
    )
    await resources.start()
    started = App(build_services(resources, ("discovery", "pairing")), retriever)
    try:
        yield started
    finally:
        await stop_app(started)


async def _people(app: App, n: int) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        user = uuid.uuid4()
        body = profile_body(f"P{i}", company=f"co{i}", bio="I build data pipelines in Python.")
        assert (await app.client.put(f"/v1/profiles/{user}", json=body)).status_code in (200, 201)
        ids.append(user)
    return ids


def _pool() -> str:
    return f"api-{uuid.uuid4().hex[:10]}"


async def test_open_opt_in_run_and_read_history(papp: App) -> None:
    pool = _pool()
    a, b = await _people(papp, 2)
    assert (await papp.client.put(f"/v1/pools/{pool}")).json() == {"pool": pool, "created": True}
    assert (await papp.client.put(f"/v1/pools/{pool}")).json()["created"] is False
    mine = await papp.bare.post(
        f"/v1/pools/{pool}/seekers",
        json={"criteria": {"age_min": 20, "age_max": 60}},
        headers=papp.bearer(a),
    )
    assert mine.status_code == 201 and mine.json()["user_id"] == str(a)
    theirs = await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(b)})
    assert theirs.status_code == 201
    status = (await papp.bare.get(f"/v1/pools/{pool}", headers=papp.bearer(a))).json()
    assert status["size"] == 2 and status["next_cycle_at"] is None
    assert status["you"] == {"waiting": True, "cycles_waited": 0, "prioritised": False,
                             "estimated_chance": None}  # fmt: skip
    async with aioredis.from_url(REDIS_URL) as redis:
        report = await Runner(papp.resources.settings, papp.resources.pool, redis).run(pool)
    assert report.pairs == 1
    history = await papp.bare.get(f"/v1/users/{a}/pairings", headers=papp.bearer(a))
    (pairing,) = history.json()["pairings"]
    assert pairing["partner_id"] == str(b) and pairing["status"] == "completed"
    after = (await papp.client.get(f"/v1/pools/{pool}", params={"user_id": str(a)})).json()
    assert after["size"] == 0 and after["you"]["waiting"] is False
    assert after["next_cycle_at"] is not None and after["last_cycle_id"] == report.cycle_id


async def test_opt_out(papp: App) -> None:
    pool = _pool()
    (a,) = await _people(papp, 1)
    await papp.client.put(f"/v1/pools/{pool}")
    await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(a)})
    gone = await papp.bare.delete(f"/v1/pools/{pool}/seekers/{a}", headers=papp.bearer(a))
    assert gone.status_code == 204
    again = await papp.bare.delete(f"/v1/pools/{pool}/seekers/{a}", headers=papp.bearer(a))
    assert again.status_code == 404 and again.json()["field"] == "user_id"


async def test_nobody_acts_or_reads_as_someone_else(papp: App) -> None:
    pool = _pool()
    a, b = await _people(papp, 2)
    await papp.client.put(f"/v1/pools/{pool}")
    as_a = papp.bearer(a)
    cases = [
        await papp.bare.put(f"/v1/pools/{_pool()}", headers=as_a),
        await papp.bare.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(b)}, headers=as_a),
        await papp.bare.delete(f"/v1/pools/{pool}/seekers/{b}", headers=as_a),
        await papp.bare.get(f"/v1/pools/{pool}", params={"user_id": str(b)}, headers=as_a),
        await papp.bare.get(f"/v1/users/{b}/pairings", headers=as_a),
    ]
    assert [r.status_code for r in cases] == [403] * 5
    assert (await papp.bare.get(f"/v1/pools/{pool}")).status_code == 401
    assert await papp.resources.pool.fetchval("SELECT count(*) FROM pairing_seekers") == 0


async def test_bad_input_names_the_field(papp: App) -> None:
    pool = _pool()
    (a,) = await _people(papp, 1)
    await papp.client.put(f"/v1/pools/{pool}")
    bad = [
        (await papp.client.put("/v1/pools/Bad Name!"), "pool"),
        (await papp.client.post(f"/v1/pools/{pool}/seekers", json={}), "user_id"),
        (await papp.client.post(f"/v1/pools/{pool}/seekers", json={
            "user_id": str(a), "criteria": {"age_min": 50, "age_max": 30}}), "criteria"),
        (await papp.client.post(f"/v1/pools/{pool}/seekers", json={
            "user_id": str(a), "criteria": {"max_distance_km": -1}}), "criteria.max_distance_km"),
        (await papp.client.post("/v1/pools/nope/seekers", json={"user_id": str(a)}), "pool"),
        (await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(uuid.uuid4())}),
         "user_id"),
        (await papp.client.get("/v1/pools/nope"), "pool"),
    ]  # fmt: skip
    assert [(r.status_code // 100, r.json()["field"]) for r, _ in bad] == [
        (4, field) for _, field in bad
    ]


async def test_recent_cycles_are_for_admins(papp: App) -> None:
    pool, other = _pool(), _pool()
    people = await _people(papp, 2)
    for name in (pool, other):
        await papp.client.put(f"/v1/pools/{name}")
    for user in people:
        await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(user)})
    async with aioredis.from_url(REDIS_URL) as redis:
        runner = Runner(papp.resources.settings, papp.resources.pool, redis)
        first, second, empty = (
            await runner.run(pool),
            await runner.run(pool),
            await runner.run(other),
        )
    admin = papp.bearer(uuid.uuid4(), "admin")
    answer = await papp.bare.get("/v1/pairing/cycles", headers=admin, params={"limit": 5})
    assert answer.status_code == 200, answer.text
    pools = {p["pool"]: p["cycles"] for p in answer.json()["pools"]}
    assert [c["cycle_id"] for c in pools[pool]] == [second.cycle_id, first.cycle_id]  # newest first
    assert [c["cycle_id"] for c in pools[other]] == [empty.cycle_id]
    ran = pools[pool][1]
    assert (ran["status"], ran["seekers"], ran["pairs"]) == ("completed", 2, 1)
    assert ran["optimal_total"] == first.optimal_total and ran["greedy_total"] == first.greedy_total
    assert ran["started_at"] <= ran["finished_at"]
    one = await papp.client.get("/v1/pairing/cycles", params={"pool": pool, "limit": 1})
    assert [(p["pool"], [c["cycle_id"] for c in p["cycles"]]) for p in one.json()["pools"]] == [
        (pool, [second.cycle_id])
    ]
    user = papp.bearer(people[0])
    assert (await papp.bare.get("/v1/pairing/cycles", headers=user)).status_code == 403
    assert (await papp.bare.get("/v1/pairing/cycles")).status_code == 401
    for params, field in (({"pool": "Bad Name!"}, "pool"), ({"limit": 0}, "limit")):
        bad = await papp.client.get("/v1/pairing/cycles", params=params)
        assert (bad.status_code, bad.json()["field"]) == (422, field)


async def test_erasing_a_seeker_takes_their_pool_rows_and_pairs(papp: App) -> None:
    pool = _pool()
    a, b, c = await _people(papp, 3)
    await papp.client.put(f"/v1/pools/{pool}")
    for user in (a, b):
        await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(user)})
    async with aioredis.from_url(REDIS_URL) as redis:
        await Runner(papp.resources.settings, papp.resources.pool, redis).run(pool)
    await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(a)})
    await papp.client.post(f"/v1/pools/{pool}/seekers", json={"user_id": str(c)})
    assert (await papp.client.delete(f"/v1/profiles/{a}")).status_code == 204
    db = papp.resources.pool
    assert await db.fetchval("SELECT count(*) FROM pairing_audit") == 0
    assert await db.fetchval("SELECT array_agg(user_id) FROM pairing_seekers") == [c]
    erased = await db.fetchval("SELECT payload FROM event_outbox WHERE event_type = 'user.erased'")
    assert erased["pairing_pools"] == [pool]
    assert erased["pairing_pairs"] == [":".join(str(u) for u in sorted((a, b)))]
