"""The outbox relay against real PostgreSQL and a tansu broker, read back by a real consumer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from matching.core.events.relay import OutboxRelay
from matching.core.settings import DatabaseSettings, KafkaSettings
from matching.core.storage.db import create_pool
from matching.core.storage.outbox import enqueue
from matching.devtools.services import TansuBroker

TOPIC = "matching.events"


@dataclass(frozen=True)
class Seen:
    partition: int
    offset: int
    key: str
    event_id: str
    header_event_id: str


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path / "kafka", topics={TOPIC: 3}) as b:
        yield b


@pytest.fixture
def db_settings(fresh_database: str) -> DatabaseSettings:
    return DatabaseSettings.model_validate({"DATABASE_URL": fresh_database})


@pytest_asyncio.fixture
async def pool(db_settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_settings)
    try:
        yield p
    finally:
        await p.close()


def kafka_settings(
    broker: TansuBroker, batch: int = 500, poll_s: float = 0.05, listen: bool = True
) -> KafkaSettings:
    return KafkaSettings.model_validate(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "MATCHING_RELAY_BATCH": str(batch),
            "MATCHING_RELAY_POLL_S": str(poll_s),
            "MATCHING_RELAY_LISTEN": str(listen).lower(),
        }
    )


def make_relay(db: DatabaseSettings, broker: TansuBroker, **kw: Any) -> OutboxRelay:
    kafka = kafka_settings(
        broker, kw.pop("batch", 500), kw.pop("poll_s", 0.05), kw.pop("listen", True)
    )
    kw.setdefault("election_interval_s", 0.3)
    kw.setdefault("request_timeout_ms", 1500)
    return OutboxRelay(db, kafka, **kw)


async def write(pool: asyncpg.Pool, events: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """Enqueue (key, fields) events in one transaction; returns their event_ids."""
    async with pool.acquire() as conn, conn.transaction():
        return [
            str(await enqueue(conn, TOPIC, key, "match.test", fields)) for key, fields in events
        ]


async def write_unnotified(pool: asyncpg.Pool, key: str, tag: str) -> str:
    """One event whose notification is lost: the notify trigger is off in its transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE event_outbox DISABLE TRIGGER event_outbox_notify")
        event_id = await enqueue(conn, TOPIC, key, "match.test", {"tag": tag})
        await conn.execute("ALTER TABLE event_outbox ENABLE TRIGGER event_outbox_notify")
    return str(event_id)


async def write_many(pool: asyncpg.Pool, keys: Sequence[str], n: int, tag: str) -> list[str]:
    """n events round-robin over keys, alternating single- and multi-event transactions."""
    ids: list[str] = []
    i = 0
    while i < n:
        size = 1 if (i // 3) % 2 == 0 else 3
        chunk = [(keys[j % len(keys)], {"tag": tag, "seq": j}) for j in range(i, min(n, i + size))]
        ids += await write(pool, chunk)
        i += len(chunk)
    return ids


async def expected_order(pool: asyncpg.Pool, event_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per key, the event_ids in outbox (commit) order."""
    rows = await pool.fetch(
        "SELECT message_key, event_id FROM event_outbox WHERE event_id = ANY($1::uuid[]) "
        "ORDER BY id",
        [uuid.UUID(e) for e in event_ids],
    )
    out: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        out[row["message_key"]].append(str(row["event_id"]))
    return dict(out)


async def consume(broker: TansuBroker, expect: int, timeout: float = 15.0) -> list[Seen]:
    """Every record on TOPIC from the beginning: waits for `expect`, then drains a bit more."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while not partitions:
            await consumer.topics()  # refreshes metadata
            partitions = consumer.partitions_for_topic(TOPIC)
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {TOPIC} never appeared")
            if not partitions:
                await asyncio.sleep(0.1)
        tps = [TopicPartition(TOPIC, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: list[Seen] = []
        drain_until: float | None = None
        while True:
            now = time.monotonic()
            if drain_until is None and len(seen) >= expect:
                drain_until = now + 0.5  # a duplicate would show up here
            if (drain_until is not None and now >= drain_until) or now >= deadline:
                break
            batches = await consumer.getmany(timeout_ms=100)
            for tp, records in batches.items():
                for r in records:
                    assert r.key is not None and r.value is not None
                    value = json.loads(r.value)
                    headers = dict(r.headers)
                    seen.append(
                        Seen(
                            tp.partition,
                            r.offset,
                            r.key.decode(),
                            value["event_id"],
                            headers["event_id"].decode(),
                        )
                    )
        assert len(seen) >= expect, f"consumed {len(seen)} of {expect} events"
        return seen
    finally:
        await consumer.stop()


def per_key(seen: Sequence[Seen]) -> dict[str, list[str]]:
    """Per key, event_ids in log order; each key must live in one partition."""
    partition_of: dict[str, int] = {}
    out: dict[str, list[str]] = defaultdict(list)
    for s in sorted(seen, key=lambda s: (s.partition, s.offset)):
        assert s.event_id == s.header_event_id
        assert partition_of.setdefault(s.key, s.partition) == s.partition
        out[s.key].append(s.event_id)
    return dict(out)


async def wait_until(
    check: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def unpublished(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
    return count


async def all_published(pool: asyncpg.Pool) -> bool:
    return await unpublished(pool) == 0


KEYS = ["pair:a", "pair:b", "user:1", "user:2"]


async def test_publishes_each_event_once_in_key_order(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    ids = await write_many(pool, KEYS, 20, "before")
    relay = make_relay(db_settings, broker, batch=4)  # several batches
    await relay.start()
    try:
        ids += await write_many(pool, KEYS, 20, "during")
        await wait_until(lambda: all_published(pool), what="all published")
        await wait_until(lambda: relay.info()["pending"] == 0, what="pending 0")
        info = relay.info()
    finally:
        await relay.stop()

    assert info["leader"] and info["connected"] and info["last_error"] is None
    assert info["published_total"] == 40 and info["lag_seconds"] is None
    seen = await consume(broker, 40)
    assert sorted(s.event_id for s in seen) == sorted(ids)  # once each
    assert per_key(seen) == await expected_order(pool, ids)
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE published_at IS NULL) AS pending, "
        "max(attempts) AS attempts, count(last_error) AS errors FROM event_outbox"
    )
    assert dict(row) == {"pending": 0, "attempts": 0, "errors": 0}
    assert relay.info()["leader"] is False  # stopped: lock released


async def test_publish_pending_one_pass(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    ids = await write_many(pool, KEYS, 7, "cli")
    relay = make_relay(db_settings, broker, batch=3)
    try:
        assert await relay.publish_pending() == 7
        assert await relay.publish_pending() == 0
    finally:
        await relay.stop()
    seen = await consume(broker, 7)
    assert per_key(seen) == await expected_order(pool, ids)


async def test_broker_down_then_back(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    relay = make_relay(db_settings, broker, max_backoff_s=1.0)
    await relay.start()
    try:
        first = await write_many(pool, KEYS, 6, "up")
        await wait_until(lambda: all_published(pool), what="first events published")
        assert len(await consume(broker, 6)) == 6

        broker.stop()
        down = await write_many(pool, KEYS, 12, "down")  # writers do not need Kafka
        # the in-flight batch times out (request_timeout 1.5 s), then retries fail to connect
        await wait_until(
            lambda: pool.fetchval(
                "SELECT min(attempts) >= 2 FROM event_outbox WHERE published_at IS NULL"
            ),
            timeout=10,
            what="failed attempts recorded",
        )
        assert await unpublished(pool) == 12
        info = relay.info()
        assert info["leader"] and not info["connected"]
        assert info["last_error"] and info["pending"] == 12 and info["lag_seconds"] > 0

        broker.start()  # same port; memory storage is empty, the topic is created again
        await wait_until(lambda: all_published(pool), timeout=10, what="backlog published")
        after = await write_many(pool, KEYS, 6, "after")
        await wait_until(lambda: all_published(pool), what="new events published")
        info = relay.info()
        assert info["connected"] and info["last_error"] is None
        assert info["published_total"] == 24
    finally:
        await relay.stop()

    seen = await consume(broker, 18)  # the 6 sent before the restart died with the broker
    assert not set(first) & {s.event_id for s in seen}
    assert sorted(s.event_id for s in seen) == sorted(down + after)  # no duplicates
    assert per_key(seen) == await expected_order(pool, down + after)
    last_errors = await pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE last_error IS NOT NULL AND attempts > 0"
    )
    assert last_errors == 12


async def test_one_leader_and_takeover(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    relays = [make_relay(db_settings, broker, batch=5) for _ in range(2)]
    await asyncio.gather(*(r.start() for r in relays))
    stopped: list[OutboxRelay] = []

    def leaders() -> list[OutboxRelay]:
        return [r for r in relays if r.info()["leader"]]

    async def lock_holder() -> int | None:
        pid: int | None = await pool.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return pid

    try:
        ids = await write_many(pool, KEYS, 30, "one")
        await wait_until(lambda: all_published(pool), what="published by one leader")
        assert len(leaders()) == 1
        assert sum(r.info()["published_total"] for r in relays) == 30

        # the leader's session dies: the lock goes with it and is taken again
        old_pid = await lock_holder()
        assert old_pid is not None
        await pool.execute("SELECT pg_terminate_backend($1)", old_pid)

        async def new_leader() -> bool:
            pid = await lock_holder()
            return pid is not None and pid != old_pid and len(leaders()) == 1

        await wait_until(new_leader, what="a leader on a new session")
        ids += await write_many(pool, KEYS, 10, "two")
        await wait_until(lambda: all_published(pool), what="published after the session died")

        # stopping the leader hands over to the other relay
        leader = leaders()[0]
        await leader.stop()
        stopped.append(leader)
        other = next(r for r in relays if r is not leader)
        await wait_until(lambda: other.info()["leader"], what="takeover")
        before = other.info()["published_total"]
        ids += await write_many(pool, KEYS, 10, "three")
        await wait_until(lambda: all_published(pool), what="published after takeover")
        assert other.info()["published_total"] == before + 10
    finally:
        for r in relays:
            if r not in stopped:
                await r.stop()

    seen = await consume(broker, 50)
    assert sorted(s.event_id for s in seen) == sorted(ids)  # no duplicates
    assert per_key(seen) == await expected_order(pool, ids)


async def test_crash_between_ack_and_mark_resends(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    ids = await write_many(pool, KEYS, 6, "crash")
    crashed = asyncio.Event()

    async def crash(acked: Sequence[int]) -> None:
        assert len(acked) == 6
        crashed.set()
        raise asyncio.CancelledError  # the relay dies here: acknowledged, not marked

    first = make_relay(db_settings, broker, before_mark=crash)
    await first.start()
    try:
        await asyncio.wait_for(crashed.wait(), 10)
    finally:
        await first.stop()
    assert await unpublished(pool) == 6
    assert len(await consume(broker, 6)) == 6

    second = make_relay(db_settings, broker)
    await second.start()
    try:
        await wait_until(lambda: all_published(pool), what="re-sent and marked")
    finally:
        await second.stop()

    seen = await consume(broker, 12)
    assert sorted(s.event_id for s in seen) == sorted(ids * 2)  # each exactly twice
    order = await expected_order(pool, ids)
    assert per_key(seen) == {k: v + v for k, v in order.items()}


async def test_lost_session_before_mark_resends(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    ids = await write_many(pool, KEYS, 4, "lost")
    calls = 0

    async def lose_session(acked: Sequence[int]) -> None:  # noqa: ARG001
        nonlocal calls
        calls += 1
        if calls == 1:  # the mark's session dies after the broker acknowledged
            await pool.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )

    relay = make_relay(db_settings, broker, before_mark=lose_session)
    await relay.start()
    try:
        await wait_until(lambda: all_published(pool), what="re-sent and marked")
        assert calls == 2 and relay.info()["published_total"] == 4
    finally:
        await relay.stop()
    seen = await consume(broker, 8)
    assert sorted(s.event_id for s in seen) == sorted(ids * 2)


# The fallback poll in the two tests below: no timer-driven fetch can happen within it.
SLOW_POLL_S = 30.0


async def test_notification_wakes_the_relay_before_its_poll(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    started = time.monotonic()
    relay = make_relay(db_settings, broker, poll_s=SLOW_POLL_S)
    await relay.start()
    try:
        await wait_until(lambda: relay.info()["listening"], what="listening")
        first = await write(pool, [("pair:a", {"n": 1})])
        await wait_until(lambda: all_published(pool), what="first published")
        # Written after the fetch that published `first`: only a fetch woken by its commit's
        # notification can publish it before the poll, SLOW_POLL_S after that fetch.
        second = await write(pool, [("pair:a", {"n": 2}), ("pair:b", {"n": 3})])
        await wait_until(lambda: all_published(pool), what="second published")
        assert time.monotonic() - started < SLOW_POLL_S  # no poll timer can have fired
        info = relay.info()
    finally:
        await relay.stop()
    assert info["listening"] and info["published_total"] == 3
    seen = await consume(broker, 3)
    assert per_key(seen) == await expected_order(pool, first + second)


async def test_lost_notification_waits_for_the_fallback_poll(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    slow = make_relay(db_settings, broker, poll_s=SLOW_POLL_S)
    await slow.start()
    try:
        await wait_until(lambda: slow.info()["listening"], what="listening")
        ids = await write(pool, [("pair:a", {"n": 1})])
        await wait_until(lambda: all_published(pool), what="notified event published")
        ids.append(await write_unnotified(pool, "pair:a", "lost"))
        await asyncio.sleep(1.0)
        assert await unpublished(pool) == 1  # nothing told this relay: it really was lost
        # the next notification brings it along, in order
        ids += await write(pool, [("pair:a", {"n": 3})])
        await wait_until(lambda: all_published(pool), what="lost event published")
    finally:
        await slow.stop()

    # No notification at all from here on: only the fallback poll can publish the second one.
    ids.append(await write_unnotified(pool, "pair:b", "before start"))
    polling = make_relay(db_settings, broker, poll_s=0.3)
    await polling.start()
    try:
        await wait_until(lambda: all_published(pool), what="published by the first fetch")
        ids.append(await write_unnotified(pool, "pair:b", "after start"))
        await wait_until(lambda: all_published(pool), what="published by the poll")
        info = polling.info()
    finally:
        await polling.stop()
    assert info["listening"] and info["published_total"] == 2
    seen = await consume(broker, 5)
    assert sorted(s.event_id for s in seen) == sorted(ids)
    assert per_key(seen) == await expected_order(pool, ids)


async def test_poll_only_when_listen_is_off(
    pool: asyncpg.Pool, db_settings: DatabaseSettings, broker: TansuBroker
) -> None:
    relay = make_relay(db_settings, broker, listen=False)
    await relay.start()
    try:
        await wait_until(lambda: relay.info()["leader"], what="leader")
        ids = await write_many(pool, KEYS, 6, "polled")
        await wait_until(lambda: all_published(pool), what="published by polling")
        assert relay.info()["listening"] is False
    finally:
        await relay.stop()
    seen = await consume(broker, 6)
    assert per_key(seen) == await expected_order(pool, ids)
