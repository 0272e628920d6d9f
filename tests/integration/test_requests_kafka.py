"""Kafka request/reply over a tansu broker, real PostgreSQL, Redis and the real model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core import metrics
from matching.core.api.resources import Resources
from matching.core.events.consumer import EventConsumer
from matching.core.events.relay import OutboxRelay
from matching.core.stages import LocalStage
from matching.devtools.services import TansuBroker
from matching.requests.kafka import RequestHandler, consumer_settings, decode_request
from matching.requests.mode import Requests
from serve_app.services import build_services
from tests.integration.conftest import App, make_settings, stop_app
from tests.support_requests import provider_body, request_body

TOPICS = {"matching-requests": 1, "matching-responses": 1, "matching-errors": 1}
FAST: dict[str, Any] = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 100,
    "rebalance_timeout_ms": 1000,
    "retry_backoff_s": (0.05, 0.5),
}
WAIT_S = 60.0


class Rig:
    """The app (requests mode), its relay, and request consumers the test starts/stops."""

    def __init__(self, app: App, broker: TansuBroker) -> None:
        self.app, self.broker = app, broker
        self.mode = app.services.mode("requests")
        assert isinstance(self.mode, Requests)
        self.consumers: list[EventConsumer] = []
        self.seen: list[tuple[str, str | None, dict[str, Any]]] = []  # (topic, key, value)

    def start_consumer(self) -> EventConsumer:
        settings = self.app.resources.settings
        handler = RequestHandler(self.mode.service, self.app.resources.pool)
        kafka = consumer_settings(settings.kafka, settings.requests)
        consumer = EventConsumer(
            kafka, self.app.resources.pool, handler.as_mapping(), decode=decode_request, **FAST
        )
        consumer.start()
        self.consumers.append(consumer)
        return consumer

    async def wait_for(self, n: int, topic: str) -> list[tuple[str | None, dict[str, Any]]]:
        deadline = time.monotonic() + WAIT_S
        while True:
            found = [(k, v) for t, k, v in self.seen if t == topic]
            if len(found) >= n:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {n} records on {topic}: {self.seen}")
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def rig(fresh_database: str, tmp_path: Path, embedder: Embedder) -> AsyncIterator[Rig]:
    with TansuBroker(tmp_path / "kafka", topics=TOPICS) as broker:
        settings = make_settings(
            fresh_database,
            tmp_path / "artifacts",
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
            MATCHING_RELAY_POLL_S="0.05",
        )
        retriever = Retriever(settings)
        await retriever.start()
        resources = Resources(
            settings, LocalStage(embedder), LocalStage(retriever), LocalStage(Reranker(settings))
        )
        await resources.start()
        app = App(build_services(resources, ("requests",)), retriever)
        relay = OutboxRelay(settings.database, settings.kafka, election_interval_s=0.3)
        await relay.start()
        rig = Rig(app, broker)
        reader = asyncio.create_task(_read(rig, broker))
        try:
            yield rig
        finally:
            # awaited, so the reader's consumer is stopped here and not left for the
            # garbage collector after the loop has closed (an unraisable warning later)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            for consumer in rig.consumers:
                await consumer.stop()
            await relay.stop()
            await stop_app(app)


async def _read(rig: Rig, broker: TansuBroker) -> None:
    consumer = AIOKafkaConsumer(
        "matching-responses",
        "matching-errors",
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex}",
    )
    try:
        await consumer.start()
        async for record in consumer:
            key = record.key.decode() if record.key else None
            rig.seen.append((record.topic, key, json.loads(record.value)))
    finally:
        await consumer.stop()


@pytest_asyncio.fixture
async def producer(rig: Rig) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=rig.broker.bootstrap_servers, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def send(producer: AIOKafkaProducer, value: dict[str, Any] | bytes) -> None:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    await producer.send_and_wait("matching-requests", raw)


async def put_provider(rig: Rig, **over: Any) -> str:
    provider_id = str(uuid.uuid4())
    r = await rig.app.client.put(f"/v1/providers/{provider_id}", json=provider_body(**over))
    assert r.status_code == 200, r.text
    return provider_id


def _timings() -> dict[str, float]:
    """How many rankings each transport timed, and how many replies' lags were measured."""
    ranked = "matching_request_matching_seconds"
    return {
        "kafka": metrics.value(ranked, transport="kafka"),
        "http": metrics.value(ranked, transport="http"),
        "reply_lag": metrics.value("matching_kafka_reply_lag_seconds"),
    }


async def _timed(expected: dict[str, float]) -> None:
    """The handler records a reply's lag once its transaction commits, which may be a moment
    after the relay has published the reply."""
    deadline = time.monotonic() + WAIT_S
    while _timings() != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert _timings() == expected


def _ranking(result: dict[str, Any]) -> list[tuple[str, float, dict[str, float]]]:
    return [(m["provider_id"], m["match_score"], m["factors"]) for m in result["matches"]]


async def test_kafka_and_http_answer_the_same_ranking(rig: Rig, producer: AIOKafkaProducer) -> None:
    await put_provider(rig)
    await put_provider(rig, name="Bob", hourly_rate=90, rating_count=3)
    await put_provider(rig, name="Eve", hourly_rate=400)
    before = _timings()
    rig.start_consumer()
    await send(producer, {**request_body(request_id="k-1"), "correlation_id": "c-1"})
    [(key, reply)] = await rig.wait_for(1, "matching-responses")
    assert key == "k-1" and reply["correlation_id"] == "c-1" and reply["request_id"] == "k-1"
    http = await rig.app.client.post("/v1/requests", json=request_body(request_id="h-1"))
    await _timed({k: v + 1 for k, v in before.items()})
    assert _ranking(reply["result"]) == _ranking(http.json())
    assert reply["result"]["filtered_out"] == http.json()["filtered_out"]
    assert len(reply["result"]["matches"]) == 2


async def test_a_request_id_sent_twice_is_ranked_once_and_answered_twice(
    rig: Rig, producer: AIOKafkaProducer
) -> None:
    await put_provider(rig)
    before = _timings()
    rig.start_consumer()
    await send(producer, {**request_body(request_id="dup"), "correlation_id": "a"})
    await send(producer, {**request_body(request_id="dup"), "correlation_id": "b"})
    replies = await rig.wait_for(2, "matching-responses")
    ranked_once_replied_twice = {"kafka": 1, "http": 0, "reply_lag": 2}
    await _timed({k: v + ranked_once_replied_twice[k] for k, v in before.items()})
    assert [r["correlation_id"] for _, r in replies] == ["a", "b"]
    assert replies[0][1]["result"] == replies[1][1]["result"]
    async with rig.app.resources.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM match_requests") == 1


async def test_invalid_requests_and_poison_go_to_the_errors_topic(
    rig: Rig, producer: AIOKafkaProducer
) -> None:
    consumer = rig.start_consumer()
    bad = request_body(request_id="bad-1", budget={"max_hourly_rate": -5, "currency": "USD"})
    await send(producer, {**bad, "correlation_id": "x"})
    await send(producer, b"{not json")
    await send(producer, b"[1, 2]")
    errors = await rig.wait_for(3, "matching-errors")
    # the error event comes through the outbox relay, the dead letters straight from the loop
    [invalid] = [e for _, e in errors if e.get("event_type") == "match.error"]
    assert invalid["event_type"] == "match.error" and invalid["code"] == "invalid_request"
    assert invalid["request_id"] == "bad-1" and invalid["correlation_id"] == "x"
    assert "budget.max_hourly_rate" in invalid["reason"] and "-5" not in invalid["reason"]
    assert "description" not in invalid  # never the request itself
    dead = [e["reason"] for _, e in errors if e.get("event_type") != "match.error"]
    assert dead == ["malformed_json", "malformed_json"]
    assert consumer.info()["dead_lettered"] == 2
    assert await rig.wait_for(0, "matching-responses") == []


async def test_a_restarted_consumer_answers_every_request_once(
    rig: Rig, producer: AIOKafkaProducer
) -> None:
    await put_provider(rig)
    first = rig.start_consumer()
    await send(producer, {**request_body(request_id="r-0"), "correlation_id": "c-0"})
    await rig.wait_for(1, "matching-responses")
    await first.stop()
    for i in (1, 2, 3):
        await send(producer, {**request_body(request_id=f"r-{i}"), "correlation_id": f"c-{i}"})
    rig.start_consumer()
    replies = await rig.wait_for(4, "matching-responses")
    await asyncio.sleep(1.0)  # anything redelivered would be answered again by now
    keys = sorted(k or "" for t, k, _ in rig.seen if t == "matching-responses")
    assert keys == ["r-0", "r-1", "r-2", "r-3"]
    assert all(r["result"]["matches"] for _, r in replies)
    async with rig.app.resources.connection() as conn:
        done = await conn.fetchval("SELECT count(*) FROM match_requests WHERE status = 'completed'")
    assert done == 4


@pytest.mark.parametrize("reply_to", ["custom-replies"])
async def test_the_reply_goes_where_reply_to_says(
    rig: Rig, producer: AIOKafkaProducer, reply_to: str
) -> None:
    await put_provider(rig)
    rig.start_consumer()
    await send(producer, {**request_body(request_id="rt-1"), "reply_to": reply_to})
    reader = AIOKafkaConsumer(
        reply_to, bootstrap_servers=rig.broker.bootstrap_servers, auto_offset_reset="earliest"
    )
    try:
        await reader.start()
        record = await asyncio.wait_for(reader.getone(), WAIT_S)
    finally:
        await reader.stop()
    assert record.key == b"rt-1" and json.loads(record.value)["request_id"] == "rt-1"
