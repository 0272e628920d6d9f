"""user.deleted on Kafka erases the person from every table, the cache and the live index."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from deployments.embedder import Embedder
from matching.core.events.consumer import EventConsumer
from matching.core.events.handlers import EventHandlers
from matching.core.settings import Settings
from matching.devtools.services import TansuBroker
from tests.integration.conftest import REDIS_URL, start_app, stop_app
from tests.support import profile_body

TABLES = {
    "profiles": "id = $1",
    "matching_preferences": "user_id = $1",
    "user_features": "user_id = $1",
    "swipe_history": "swiper_id = $1 OR swiped_id = $1",
    "user_matches": "user1_id = $1 OR user2_id = $1",
    "matching_analytics": "user_id = $1 OR target_user_id = $1",
    "event_registrations": "user_id = $1",
}


async def test_user_deleted_event_erases_everywhere(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    topics = {"user.events": 1, "event.events": 1, "matching.errors": 1, "matching.events": 1}
    with TansuBroker(tmp_path / "kafka", topics=topics) as broker:
        settings = Settings.from_env(
            {
                "DATABASE_URL": fresh_database,
                "REDIS_URL": REDIS_URL,
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "MATCHING_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
                "MATCHING_DISCOVER_CACHE_TTL_S": "600",
            }
        )
        app = await start_app(settings, embedder)
        handlers = EventHandlers(
            app.resources.pool,
            embedder.embed,
            embedder.model_version,
            topic=settings.kafka.matching_topic,
            erasure_steps=app.resources.erasure_steps,
            on_profile_changed=app.resources.profile_changed,
        )
        consumer = EventConsumer(
            settings.kafka,
            app.resources.pool,
            handlers.as_mapping(),
            session_timeout_ms=1000,
            heartbeat_interval_ms=100,
            rebalance_timeout_ms=1000,
        )
        try:
            gone, stays = str(uuid.uuid4()), str(uuid.uuid4())
            for uid, company in ((gone, "A"), (stays, "B")):
                body = profile_body(company, company=company)
                assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
            for a, b in ((gone, stays), (stays, gone)):
                await app.client.post(
                    "/v1/swipes", json={"swiper_id": a, "swiped_id": b, "action": "like"}
                )
            await app.client.post(
                "/v1/analytics",
                json={
                    "user_id": gone,
                    "event_type": "conversation_started",
                    "target_user_id": stays,
                },
            )
            async with app.resources.pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO event_registrations (event_id, user_id) VALUES ('meetup', $1)",
                    uuid.UUID(gone),
                )
            third = str(uuid.uuid4())
            await app.client.put(f"/v1/profiles/{third}", json=profile_body("C", company="C"))
            listed = (await app.client.get(f"/v1/users/{third}/discover")).json()["candidates"]
            assert gone in {c["user_id"] for c in listed}  # now cached for `third`
            assert await app.resources.discover_cache.get(third) is not None

            consumer.start()
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            await producer.start()
            try:
                await producer.send_and_wait(
                    "user.events",
                    json.dumps(
                        {
                            "event_type": "user.deleted",
                            "event_id": str(uuid.uuid4()),
                            "user_id": gone,
                        }
                    ).encode(),
                )
            finally:
                await producer.stop()

            for _ in range(150):
                if app.retriever.person(uuid.UUID(gone)) is None:
                    break
                await asyncio.sleep(0.1)
            assert app.retriever.person(uuid.UUID(gone)) is None
            async with app.resources.pool.acquire() as conn:
                for table, where in TABLES.items():
                    n = await conn.fetchval(
                        f"SELECT count(*) FROM {table} WHERE {where}", uuid.UUID(gone)
                    )
                    assert n == 0, table
                erased = await conn.fetchval(
                    "SELECT count(*) FROM event_outbox WHERE event_type = 'user.erased'"
                )
            assert erased == 1
            assert await app.resources.discover_cache.get(third) is None
            again = (await app.client.get(f"/v1/users/{third}/discover")).json()["candidates"]
            assert gone not in {c["user_id"] for c in again}
            found = (await app.client.post("/v1/search", json={"prompt": "A"})).json()
            assert gone not in {c["user_id"] for c in found["candidates"]}
        finally:
            await consumer.stop()
            await stop_app(app)
