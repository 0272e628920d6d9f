"""The queue's erasure step and its match.found event, end to end over the real servers:
PostgreSQL, Redis and a tansu broker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from deployments.embedder import Embedder
from matching.core.events.relay import OutboxRelay
from matching.core.settings import DatabaseSettings, KafkaSettings
from matching.devtools.services import TansuBroker
from tests.integration.queue_support import QueueApp, queue_app, queue_app_for
from tests.support import profile_body

__all__ = ["queue_app"]


async def _pair(app: QueueApp, a: uuid.UUID, b: uuid.UUID) -> tuple[str, str, str]:
    ta = (await app.ask(a)).json()["ticket_id"]
    tb = (await app.ask(b)).json()["ticket_id"]
    await app.round()
    match_id = (await app.client.get(f"/v1/queue/requests/{ta}")).json()["match_id"]
    return ta, tb, match_id


async def test_erasing_a_person_frees_their_partner_and_removes_their_queue_history(
    queue_app: QueueApp,
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert (await queue_app.client.put(f"/v1/profiles/{a}", json=profile_body())).status_code == 201
    _, tb, match_id = await _pair(queue_app, a, b)
    assert (await queue_app.client.delete(f"/v1/profiles/{a}")).status_code == 204
    back = (await queue_app.client.get(f"/v1/queue/requests/{tb}")).json()
    assert back["status"] == "pending" and back["position"] == 1
    match = (await queue_app.client.get(f"/v1/queue/matches/{match_id}")).json()
    assert match["status"] == "cancelled" and match["reason"] == "user_deleted"
    assert await queue_app.events(a) == []  # their stream went with them
    await queue_app.round()  # the records naming them that were still queued are skipped
    async with queue_app.resources.connection() as conn:
        named = await conn.fetchval(
            "SELECT (SELECT count(*) FROM queue_tickets WHERE user_id = $1) + "
            "(SELECT count(*) FROM queue_matches WHERE user_a = $1 OR user_b = $1)",
            a,
        )
        erased = await conn.fetchval(
            "SELECT payload FROM event_outbox WHERE event_type = 'user.erased'"
        )
        kept = await conn.fetchval("SELECT status FROM queue_tickets WHERE id = $1", uuid.UUID(tb))
    assert named == 0 and erased["queue_session_ids"] == [] and kept == "pending"


async def test_match_found_reaches_kafka_once_per_session(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    with TansuBroker(tmp_path / "kafka", topics={"matching.events": 3}) as broker:
        async with queue_app_for(
            fresh_database, tmp_path, embedder, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers
        ) as app:
            a, b = uuid.uuid4(), uuid.uuid4()
            _, _, match_id = await _pair(app, a, b)
            for user in (a, b):
                body = {"match_id": match_id, "confirmed": True}
                await app.bare.post("/v1/queue/confirm", json=body, headers=app.bearer(user))
            await app.round()
            await app.queue.matcher.write_history()  # a replay: still one event
            settings = app.resources.settings
            relay = OutboxRelay(
                DatabaseSettings.model_validate({"DATABASE_URL": fresh_database}),
                KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}),
            )
            try:
                assert await relay.publish_pending() == 1
            finally:
                await relay.stop()
            session = (await app.client.get(f"/v1/queue/matches/{match_id}")).json()["session"]
        consumer = AIOKafkaConsumer(
            settings.kafka.matching_topic,
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=10_000)
            values = [json.loads(r.value) for rs in batches.values() for r in rs if r.value]
        finally:
            await consumer.stop()
    assert [v["event_type"] for v in values] == ["match.found"]
    event = values[0]
    assert event["session_id"] == session["session_id"] and event["match_id"] == match_id
    assert sorted(event["user_ids"]) == sorted([str(a), str(b)])
    assert event["criteria"] == {"difficulty": "easy", "topic": "arrays"}
