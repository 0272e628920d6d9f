"""The one place that talks to Kafka: the broker ping and the producer factory."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.errors import KafkaError

from matching.core.settings import KafkaSettings

# The service's producer defaults; a caller overrides only what its traffic needs.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "client_id": "matching-service",
    "acks": "all",  # an event is sent once every in-sync replica has it
    # tansu cannot InitProducerId, and at-least-once + event_id dedup is the contract
    "enable_idempotence": False,
    "request_timeout_ms": 30_000,
}


def create_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """An unstarted producer to `settings.bootstrap_servers` with the service's defaults."""
    if not settings.bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
    options = {**PRODUCER_DEFAULTS, **overrides}
    return AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, **options)


async def ping(settings: KafkaSettings, timeout_s: float = 2.0) -> bool | None:
    """True if a broker answers a metadata request; None when Kafka is not configured."""
    if not settings.bootstrap_servers:
        return None
    client = AIOKafkaClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()
