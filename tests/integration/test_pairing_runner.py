"""The pairing cycle over real PostgreSQL and Redis: one runner at a time, fenced writes,
crash and recovery with every side effect exactly once, and events reaching a tansu broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from matching.core import metrics
from matching.core.domain.profile import ProfileIn
from matching.core.settings import Settings
from matching.core.storage.blocks import block
from matching.core.storage.db import create_pool
from matching.core.storage.profiles import upsert_profile
from matching.devtools.services import TansuBroker
from matching.pairing.runner import Runner, lease_name
from matching.pairing.solve import Pairing
from matching.pairing.storage import audit, pools
from matching.pairing.storage.audit import AuditRow
from matching.pairing.storage.pools import StaleFence
from tests.integration.conftest import REDIS_URL, make_settings
from tests.integration.test_outbox_relay import consume, make_relay
from tests.support import profile_body

VERSION = "test-model"
PAIR_EVENTS = Counter({"pairing.pair_created": 1, "pairing.chat_requested": 1,
                       "pairing.notify": 2, "pairing.metadata_updated": 1})  # fmt: skip
FAST = {"PAIRING_LEASE_TTL_S": "1.5", "PAIRING_HEARTBEAT_S": "0.3", "PAIRING_MIN_SCORE": "0.5"}


@pytest.fixture
def psettings(fresh_database: str, tmp_path: Path) -> Settings:
    return make_settings(fresh_database, tmp_path / "artifacts", **FAST)


@pytest_asyncio.fixture
async def db(psettings: Settings) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(psettings.database)
    try:
        yield p
    finally:
        await p.close()


@pytest_asyncio.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def pool_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"  # Redis db 15 is shared: a name of its own


async def seed(db: asyncpg.Pool, pool: str, clusters: int) -> list[list[uuid.UUID]]:
    """`clusters` pairs of near-identical people (far from the other pairs), opted in."""
    rng = np.random.default_rng(5)
    out = []
    async with db.acquire() as conn:
        await pools.open_pool(conn, pool)
        for c in range(clusters):
            centre = np.zeros(384)
            centre[c] = 1.0
            members = []
            for k in range(2):
                user = uuid.uuid4()
                vector = centre + rng.normal(scale=0.02, size=384)
                body = ProfileIn(**profile_body(f"C{c}-{k}", company=f"co{c}{k}"))
                await upsert_profile(conn, user, body, vector / np.linalg.norm(vector), VERSION)
                await pools.add_seeker(conn, pool, user, {})
                members.append(user)
            out.append(members)
    return out


async def pair_events(db: asyncpg.Pool) -> dict[str, Counter[str]]:
    rows = await db.fetch(
        "SELECT message_key, event_type FROM event_outbox WHERE event_type <> 'pairing.unmatched'"
    )
    out: dict[str, Counter[str]] = {}
    for r in rows:
        out.setdefault(r["message_key"], Counter())[r["event_type"]] += 1
    return out


def _cycles(pool: str) -> dict[str, float]:
    name = "matching_pairing_cycles_total"
    return {s: metrics.value(name, pool=pool, status=s) for s in ("completed", "busy", "failed")}


def expected_keys(clusters: list[list[uuid.UUID]]) -> set[str]:
    return {":".join(str(u) for u in sorted(c)) for c in clusters}


async def test_a_cycle_pairs_the_best_partners_once(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    clusters = await seed(db, pool_name, 3)
    report = await Runner(psettings, db, redis).run(pool_name)
    assert (report.status, report.seekers, report.pairs) == ("completed", 6, 3)
    assert report.optimal_total >= report.greedy_total > 1.5
    assert _cycles(pool_name) == {"completed": 1, "busy": 0, "failed": 0}
    assert metrics.value("matching_pairing_cycle_seconds", pool=pool_name) == 1
    for algorithm, total in (("optimal", report.optimal_total), ("greedy", report.greedy_total)):
        weight = metrics.value("matching_pairing_total_weight", pool=pool_name, algorithm=algorithm)
        assert weight == pytest.approx(total)
    events = await pair_events(db)
    assert set(events) == expected_keys(clusters)
    assert all(c == PAIR_EVENTS for c in events.values())
    assert await db.fetchval("SELECT count(*) FROM pairing_seekers") == 0
    cycle = await db.fetchrow("SELECT * FROM pairing_cycles WHERE id = $1", report.cycle_id)
    assert cycle["status"] == "completed" and cycle["pairs"] == 3
    assert cycle["optimal_total"] == pytest.approx(report.optimal_total)
    statuses = await db.fetch("SELECT status FROM pairing_audit")
    assert [r["status"] for r in statuses] == ["completed"] * 3
    again = await Runner(psettings, db, redis).run(pool_name)
    assert (again.status, again.seekers, again.pairs) == ("completed", 0, 0)
    assert await pair_events(db) == events


async def test_unpaired_seekers_wait_and_are_told(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    clusters = await seed(db, pool_name, 2)
    async with db.acquire() as conn:  # a block between the only good partners
        await block(conn, clusters[0][0], clusters[0][1])
    report = await Runner(psettings, db, redis).run(pool_name)
    assert report.pairs == 1
    waiting = await db.fetch("SELECT user_id, cycles_waited FROM pairing_seekers")
    assert {r["user_id"] for r in waiting} == set(clusters[0])
    assert {r["cycles_waited"] for r in waiting} == {1}
    told = await db.fetch(
        "SELECT message_key, payload FROM event_outbox WHERE event_type = 'pairing.unmatched'"
    )
    assert {r["message_key"] for r in told} == {str(u) for u in clusters[0]}
    assert {r["payload"]["cycles_waited"] for r in told} == {1}


async def test_past_partners_are_not_paired_again(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    clusters = await seed(db, pool_name, 1)
    assert (await Runner(psettings, db, redis).run(pool_name)).pairs == 1
    async with db.acquire() as conn:
        for user in clusters[0]:
            await pools.add_seeker(conn, pool_name, user, {})
    assert (await Runner(psettings, db, redis).run(pool_name)).pairs == 0


async def test_two_runners_at_once_one_runs_the_other_says_so(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    await seed(db, pool_name, 2)
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def hold(_row: AuditRow, _step: str) -> None:
        inside.set()
        await go_on.wait()

    first = asyncio.create_task(Runner(psettings, db, redis, on_step=hold).run(pool_name))
    await asyncio.wait_for(inside.wait(), 30)
    await asyncio.sleep(2 * psettings.pairing.lease_ttl_s)  # the heartbeat keeps it held
    second = await Runner(psettings, db, redis).run(pool_name)
    go_on.set()
    done = await first
    assert second.status == "busy" and second.extra["holder_token"] is not None
    assert (done.status, done.pairs) == ("completed", 2)
    assert _cycles(pool_name) == {"completed": 1, "busy": 1, "failed": 0}


async def test_a_cycle_that_raises_is_counted_as_failed(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    await seed(db, pool_name, 1)

    def broken(*_: object) -> Pairing:
        raise RuntimeError("the solver fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        await Runner(psettings, db, redis, planner=broken).run(pool_name)
    assert _cycles(pool_name) == {"completed": 0, "busy": 0, "failed": 1}
    assert metrics.value("matching_pairing_cycle_seconds", pool=pool_name) == 0


CRASH = """
import asyncio, os, signal, sys
import redis.asyncio as aioredis
from matching.core.settings import Settings
from matching.core.storage.db import create_pool
from matching.pairing.runner import Runner

async def main() -> None:
    settings = Settings.from_env()
    steps = 0
    async def die(_row, _step):
        nonlocal steps
        steps += 1
        if steps == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: the lease must expire
    db = await create_pool(settings.database)
    await Runner(settings, db, aioredis.from_url(settings.redis.url), on_step=die).run(sys.argv[1])

asyncio.run(main())
"""


async def test_a_runner_killed_mid_cycle_is_finished_exactly_once(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    clusters = await seed(db, pool_name, 3)
    env = {**os.environ, **psettings.to_env(), "PYTHONPATH": os.getcwd()}
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CRASH, pool_name, "7"], env=env, timeout=120
    )
    assert proc.returncode == -9
    half = await pair_events(db)
    assert 0 < sum(sum(c.values()) for c in half.values()) == 7
    assert await db.fetchval("SELECT count(*) FROM pairing_seekers") == 0  # result is in
    runner = Runner(psettings, db, redis)
    assert (await runner.run(pool_name)).status == "busy"  # the dead runner's lease holds
    await asyncio.sleep(psettings.pairing.lease_ttl_s + 0.5)
    report = await runner.run(pool_name)
    assert (report.status, report.reconciled_steps, report.pairs) == ("completed", 8, 0)
    events = await pair_events(db)
    assert set(events) == expected_keys(clusters)
    assert all(c == PAIR_EVENTS for c in events.values())
    assert (await runner.reconcile(pool_name)).reconciled_steps == 0
    statuses = await db.fetch("SELECT status FROM pairing_cycles ORDER BY id")
    assert [r["status"] for r in statuses] == ["completed", "completed"]


async def test_a_runner_that_lost_its_lease_cannot_write(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str
) -> None:
    clusters = await seed(db, pool_name, 2)
    successor: list[object] = []

    async def pause(_row: AuditRow, _step: str) -> None:
        if not successor:  # a GC pause past the TTL: the lease expires, another runner runs
            await redis.delete(f"lease:{lease_name(pool_name)}")
            successor.append(await Runner(psettings, db, redis).run(pool_name))

    stale = await Runner(psettings, db, redis, on_step=pause).run(pool_name)
    assert stale.status == "stale"
    assert getattr(successor[0], "status", None) == "completed"
    events = await pair_events(db)
    assert set(events) == expected_keys(clusters)
    assert all(c == PAIR_EVENTS for c in events.values())


async def test_storage_rejects_a_stale_token(db: asyncpg.Pool, pool_name: str) -> None:
    clusters = await seed(db, pool_name, 1)
    u1, u2 = sorted(clusters[0])
    async with db.acquire() as conn:
        assert await pools.advance_fence(conn, pool_name, 5) is None
        cycle_id = await conn.fetchval(
            "INSERT INTO pairing_cycles (pool, fence) VALUES ($1, 5) RETURNING id", pool_name
        )
        await conn.execute(
            "INSERT INTO pairing_audit (cycle_id, pair_key, pool, user1_id, user2_id, score) "
            "VALUES ($1, $2, $3, $4, $5, 0.9)",
            cycle_id, f"{u1}:{u2}", pool_name, u1, u2,
        )  # fmt: skip
        (row,) = await audit.open_rows(conn, pool_name)
        assert await pools.advance_fence(conn, pool_name, 4) == 5  # an older token: refused
        assert await pools.advance_fence(conn, pool_name, 6) is None
        with pytest.raises(StaleFence):
            await audit.do_step(conn, row, "pair_recorded", 5, "matching.events")
        assert await conn.fetchval("SELECT count(*) FROM event_outbox") == 0
        assert await audit.do_step(conn, row, "pair_recorded", 6, "matching.events")
        assert not await audit.do_step(conn, row, "pair_recorded", 6, "matching.events")
        assert await conn.fetchval("SELECT count(*) FROM event_outbox") == 1


async def test_side_effects_reach_the_broker_once(
    psettings: Settings, db: asyncpg.Pool, redis: aioredis.Redis, pool_name: str, tmp_path: Path
) -> None:
    await seed(db, pool_name, 2)
    await Runner(psettings, db, redis).run(pool_name)
    with TansuBroker(tmp_path / "kafka", topics={"matching.events": 3}) as broker:
        relay = make_relay(psettings.database, broker)
        try:
            assert await relay.publish_pending() == 10
        finally:
            await relay.stop()
        seen = await consume(broker, 10)
    stored = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM event_outbox")}
    assert sorted(s.event_id for s in seen) == sorted(stored)
