"""Both delete paths, DELETE /v1/profiles/{id} and Kafka's user.deleted, erase a person the
same way: every table, the published events that named them, the discover cache, the live
index and the events they write; stale events naming them afterwards change nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from deployments.embedder import Embedder
from matching.core.events.kafka import create_producer
from matching.core.storage.erasure import erased_at
from matching.core.storage.migrate import migrate_url
from matching.devtools.services import TansuBroker
from serve_app.workers import BackgroundWork
from tests.integration.conftest import (
    App,
    _create_database,
    _drop_database,
    make_settings,
    running_app,
)
from tests.support import profile_body

PEOPLE = ("gone", "partner", "pender", "viewer", "blocked")
TOPICS = {"user.events": 1, "event.events": 1, "matching.errors": 1, "matching.events": 1}
# Every row of every table a person has rows in (the others' rows must stay).
TABLES = {
    "profiles": "SELECT id FROM profiles",
    "matching_preferences": "SELECT user_id FROM matching_preferences",
    "user_features": "SELECT user_id, model_version, embedding_dim FROM user_features",
    "swipe_history": "SELECT swiper_id, swiped_id, action FROM swipe_history",
    "user_matches": "SELECT id, status FROM user_matches",  # the id's label names the pair
    "user_blocks": "SELECT blocker_id, blocked_id FROM user_blocks",
    "event_registrations": "SELECT event_id, user_id FROM event_registrations",
    "matching_analytics": "SELECT user_id, event_type, target_user_id FROM matching_analytics",
}
WAIT_S = 30.0
Erase = Callable[[App, UUID], Awaitable[None]]


@pytest.fixture
def other_database() -> Iterator[str]:
    """A second fresh database, so each path starts from the same state on its own."""
    name = f"matching_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_database(name))
    asyncio.run(migrate_url(url))
    try:
        yield url
    finally:
        asyncio.run(_drop_database(name))


# --------------------------------------------------------------------------- the state


async def populate(app: App) -> dict[str, str]:
    """Five people: gone has a mutual match (partner), a pending one (pender), swipes, a
    block, an analytics event, a registration, and is in viewer's cached discover answer.
    Returns id -> label for every person and match."""
    ids = {name: str(uuid.uuid4()) for name in PEOPLE}
    for name, uid in ids.items():
        body = profile_body(name.title(), company=name)
        assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
    for swiper, swiped in (("gone", "partner"), ("partner", "gone"), ("pender", "gone")):
        body = {"swiper_id": ids[swiper], "swiped_id": ids[swiped], "action": "like"}
        assert (await app.client.post("/v1/swipes", json=body)).status_code == 200
    blocked = {"blocked_id": ids["blocked"]}
    assert (await app.client.post(f"/v1/users/{ids['gone']}/blocks", json=blocked)).is_success
    analytics = {
        "user_id": ids["gone"],
        "event_type": "conversation_started",
        "target_user_id": ids["partner"],
    }
    assert (await app.client.post("/v1/analytics", json=analytics)).status_code == 202
    gone, pender = UUID(ids["gone"]), UUID(ids["pender"])
    async with app.resources.pool.acquire() as conn:
        # no API opens a pending match (a like either waits or makes it mutual)
        await conn.execute(
            "INSERT INTO user_matches (id, user1_id, user2_id, status) "
            "VALUES ($1, $2, $3, 'pending')",
            uuid.uuid4(),
            *sorted((gone, pender)),
        )
        await conn.execute(
            "INSERT INTO event_registrations (event_id, user_id) "
            "VALUES ('meetup', $1), ('meetup', $2)",
            gone,
            UUID(ids["partner"]),
        )
        matches = await conn.fetch("SELECT id, user1_id, user2_id FROM user_matches")
    labels = {uid: name for name, uid in ids.items()}
    for m in matches:
        pair = sorted(labels[str(m[side])] for side in ("user1_id", "user2_id"))
        labels[str(m["id"])] = "match " + "+".join(pair)
    assert sorted(v for v in labels.values() if v.startswith("match")) == [
        "match gone+partner",
        "match gone+pender",
    ]
    listed = await app.client.get(f"/v1/users/{ids['viewer']}/discover")
    assert ids["gone"] in {c["user_id"] for c in listed.json()["candidates"]}
    assert await app.resources.discover_cache.get(ids["viewer"]) is not None
    await app.services.mode("discovery").stop()  # impressions are written after responses
    async with app.resources.pool.acquire() as conn:
        # what the relay does once Kafka acknowledged: published events name gone now
        published = await conn.execute("UPDATE event_outbox SET published_at = now()")
        assert int(published.split()[-1]) >= 4  # swipes, match.created
    return labels


# --------------------------------------------------------------------------- the snapshot


def normalise(value: Any, labels: dict[str, str]) -> Any:
    """`value` with every id replaced by its label, the per-run fields dropped, lists sorted
    (their order follows random ids) and tuples (rows) kept in order."""
    if isinstance(value, UUID | str):
        return labels.get(str(value), value)
    if isinstance(value, dict):
        value = dict(value)
        if "user1_id" in value:  # which side is user1 follows the random ids too
            value["pair"] = sorted([value.pop("user1_id"), value.pop("user2_id")])
        return {
            k: normalise(v, labels) for k, v in value.items() if k not in ("event_id", "timestamp")
        }
    if isinstance(value, tuple):
        return [normalise(v, labels) for v in value]
    if isinstance(value, list):
        return sorted(
            (normalise(v, labels) for v in value), key=lambda v: json.dumps(v, sort_keys=True)
        )
    return value


def key_label(key: str, labels: dict[str, str]) -> str:
    """A message key (a user id, or a pair "u1:u2") by labels."""
    return "+".join(sorted(labels[part] for part in key.split(":")))


async def snapshot(app: App, labels: dict[str, str], outbox_after: int) -> dict[str, Any]:
    """What the erasure left: rows, index change log, new events, cache, index, answers."""
    ids = {label: uid for uid, label in labels.items()}
    state: dict[str, Any] = {}
    async with app.resources.pool.acquire() as conn:
        for table, sql in TABLES.items():
            state[table] = normalise([tuple(r.values()) for r in await conn.fetch(sql)], labels)
        changes = await conn.fetch("SELECT user_id, op FROM index_changes ORDER BY seq")
        events = await conn.fetch(
            "SELECT topic, message_key, event_type, payload FROM event_outbox "
            "WHERE id > $1 ORDER BY id",
            outbox_after,
        )
    state["index_changes"] = [(labels[str(r["user_id"])], r["op"]) for r in changes]
    state["naming_gone"] = await naming(app, ids["gone"], outbox_after)
    async with app.resources.pool.acquire() as conn:
        state["erased"] = [
            label for label in PEOPLE if await erased_at(conn, UUID(ids[label])) is not None
        ]
    state["outbox"] = normalise(
        [
            {
                **dict(r),
                "message_key": key_label(r["message_key"], labels),
            }
            for r in events
        ],
        labels,
    )
    state["viewer_cached"] = await app.resources.discover_cache.get(ids["viewer"]) is not None
    state["gone_indexed"] = app.retriever.person(UUID(ids["gone"])) is not None
    listed = await app.client.get(f"/v1/users/{ids['viewer']}/discover")
    state["viewer_discovers"] = normalise(
        [c["user_id"] for c in listed.json()["candidates"]], labels
    )
    found = await app.client.post("/v1/search", json={"prompt": "Gone"})
    state["search_finds_gone"] = ids["gone"] in {c["user_id"] for c in found.json()["candidates"]}
    return state


async def naming(app: App, user_id: str, outbox_after: int) -> dict[str, int]:
    """Rows that still contain the id, per table, in every table of the schema (so a table
    added later is checked too); the events enqueued by the erasure itself excepted."""
    found = {}
    async with app.resources.pool.acquire() as conn:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for table in sorted(r["tablename"] for r in tables):
            count = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, $1) > 0', user_id
            )
            if count:
                found[table] = count
        # the events this erasure enqueued name gone until published and pruned
        found["event_outbox"] = await conn.fetchval(
            "SELECT count(*) FROM event_outbox t WHERE strpos(t::text, $1) > 0 AND id <= $2",
            user_id,
            outbox_after,
        )
    return found


async def erase_and_snapshot(app: App, erase: Erase) -> dict[str, Any]:
    labels = await populate(app)
    gone = UUID(next(uid for uid, label in labels.items() if label == "gone"))
    outbox_after = int(await app.resources.pool.fetchval("SELECT max(id) FROM event_outbox"))
    await erase(app, gone)
    return await snapshot(app, labels, outbox_after)


# --------------------------------------------------------------------------- the two paths


async def delete_over_http(app: App, gone: UUID) -> None:
    assert (await app.client.delete(f"/v1/profiles/{gone}")).status_code == 204
    again = await app.client.delete(f"/v1/profiles/{gone}")
    assert again.status_code == 404 and again.json()["field"] == "user_id"


async def delete_over_kafka(app: App, gone: UUID) -> None:
    # the replica's own background work: the consumer with the resources' erasure steps
    work = BackgroundWork(app.services)
    await work.start()
    try:
        producer = create_producer(app.resources.settings.kafka)
        await producer.start()
        try:
            event = {"event_type": "user.deleted", "event_id": str(uuid.uuid4())}
            value = json.dumps({**event, "user_id": str(gone)}).encode()
            await producer.send_and_wait("user.events", value, key=str(gone).encode())
        finally:
            await producer.stop()
        viewer = await app.resources.pool.fetchval(
            "SELECT user_id FROM matching_analytics WHERE event_type = 'match_shown' LIMIT 1"
        )
        deadline = time.monotonic() + WAIT_S
        # after the commit, the consumer's callback syncs the index, then drops the caches
        while (
            app.retriever.person(gone) is not None
            or await app.resources.discover_cache.get(str(viewer)) is not None
        ):
            assert time.monotonic() < deadline, f"not erased everywhere: {work.info()}"
            await asyncio.sleep(0.05)
        assert work.info()["consumer"]["processed"] == 1
        await send_stale_events(app, work, gone)
        # the maintenance prunes by retention: nothing here is old enough (test_erasure_after)
        pruned = (await work.maintain_once())["retention"]
        assert pruned == {"event_outbox": 0, "index_changes": 0, "erasures": 0}
    finally:
        await work.stop()


async def send_stale_events(app: App, work: BackgroundWork, gone: UUID) -> None:
    """A late user.updated and a registration naming gone: ignored, not applied, and not
    dead-lettered with their data (the snapshot after them equals the HTTP path's)."""
    producer = create_producer(app.resources.settings.kafka)
    await producer.start()
    try:
        for topic, event in (
            ("user.events", {"event_type": "user.updated", "new_values": {"name": "Back"}}),
            ("event.events", {"event_type": "event.registration.created", "event_id": "e2"}),
        ):
            value = json.dumps({**event, "user_id": str(gone), "message_id": "m"}).encode()
            await producer.send_and_wait(topic, value, key=str(gone).encode())
    finally:
        await producer.stop()
    deadline = time.monotonic() + WAIT_S
    while sum(work.info()["consumer"][k] for k in ("ignored", "dead_lettered")) < 2:
        assert time.monotonic() < deadline, f"stale events not settled: {work.info()}"
        await asyncio.sleep(0.05)
    consumer = work.info()["consumer"]
    assert (consumer["processed"], consumer["dead_lettered"], consumer["ignored"]) == (1, 0, 2)


async def test_both_delete_paths_erase_the_same(
    fresh_database: str, other_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    cached = {"MATCHING_DISCOVER_CACHE_TTL_S": "600"}
    http_settings = make_settings(fresh_database, tmp_path / "http", **cached)
    async with running_app(http_settings, embedder) as app:
        over_http = await erase_and_snapshot(app, delete_over_http)

    with TansuBroker(tmp_path / "kafka", topics=TOPICS) as broker:
        kafka_settings = make_settings(
            other_database,
            tmp_path / "kafka-app",
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
            **cached,
        )
        async with running_app(kafka_settings, embedder) as app:
            over_kafka = await erase_and_snapshot(app, delete_over_kafka)

    assert over_http == over_kafka
    # and that one outcome is the erasure
    for table in TABLES:
        assert "gone" not in json.dumps(over_http[table]), table
    # in no table (the published events that named gone included) but the change log (its
    # upsert and delete, which retrievers replay), pruned after its retention (test_erasure_after)
    assert over_http["naming_gone"] == {"event_outbox": 0, "index_changes": 2}
    assert over_http["erased"] == ["gone"]
    assert over_http["profiles"] == [["blocked"], ["partner"], ["pender"], ["viewer"]]
    assert over_http["user_matches"] == over_http["user_blocks"] == []
    assert over_http["event_registrations"] == [["meetup", "partner"]]
    assert over_http["index_changes"][-1] == ("gone", "delete")
    status = [e for e in over_http["outbox"] if e["event_type"] == "match.status_updated"]
    assert sorted(
        (e["payload"]["match_id"], e["payload"]["old_status"], e["payload"]["new_status"])
        for e in status
    ) == [
        ("match gone+partner", "mutual", "declined"),
        ("match gone+pender", "pending", "declined"),
    ]
    assert {e["payload"]["reason"] for e in status} == {"user_deleted"}
    assert {e["payload"]["updated_by"] for e in status} == {None}
    assert sorted(e["message_key"] for e in status) == ["gone+partner", "gone+pender"]
    [erased] = [e for e in over_http["outbox"] if e["event_type"] == "user.erased"]
    assert erased["message_key"] == "gone"
    assert erased["payload"] == {
        "event_type": "user.erased",
        "user_id": "gone",
        "match_ids": ["match gone+partner", "match gone+pender"],
    }
    assert len(over_http["outbox"]) == 3
    assert over_http["viewer_cached"] is False
    assert over_http["gone_indexed"] is False
    assert "gone" not in over_http["viewer_discovers"] and over_http["viewer_discovers"]
    assert over_http["search_finds_gone"] is False
