"""Batch pairing end to end: people opt in through the served app, a cycle runs as the
RayJob/RayCronJob runs it (`matching pairing run`, its own process, against the same
PostgreSQL and Redis), and the pairs, their events and the pool's state read back over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from matching.core.domain.pairs import pair_key
from tests.e2e.conftest import bearer
from tests.support import profile_body

DATA = "I build data pipelines in Python and run batch jobs on Spark."
CLAY = "I throw pottery on the wheel and teach weekend ceramics classes."


def _person(client: httpx.Client, name: str, bio: str, interests: list[str]) -> str:
    user = str(uuid.uuid4())
    body = profile_body(name, bio=bio, interests=interests, company=f"co-{user[:8]}")
    response = client.put(f"/v1/profiles/{user}", json=body)
    assert response.status_code in (200, 201), response.text
    return user


def _run_cycle(pool: str) -> dict[str, Any]:
    """One cycle by the CLI, in its own process (the served apps' environment names the
    database and Redis)."""
    done = subprocess.run(
        [sys.executable, "-m", "matching.cli.main", "pairing", "run", "--pool", pool],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _published(database_url: str, keys: list[str]) -> tuple[int, int]:
    """(pairing events for these pairs in the outbox, how many of them the relay published)."""

    async def read() -> tuple[int, int]:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT count(*) AS written, count(published_at) AS published "
                "FROM event_outbox WHERE message_key = ANY($1::text[]) "
                "AND event_type LIKE 'pairing.%'",
                keys,
            )
            assert row is not None
            return int(row["written"]), int(row["published"])
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.mark.e2e
def test_a_cycle_pairs_the_pool_once_with_its_events_and_history(
    both: dict[str, httpx.Client], database_url: str
) -> None:
    single, pipeline = both["single"], both["pipeline"]
    pool = f"e2e-{uuid.uuid4().hex[:10]}"
    data = [_person(single, f"D{i}", DATA, ["python", "spark"]) for i in range(2)]
    clay = [_person(single, f"C{i}", CLAY, ["pottery", "ceramics"]) for i in range(2)]
    assert single.put(f"/v1/pools/{pool}").status_code == 200
    # a user opts themselves in with their token; the platform names the user
    with httpx.Client(base_url=single.base_url, timeout=60) as bare:
        mine = bare.post(f"/v1/pools/{pool}/seekers", json={}, headers=bearer(data[0]))
        assert mine.status_code == 201 and mine.json()["user_id"] == data[0]
        as_other = bare.post(
            f"/v1/pools/{pool}/seekers", json={"user_id": clay[0]}, headers=bearer(data[0])
        )
        assert as_other.status_code == 403, as_other.text
        peek = bare.get(f"/v1/users/{clay[0]}/pairings", headers=bearer(data[0]))
        assert peek.status_code == 403, peek.text
    for user in (data[1], *clay):
        assert pipeline.post(f"/v1/pools/{pool}/seekers", json={"user_id": user}).status_code == 201
    assert pipeline.get(f"/v1/pools/{pool}").json()["size"] == 4

    report = _run_cycle(pool)
    assert report["status"] == "completed" and report["pairs"] == 2, report
    assert report["optimal_total"] >= report["greedy_total"]

    partners = {}
    for user in (*data, *clay):
        history = pipeline.get(f"/v1/users/{user}/pairings").json()["pairings"]
        assert [p["status"] for p in history] == ["completed"], history
        partners[user] = history[0]["partner_id"]
    # like with like: the two who build pipelines, the two potters
    assert partners[data[0]] == data[1] and partners[data[1]] == data[0]
    assert partners[clay[0]] == clay[1] and partners[clay[1]] == clay[0]
    after = single.get(f"/v1/pools/{pool}", params={"user_id": data[0]}).json()
    assert after["size"] == 0 and after["you"]["waiting"] is False
    assert after["last_cycle_id"] == report["cycle_id"]

    # every side effect reaches Kafka through the served app's outbox relay
    keys = [pair_key(uuid.UUID(a), uuid.UUID(b)) for a, b in (data, clay)]
    deadline = time.monotonic() + 60
    while (counts := _published(database_url, keys))[1] < counts[0] or counts[0] == 0:
        assert time.monotonic() < deadline, f"pairing events written/published: {counts}"
        time.sleep(0.5)

    # past partners are never paired again: back in the pool, they wait
    for user in data:
        assert single.post(f"/v1/pools/{pool}/seekers", json={"user_id": user}).status_code == 201
    again = _run_cycle(pool)
    assert again["status"] == "completed" and again["pairs"] == 0, again
    waiting = pipeline.get(f"/v1/pools/{pool}", params={"user_id": data[1]}).json()
    assert waiting["size"] == 2 and waiting["you"]["waiting"] is True
    assert waiting["you"]["cycles_waited"] == 1
    for user in data:
        assert len(pipeline.get(f"/v1/users/{user}/pairings").json()["pairings"]) == 1
