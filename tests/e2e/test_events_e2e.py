"""Swipes through the served app while the broker goes down and comes back.

Delivery is at least once: a consumer that de-duplicates by event_id sees every event exactly
once, and each key's events in the order they were written. Only events written during the
outage may be sent twice (an ambiguous ack while the broker came back); nothing marked
published before it is ever sent again. Every match exists exactly once."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from matching.devtools.services import TansuBroker
from tests.e2e.conftest import KEYED
from tests.support import profile_body

TOPIC = "matching.events"


class Collector:
    """Reads every partition of the topic from the start, in a thread, until stopped."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.events: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._rewind = threading.Event()
        self._keep = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            request_timeout_ms=5000,
            retry_backoff_ms=200,
            metadata_max_age_ms=1000,
        )
        await consumer.start()
        try:
            # Follow the topic's partitions as they are now: a restarted tansu may re-create
            # the topic with another partition count.
            assigned: set[TopicPartition] = set()
            while not self._stop.is_set():
                current = {
                    TopicPartition(TOPIC, p)
                    for p in consumer.partitions_for_topic(TOPIC) or {0, 1, 2}
                }
                if current != assigned:
                    consumer.assign(sorted(current))
                    await consumer.seek_to_beginning(*(current - assigned))
                    assigned = current
                if self._rewind.is_set():
                    self._rewind.clear()
                    del self.events[self._keep :]  # read again below, from offset 0
                    await consumer.seek_to_beginning(*assigned)
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    self.events.extend(json.loads(r.value) for r in records)
        finally:
            await consumer.stop()

    def rewind(self, keep: int) -> None:
        """Forget what was read after the first `keep` events and read every partition again
        from offset 0.

        tansu keeps messages in memory: after a restart its logs start again at offset 0, and
        a reader that kept its old positions would skip that many new records. (A real Kafka
        broker keeps its logs and offsets across a restart.)
        """
        self._keep = keep
        self._rewind.set()

    def __enter__(self) -> Collector:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def outbox(database_url: str) -> tuple[list[tuple[str, str]], int]:
    """((event_id, message_key) in write order, count not yet published)."""

    async def read() -> tuple[list[tuple[str, str]], int]:
        conn = await asyncpg.connect(database_url)
        try:
            ids = [
                (str(r["event_id"]), r["message_key"] or "")
                for r in await conn.fetch(
                    "SELECT event_id, message_key FROM event_outbox ORDER BY id"
                )
            ]
            pending = await conn.fetchval(
                "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"
            )
            return ids, int(pending)
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.fixture
def single(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{served}/single", timeout=60, headers=KEYED) as client:
        yield client


def test_swipes_survive_a_broker_restart(
    single: httpx.Client, broker: TansuBroker, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    people = []
    for i in range(8):
        uid = str(uuid.uuid4())
        body = profile_body(f"P{i} {tag}", company=f"C{i}{tag}", latitude=40.7, longitude=-74.0)
        assert single.put(f"/v1/profiles/{uid}", json=body).status_code == 201
        people.append(uid)
    pairs = list(itertools.combinations(people, 2))
    swipes = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs[::2]]  # half reciprocal
    first, second = swipes[: len(swipes) // 2], swipes[len(swipes) // 2 :]

    def send(batch: list[tuple[str, str]]) -> None:
        for a, b in batch:
            r = single.post("/v1/swipes", json={"swiper_id": a, "swiped_id": b, "action": "like"})
            assert r.status_code == 200, r.text

    with Collector(broker.bootstrap_servers) as seen:
        send(first)
        wait_for(lambda: outbox(database_url)[1] == 0, 60, "the relay to publish")
        wait_for(lambda: len(seen.events) >= len(outbox(database_url)[0]), 60, "events")
        read_before_stop = len(seen.events)
        before_outage = {event_id for event_id, _ in outbox(database_url)[0]}
        broker.stop()
        send(second)  # writes keep succeeding with Kafka down
        assert outbox(database_url)[1] > 0
        broker.restart()
        seen.rewind(read_before_stop)
        wait_for(lambda: outbox(database_url)[1] == 0, 90, "the relay to catch up")
        written, _ = outbox(database_url)
        ids = {event_id for event_id, _ in written}
        wait_for(lambda: {str(e["event_id"]) for e in seen.events} >= ids, 60, "delivery")

    counts = Counter(str(e["event_id"]) for e in seen.events)
    twice = {i for i in ids if counts[i] > 1}
    assert not twice & before_outage, "an event marked published was sent again"
    # de-duplicated by event_id (keeping the last copy), each key's events are in write order
    last: dict[str, int] = {str(e["event_id"]): n for n, e in enumerate(seen.events)}
    for key in {k for _, k in written}:
        expected = [i for i, k in written if k == key]
        assert sorted(expected, key=last.__getitem__) == expected, f"key {key} out of order"
    unique = {str(e["event_id"]): e for e in seen.events}.values()
    created = [e for e in unique if e["event_type"] == "match.created" and e["user1_id"] in people]
    assert len(created) == len(pairs[::2])
    matches = {tuple(sorted((str(e["user1_id"]), str(e["user2_id"])))) for e in created}
    assert len(matches) == len(created), "one match per pair"
    for a, b in pairs[::2]:
        page = single.get(f"/v1/users/{a}/matches?status=mutual&limit=100").json()
        assert sum({m["user1_id"], m["user2_id"]} == {a, b} for m in page["matches"]) == 1
