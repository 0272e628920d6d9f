"""After an erasure: the rows that still name the person (change log, published events,
erasure record) are pruned after their retention; a retriever whose position was pruned past
reloads; an older index snapshot never serves them; the next job outputs lack them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pyarrow.parquet as pq
import pytest
import pytest_asyncio

from deployments.embedder import Embedder
from deployments.retriever import Retriever
from matching.core.domain.profile import ProfileIn
from matching.core.events.handlers import EventHandlers
from matching.core.ml import artifacts
from matching.core.ml.embedding import model_path, model_version
from matching.core.settings import Settings
from matching.core.storage import retention
from matching.core.storage.erasure import erase_person, erased_at
from matching.core.storage.outbox import enqueue
from matching.core.storage.profiles import upsert_profile
from tests.integration.conftest import App
from tests.support import connect, profile_body
from training import embed, features, jobs
from training.build_index import build_index

TOPIC = "matching.events"
DAY = timedelta(days=1)


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(str(settings.database.url))
    try:
        yield conn
    finally:
        await conn.close()


async def people(conn: asyncpg.Connection, n: int, version: str) -> list[uuid.UUID]:
    """`n` profiles with unit vectors of the retriever's model version."""
    rng = np.random.default_rng(3)
    ids = [uuid.uuid4() for _ in range(n)]
    for i, user in enumerate(ids):
        vector = rng.normal(size=384)
        body = ProfileIn(**profile_body(f"P{i}", company=f"c{i}"))
        await upsert_profile(conn, user, body, vector / np.linalg.norm(vector), version)
    return ids


def served(retriever: Retriever, user: uuid.UUID, others: list[uuid.UUID]) -> bool:
    """Whether the retriever holds `user` or returns them to someone searching near them."""
    if retriever.person(user) is not None:
        return True
    vector = retriever.index.vector_of(others[0])
    assert vector is not None
    found = retriever.index.search(vector, k=len(others) + 5)
    return user in {c.person.user_id for c in found}


async def backdate(conn: asyncpg.Connection, age: timedelta) -> None:
    """Everything written so far happened `age` ago (the clock of the pruning)."""
    await conn.execute("UPDATE index_changes SET changed_at = now() - $1::interval", age)
    await conn.execute(
        "UPDATE event_outbox SET published_at = now() - $1::interval "
        "WHERE published_at IS NOT NULL",
        age,
    )
    await conn.execute("UPDATE erasures SET erased_at = now() - $1::interval", age)


async def test_retention_prunes_what_names_the_erased_and_lagging_replicas_reload(
    settings: Settings, db: asyncpg.Connection
) -> None:
    retriever = Retriever(settings)
    await retriever.start()
    try:
        gone, *others = await people(db, 4, retriever.model_version)
        await retriever.sync()  # this replica has gone, then stops replaying (say it hung)
        # one published event that names gone, one still waiting for Kafka
        await enqueue(db, TOPIC, f"{gone}:{others[0]}", "swipe.performed", {"x": str(gone)})
        await enqueue(db, TOPIC, str(others[1]), "match.created", {"x": str(others[1])})
        await db.execute("UPDATE event_outbox SET published_at = now() WHERE id = 1")
        assert await erase_person(db, gone, TOPIC, ()) is not None
        assert await db.fetchval("SELECT count(*) FROM event_outbox") == 2  # id 1 forgotten
        await db.execute(
            "UPDATE event_outbox SET published_at = now() WHERE event_type = 'user.erased'"
        )

        fresh = await retention.prune(db, settings.retention)
        assert fresh == {"event_outbox": 0, "index_changes": 0, "erasures": 0}
        await backdate(db, 2 * DAY)
        assert await retention.prune(db, settings.retention) == {
            "event_outbox": 1,  # user.erased, published two days ago
            "index_changes": 5,  # 4 upserts and gone's delete
            "erasures": 0,  # kept for the replay window (30 days)
        }
        assert await db.fetchval("SELECT count(*) FROM event_outbox") == 1  # never published
        assert await erased_at(db, gone) is not None
        await backdate(db, 31 * DAY)
        assert (await retention.prune(db, settings.retention))["erasures"] == 1
        assert await erased_at(db, gone) is None

        # the change log no longer says gone was deleted: replaying cannot remove them
        assert retriever.person(gone) is not None
        await retriever.sync()
        assert not served(retriever, gone, others)
        assert retriever.info()["reloads"] == 1 and len(retriever.index) == 3
        # and replays as before once it has caught up
        [late] = await people(db, 1, retriever.model_version)
        await retriever.sync()
        assert retriever.person(late) is not None and retriever.info()["reloads"] == 1
    finally:
        await retriever.close()


async def test_an_older_snapshot_never_serves_an_erased_person(
    settings: Settings, db: asyncpg.Connection
) -> None:
    version = model_version(model_path(settings.model))
    gone, *others = await people(db, 5, version)
    old, _ = await build_index(settings)  # written while gone was there
    assert await erase_person(db, gone, TOPIC, ()) is not None
    await backdate(db, 2 * DAY)
    await retention.prune(db, settings.retention)  # the delete is forgotten too
    assert await db.fetchval("SELECT count(*) FROM index_changes") == 0

    retriever = Retriever(settings)
    await retriever.reconfigure({"index_version": old.name})  # pinned through the registry
    await retriever.start()
    try:
        assert retriever.index.version == old.name  # the snapshot was loaded, not rebuilt
        assert gone.bytes in _snapshot_ids(old)  # the old snapshot still holds the row
        assert not served(retriever, gone, others)
        assert {p for p in others if retriever.person(p) is not None} == set(others)
    finally:
        await retriever.close()

    new, manifest = await build_index(settings)  # the next job run drops them
    assert manifest["row_count"] == 4 and gone.bytes not in _snapshot_ids(new)


def _snapshot_ids(folder: Path) -> set[bytes]:
    return {row.tobytes() for row in np.load(folder / "user_ids.npy")}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    jobs.init_ray(num_cpus=2)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.usefixtures("local_ray")
@pytest.mark.parametrize("job", ["features", "embed"])
def test_the_next_features_and_embed_snapshots_lack_an_erased_person(
    settings: Settings, job: str
) -> None:
    async def erase_one() -> tuple[uuid.UUID, list[uuid.UUID]]:
        conn = await connect(str(settings.database.url))
        try:
            gone, *others = await people(conn, 3, model_version(model_path(settings.model)))
            assert await erase_person(conn, gone, TOPIC, ()) is not None
            return gone, others
        finally:
            await conn.close()

    gone, others = asyncio.run(erase_one())
    summary = _run(job, settings)
    if job == "features":
        table = pq.read_table(Path(summary["parquet"]) / "data")
    else:
        table = pq.read_table(Path(summary["parquet"]) / embed.FILE)
    assert sorted(table.column("user_id").to_pylist()) == sorted(map(str, others))
    assert str(gone) not in table.column("user_id").to_pylist()
    artifacts.verify(Path(summary["parquet"]), [])  # its files are checksummed too


def _run(job: str, settings: Settings) -> dict[str, Any]:
    if job == "features":
        return features.run(settings, jobs.load_config("features"))
    # every profile embedded again, so the snapshot lists everyone it read
    return embed.run(settings, {**jobs.load_config("embed"), "force": True})


@dataclass(frozen=True, slots=True)
class Received:
    """A consumed Kafka record, as the handlers read it."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch, set by the producer
    key: bytes | None = None
    value: bytes | None = None


async def test_a_recreated_account_takes_new_events_and_ignores_older_ones(
    app: App, embedder: Embedder
) -> None:
    """PUT of an erased id re-creates the person (the platform's user service may); events
    produced before the erasure still do not apply to the new account."""
    uid = uuid.uuid4()
    assert (await app.client.put(f"/v1/profiles/{uid}", json=profile_body("Old"))).is_success
    assert (await app.client.delete(f"/v1/profiles/{uid}")).status_code == 204
    again = await app.client.put(f"/v1/profiles/{uid}", json=profile_body("New"))
    assert again.status_code == 201
    async with app.resources.pool.acquire() as conn:
        at = await erased_at(conn, uid)
    assert at is not None  # kept: it still tells older events apart

    handlers = EventHandlers(
        app.resources.pool, embedder.embed, app.resources.model_version, topic=TOPIC
    )
    erased_ms = int(at.timestamp() * 1000)
    for offset, (produced_ms, name, applied) in enumerate(
        ((erased_ms - 60_000, "Replayed", False), (erased_ms + 1, "Renamed", True))
    ):
        event = {"event_type": "user.updated", "user_id": str(uid), "new_values": {"name": name}}
        outcome = await handlers.user_updated(
            Received("user.events", 0, offset, produced_ms), event
        )
        assert (outcome.applied, outcome.ignored) == (applied, not applied)
        shown = (await app.client.get(f"/v1/profiles/{uid}")).json()["name"]
        assert shown == (name if applied else "New")
