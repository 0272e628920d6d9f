"""The one place that talks to Kafka."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from matching.core.settings import KafkaSettings


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
