"""EventConsumer over real PostgreSQL, a tansu broker and the real model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deployments.embedder import Embedder
from matching.core.domain.profile import ProfileIn
from matching.core.domain.text import profile_text
from matching.core.events.consumer import EventConsumer
from matching.core.events.handlers import EventHandlers
from matching.core.settings import KafkaSettings, Settings
from matching.core.storage.db import create_pool
from matching.core.storage.profiles import get_profile, upsert_profile
from matching.devtools.services import TansuBroker, free_port
from matching.discovery.erasure import DiscoveryErasure
from tests.integration.conftest import App
from tests.support import profile_body

TOPICS = {"user.events": 1, "event.events": 1, "matching.errors": 1, "matching.events": 1}
FAST: dict[str, Any] = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 100,
    "rebalance_timeout_ms": 1000,
    "retry_backoff_s": (0.05, 0.5),
}
WAIT_S = 30.0


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path / "kafka", topics=TOPICS) as broker:
        yield broker


def _settings(database_url: str, kafka: TansuBroker, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "MATCHING_DB_POOL_MAX": "4",
            "MATCHING_DB_TIMEOUT_S": "5",
            **extra,
        }
    )


@pytest_asyncio.fixture
async def pool(fresh_database: str, kafka: TansuBroker) -> AsyncIterator[asyncpg.Pool]:
    db = await create_pool(_settings(fresh_database, kafka).database)
    try:
        yield db
    finally:
        await db.close()


@pytest_asyncio.fixture
async def producer(kafka: TansuBroker) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


class Consumers:
    """Starts consumers (the service's handlers, discovery's erasure) that record their
    after-commit callbacks; stops them all at teardown."""

    def __init__(self, database_url: str, kafka: TansuBroker, embedder: Embedder) -> None:
        self.settings = _settings(database_url, kafka)
        self.embedder = embedder
        self.changed: list[UUID] = []
        self._started: list[EventConsumer] = []

    def start(
        self,
        pool: asyncpg.Pool,
        embed: Callable[[str], Awaitable[np.ndarray]] | None = None,
        kafka: KafkaSettings | None = None,
        **options: Any,
    ) -> EventConsumer:
        handlers = EventHandlers(
            pool,
            embed or self.embedder.embed,
            self.embedder.model_version,
            topic=self.settings.kafka.matching_topic,
            erasure_steps=(DiscoveryErasure(),),
            on_profile_changed=self._changed,
        )
        settings = kafka or self.settings.kafka
        consumer = EventConsumer(settings, pool, handlers.as_mapping(), **{**FAST, **options})
        consumer.start()
        self._started.append(consumer)
        return consumer

    async def _changed(self, user_id: UUID) -> None:
        self.changed.append(user_id)

    async def stop_all(self) -> None:
        for consumer in self._started:
            await consumer.stop()


@pytest_asyncio.fixture
async def consumers(
    fresh_database: str, kafka: TansuBroker, embedder: Embedder
) -> AsyncIterator[Consumers]:
    started = Consumers(fresh_database, kafka, embedder)
    try:
        yield started
    finally:
        await started.stop_all()


# --------------------------------------------------------------------------- helpers


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S}s: {what}")
        await asyncio.sleep(0.05)


async def counted(consumer: EventConsumer, **expected: Any) -> None:
    """Wait for info() to show `expected`: counters move just after each commit."""

    async def reached() -> bool:
        info = consumer.info()
        return all(info[key] == value for key, value in expected.items())

    try:
        await eventually(reached, f"consumer counters {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; info() = {consumer.info()}") from None


async def publish(
    producer: AIOKafkaProducer, topic: str, event: dict[str, Any] | bytes, key: Any = None
) -> None:
    value = event if isinstance(event, bytes) else json.dumps(event).encode()
    await producer.send_and_wait(topic, value, key=None if key is None else str(key).encode())


def envelope(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"event_type": event_type, "event_id": str(uuid.uuid4()), **fields}


def raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def updated(user_id: UUID, **values: Any) -> dict[str, Any]:
    return envelope(
        "user.updated", user_id=str(user_id), updated_fields=list(values), new_values=values
    )


def registration(event_id: str, user_id: UUID, tags: list[str]) -> dict[str, Any]:
    # no message id: event_id names the event registered for
    return {
        "event_type": "event.registration.created",
        "event_id": event_id,
        "user_id": str(user_id),
        "event_category": "tech",
        "event_tags": tags,
    }


async def insert_profile(pool: asyncpg.Pool, embedder: Embedder, name: str = "Ada") -> UUID:
    profile = ProfileIn.model_validate(profile_body(name))
    vector = await embedder.embed(profile_text(profile))
    user_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await upsert_profile(conn, user_id, profile, vector, embedder.model_version)
    return user_id


async def features(pool: asyncpg.Pool, user_id: UUID) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT embedding, model_version FROM user_features WHERE user_id = $1", user_id
    )
    assert row is not None
    return row


async def profile_field(pool: asyncpg.Pool, user_id: UUID, field: str) -> Any:
    async with pool.acquire() as conn:
        profile = await get_profile(conn, user_id)
    assert profile is not None
    return getattr(profile, field)


async def read_topic(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    """The first `count` messages of partition 0, as JSON."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT_S
        while len(out) < count and time.monotonic() < deadline:
            batch = await reader.getmany(tp, timeout_ms=200)
            out += [json.loads(m.value) for m in batch.get(tp, [])]
        return out
    finally:
        await reader.stop()


async def topic_size(bootstrap: str, topic: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await reader.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await reader.end_offsets([tp]))[tp])
    finally:
        await reader.stop()


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    return int(await pool.fetchval(sql, *args))


# --------------------------------------------------------------------------- user.updated


async def test_update_reembeds_only_for_text_and_duplicates_change_nothing(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
) -> None:
    uid = await insert_profile(pool, embedder)
    before = await features(pool, uid)
    consumer = consumers.start(pool)

    first = updated(uid, headline="Data scientist who sails on weekends")
    await publish(producer, "user.events", first, uid)

    async def headline_is(value: str) -> bool:
        return bool(await profile_field(pool, uid, "headline") == value)

    await eventually(lambda: headline_is("Data scientist who sails on weekends"), "headline")
    after_text = await features(pool, uid)
    assert after_text["embedding"] != before["embedding"]
    assert after_text["model_version"] == embedder.model_version
    async with pool.acquire() as conn:
        stored = await get_profile(conn, uid)
    assert stored is not None
    expected = await embedder.embed(profile_text(stored))
    stored_vector = np.frombuffer(after_text["embedding"], dtype="<f4")
    np.testing.assert_allclose(stored_vector, expected, atol=1e-5)
    await eventually(lambda: _is(consumers.changed == [uid]), "on_profile_changed")

    # age is not embedded: the stored vector is reused byte for byte
    await publish(producer, "user.events", updated(uid, age=41), uid)

    async def age_is(value: int) -> bool:
        return bool(await profile_field(pool, uid, "age") == value)

    await eventually(lambda: age_is(41), "age 41")
    assert (await features(pool, uid))["embedding"] == after_text["embedding"]

    await publish(producer, "user.events", updated(uid, headline="Sailor"), uid)
    await eventually(lambda: headline_is("Sailor"), "second headline")
    snapshot = (
        await profile_field(pool, uid, "updated_at"),
        await count(pool, "SELECT count(*) FROM index_changes WHERE user_id = $1", uid),
        await count(pool, "SELECT count(*) FROM consumer_inbox"),
    )
    assert snapshot[1:] == (4, 3)  # the insert and three updates; three messages

    # the first message again (same event_id): applying it would put its headline back
    await publish(producer, "user.events", first, uid)
    await eventually(lambda: _is(consumer.info()["duplicates"] == 1), "duplicate seen")
    assert await profile_field(pool, uid, "headline") == "Sailor"
    assert snapshot == (
        await profile_field(pool, uid, "updated_at"),
        await count(pool, "SELECT count(*) FROM index_changes WHERE user_id = $1", uid),
        await count(pool, "SELECT count(*) FROM consumer_inbox"),
    )
    await counted(consumer, processed=3, duplicates=1, dead_lettered=0, last_error=None)
    info = consumer.info()
    assert info["assigned"] == ["event.events:0", "user.events:0"]
    assert info["lag"]["user.events:0"] == 0


async def _is(value: bool) -> bool:
    return value


async def test_update_racing_another_writer_keeps_both_changes(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
) -> None:
    uid = await insert_profile(pool, embedder)
    raced: list[str] = []

    async def embed_while_someone_writes(text: str) -> np.ndarray:
        if not raced:  # the API writes the bio while the consumer is embedding its headline
            raced.append(text)
            other = ProfileIn.model_validate(profile_body("Ada", bio="Written by the API"))
            async with pool.acquire() as conn:
                await upsert_profile(
                    conn, uid, other, await embedder.embed(profile_text(other)), "v"
                )
        return await embedder.embed(text)

    consumer = consumers.start(pool, embed_while_someone_writes)
    await publish(producer, "user.events", updated(uid, headline="Climber"), uid)

    async def headline_is_climber() -> bool:
        return bool(await profile_field(pool, uid, "headline") == "Climber")

    await eventually(headline_is_climber, "headline")
    assert await profile_field(pool, uid, "bio") == "Written by the API"
    stored = await features(pool, uid)
    assert stored["model_version"] == embedder.model_version
    async with pool.acquire() as conn:
        profile = await get_profile(conn, uid)
    assert profile is not None
    np.testing.assert_allclose(
        np.frombuffer(stored["embedding"], dtype="<f4"),
        await embedder.embed(profile_text(profile)),
        atol=1e-5,
    )
    await counted(consumer, processed=1)


# --------------------------------------------------------------------------- user.deleted


async def test_delete_erases_everywhere_and_writes_notices(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
) -> None:
    a, b, c = [await insert_profile(pool, embedder, n) for n in ("Ada", "Bo", "Cy")]
    open_match, closed_match = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO swipe_history (swiper_id, swiped_id, action) VALUES ($1, $2, 'like')",
            [(a, b), (b, a), (c, a)],
        )
        await conn.executemany(
            "INSERT INTO user_matches (id, user1_id, user2_id, status) VALUES ($1, $2, $3, $4)",
            [(open_match, *sorted((a, b)), "mutual"), (closed_match, *sorted((a, c)), "declined")],
        )
        await conn.execute(
            "INSERT INTO matching_analytics (user_id, event_type, target_user_id) "
            "VALUES ($1, 'swipe', $2), ($2, 'swipe', $1)",
            a,
            b,
        )
        await conn.execute(
            "INSERT INTO event_registrations (event_id, user_id) VALUES ('ev-1', $1), ('ev-1', $2)",
            a,
            b,
        )
    consumer = consumers.start(pool)
    await publish(producer, "user.events", envelope("user.deleted", user_id=str(a)), a)

    async def gone() -> bool:
        return await count(pool, "SELECT count(*) FROM profiles WHERE id = $1", a) == 0

    await eventually(gone, "profile deleted")
    for table, where in [
        ("matching_preferences", "user_id = $1"),
        ("user_features", "user_id = $1"),
        ("swipe_history", "swiper_id = $1 OR swiped_id = $1"),
        ("user_matches", "user1_id = $1 OR user2_id = $1"),
        ("matching_analytics", "user_id = $1 OR target_user_id = $1"),
        ("event_registrations", "user_id = $1"),
    ]:
        assert await count(pool, f"SELECT count(*) FROM {table} WHERE {where}", a) == 0, table
    assert await count(pool, "SELECT count(*) FROM profiles") == 2
    assert await count(pool, "SELECT count(*) FROM event_registrations") == 1
    assert (
        await pool.fetchval(
            "SELECT op FROM index_changes WHERE user_id = $1 ORDER BY seq DESC LIMIT 1", a
        )
        == "delete"
    )
    await eventually(lambda: _is(consumers.changed == [a]), "on_profile_changed")

    rows = await pool.fetch(
        "SELECT topic, message_key, event_type, payload FROM event_outbox ORDER BY id"
    )
    assert [(r["topic"], r["event_type"]) for r in rows] == [
        ("matching.events", "match.status_updated"),  # the mutual match only
        ("matching.events", "user.erased"),
    ]
    u1, u2 = sorted((a, b))
    status, erased = rows[0], rows[1]
    assert status["message_key"] == f"{u1}:{u2}"
    assert {k: status["payload"][k] for k in ("match_id", "old_status", "new_status")} == {
        "match_id": str(open_match),
        "old_status": "mutual",
        "new_status": "declined",
    }
    assert erased["message_key"] == str(a)
    assert erased["payload"]["user_id"] == str(a)
    assert sorted(erased["payload"]["match_ids"]) == sorted([str(open_match), str(closed_match)])

    # deleting again, or someone never known: a no-op, not an error
    await publish(producer, "user.events", envelope("user.deleted", user_id=str(a)), a)
    await publish(producer, "user.events", envelope("user.deleted", user_id=str(uuid.uuid4())))
    await counted(consumer, processed=3, dead_lettered=0)
    assert await count(pool, "SELECT count(*) FROM event_outbox") == 2


# --------------------------------------------------------------------------- dead letters


async def test_bad_messages_are_dead_lettered_and_do_not_block(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
    kafka: TansuBroker,
) -> None:
    uid = await insert_profile(pool, embedder)
    bad: list[tuple[bytes, str, str]] = [
        (b'{"event_type": "user.updated", "user_id": ', "malformed_json", "Expecting value"),
        (raw(updated(uid, latitude=200.0)), "invalid_value", "latitude"),
        (raw(updated(uid, favourite_colour="red")), "unknown_field", "favourite"),
        (raw(envelope("user.updated", new_values={"age": 30})), "missing_field", "user_id"),
        (raw(updated(uuid.uuid4(), age=30)), "unknown_user", "no profile"),
    ]
    for value, _, _ in bad:
        await publish(producer, "user.events", value, uid)
    await publish(producer, "user.events", updated(uid, age=50), uid)
    consumer = consumers.start(pool)

    async def age_is_50() -> bool:
        return bool(await profile_field(pool, uid, "age") == 50)

    await eventually(age_is_50, "the valid message after the bad ones")
    assert await profile_field(pool, uid, "latitude") == 52.52
    errors = await read_topic(kafka.bootstrap_servers, "matching.errors", len(bad))
    assert [e["reason"] for e in errors] == [reason for _, reason, _ in bad]
    for offset, (error, (value, _, needle)) in enumerate(zip(errors, bad, strict=True)):
        assert "payload" not in error and error["payload_bytes"] == len(value)  # by offset
        assert error["event_type"] == (None if offset == 0 else "user.updated")
        assert needle in error["error"]
        assert (error["original_topic"], error["partition"], error["offset"]) == (
            "user.events",
            0,
            offset,
        )
        assert error["key"] == str(uid)
    await counted(consumer, processed=1, dead_lettered=len(bad))

    # the offsets were committed: a new member of the group neither re-applies nor re-sends
    await consumer.stop()
    again = consumers.start(pool)
    await publish(producer, "user.events", updated(uid, age=51), uid)

    async def age_is_51() -> bool:
        return bool(await profile_field(pool, uid, "age") == 51)

    await eventually(age_is_51, "a later message")
    await counted(again, processed=1, dead_lettered=0)
    assert await topic_size(kafka.bootstrap_servers, "matching.errors") == len(bad)


# --------------------------------------------------------------------------- registrations


async def test_registrations_are_recorded_and_other_events_ignored(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
    kafka: TansuBroker,
) -> None:
    a, b = [await insert_profile(pool, embedder, n) for n in ("Ada", "Bo")]
    consumer = consumers.start(pool)
    await publish(producer, "event.events", envelope("event.created", title="Meetup"))
    # two people registering for the same event: event_id is not a message id here
    await publish(producer, "event.events", registration("ev-1", a, ["AI", " Python ", "ai"]))
    await publish(producer, "event.events", registration("ev-1", b, ["ai"]))
    await publish(producer, "event.events", registration("ev-1", a, ["AI", "Python"]))  # again
    await publish(producer, "event.events", registration("ev-2", uuid.uuid4(), ["x"]))

    async def settled() -> bool:
        info = consumer.info()
        return bool(info["processed"] == 3 and info["ignored"] == 1 and info["dead_lettered"])

    await eventually(settled, "all five settled")
    rows = await pool.fetch(
        "SELECT user_id, event_category, event_tags FROM event_registrations "
        "WHERE event_id = 'ev-1' ORDER BY user_id"
    )
    assert {r["user_id"]: (r["event_category"], r["event_tags"]) for r in rows} == {
        a: ("tech", ["ai", "python"]),
        b: ("tech", ["ai"]),
    }
    assert await count(pool, "SELECT count(*) FROM event_registrations") == 2
    [error] = await read_topic(kafka.bootstrap_servers, "matching.errors", 1)
    assert (error["reason"], error["original_topic"], error["offset"]) == (
        "unknown_user",
        "event.events",
        4,
    )


# --------------------------------------------------------------------------- restarts, outages


async def test_restart_resumes_from_committed_offsets(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
) -> None:
    uid = await insert_profile(pool, embedder)
    first = consumers.start(pool)
    for age in (20, 21, 22):
        await publish(producer, "user.events", updated(uid, age=age), uid)

    async def age_is(value: int) -> bool:
        return bool(await profile_field(pool, uid, "age") == value)

    await eventually(lambda: age_is(22), "first three")
    await first.stop()
    assert first.info()["running"] is False
    assert first.info()["processed"] == 3

    for age in (23, 24):
        await publish(producer, "user.events", updated(uid, age=age), uid)
    second = consumers.start(pool)
    await eventually(lambda: age_is(24), "the two published while stopped")
    await counted(second, processed=2, duplicates=0, dead_lettered=0)
    # one upsert per message and an inbox row each: nothing applied twice
    assert await count(pool, "SELECT count(*) FROM index_changes WHERE user_id = $1", uid) == 6
    assert await count(pool, "SELECT count(*) FROM consumer_inbox") == 5


class TcpProxy:
    """A TCP forwarder that can go away (closing every connection) and come back."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._writers):
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


async def test_database_outage_is_retried_not_dead_lettered(
    fresh_database: str,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
    kafka: TansuBroker,
) -> None:
    uid = await insert_profile(pool, embedder)
    host_port = fresh_database.rsplit("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    url = fresh_database.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")
    proxied = await create_pool(_settings(url, kafka).database)
    try:
        # the transient bound passes during the outage: a database that does not answer
        # fails every record alike, so none is dead-lettered for it
        consumer = consumers.start(proxied, retry_for_s=0.5)

        async def age_is(value: int) -> bool:
            return bool(await profile_field(pool, uid, "age") == value)

        await publish(producer, "user.events", updated(uid, age=30), uid)
        await eventually(lambda: age_is(30), "applied through the proxy")

        await proxy.stop()  # the database goes away mid-stream
        await publish(producer, "user.events", updated(uid, age=31), uid)
        # more attempts than an unexpected error gets before it is dead-lettered (5)
        await eventually(lambda: _is(consumer.info()["retries"] >= 8), "retries")
        assert await profile_field(pool, uid, "age") == 30
        assert consumer.info()["last_error"] is not None

        await proxy.start()
        await eventually(lambda: age_is(31), "applied once the database is back")
        await counted(consumer, processed=2, dead_lettered=0)
        assert await topic_size(kafka.bootstrap_servers, "matching.errors") == 0
    finally:
        await consumers.stop_all()
        await proxied.close()
        await proxy.stop()


# --------------------------------------------------------------------------- bounded retries


async def test_a_poison_message_is_dead_lettered_after_bounded_retries(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
    kafka: TansuBroker,
) -> None:
    """A record that keeps failing for a transient reason while the database answers (here:
    its text always fails to embed) is retried, then dead-lettered, and the next applied."""
    uid = await insert_profile(pool, embedder)

    async def embed(text: str) -> np.ndarray:
        if "poison" in text:
            raise RuntimeError("the model chokes on this text")
        return await embedder.embed(text)

    await publish(producer, "user.events", updated(uid, bio="a poison pill"), uid)
    await publish(producer, "user.events", updated(uid, age=40), uid)
    consumer = consumers.start(pool, embed, retry_for_s=1.0)

    async def age_is_40() -> bool:
        return bool(await profile_field(pool, uid, "age") == 40)

    await eventually(age_is_40, "the message behind the poison one")
    [error] = await read_topic(kafka.bootstrap_servers, "matching.errors", 1)
    assert (error["reason"], error["offset"]) == ("retries_exhausted", 0)
    assert "embedding failed" in error["error"]
    await counted(consumer, processed=1, dead_lettered=1)
    assert consumer.info()["retries"] >= 2  # retried with backoff before giving up
    assert "poison" not in await profile_field(pool, uid, "bio")


async def test_an_unwritable_dead_letter_topic_shows_in_health_and_loses_nothing(
    fresh_database: str,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    consumers: Consumers,
    embedder: Embedder,
    kafka: TansuBroker,
    app: App,
) -> None:
    uid = await insert_profile(pool, embedder)
    await publish(producer, "user.events", b'{"event_type": ', uid)  # to be dead-lettered
    await publish(producer, "user.events", updated(uid, age=44), uid)
    refused = _settings(
        fresh_database,
        kafka,
        KAFKA_ERRORS_TOPIC="no such topic!",  # the broker refuses the name
        MATCHING_KAFKA_TIMEOUT_S="1",
    )
    stuck = consumers.start(pool, kafka=refused.kafka)
    app.services.health.background = lambda: {"consumer": stuck.info()}

    await eventually(lambda: _is(stuck.info()["dead_letter_failing"]), "the failure shows")
    info = stuck.info()
    assert "no such topic!" in info["dead_letter_error"] and info["dead_lettered"] == 0
    health = (await app.client.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["background"]["consumer"]["dead_letter_failing"] is True
    # the record is neither committed nor skipped: the one behind it waits
    assert await profile_field(pool, uid, "age") == 34
    await stuck.stop()

    fixed = consumers.start(pool)  # the same group: it resumes from the last commit
    app.services.health.background = lambda: {"consumer": fixed.info()}

    async def age_is_44() -> bool:
        return bool(await profile_field(pool, uid, "age") == 44)

    await eventually(age_is_44, "both settled once dead letters can be written")
    [error] = await read_topic(kafka.bootstrap_servers, "matching.errors", 1)
    assert (error["reason"], error["offset"]) == ("malformed_json", 0)
    await counted(fixed, processed=1, dead_lettered=1, dead_letter_failing=False)
    health = (await app.client.get("/health")).json()
    assert health["background"]["consumer"]["dead_letter_failing"] is False
    assert health["status"] == "ok"
