"""The one place that talks to Kafka: client options, the broker ping and the producer factory."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from matching.core.settings import KafkaSettings

# The service's producer defaults; a caller overrides only what its traffic needs.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "client_id": "matching-service",
    "acks": "all",  # an event is sent once every in-sync replica has it
    # tansu cannot InitProducerId, and at-least-once + event_id dedup is the contract
    "enable_idempotence": False,
}


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Where and how every aiokafka client of the service connects: brokers, TLS and SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.uses_tls:
        # No CA file: create_default_context loads the system's trust store.
        options["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
        )
    if settings.uses_sasl:
        password = settings.sasl_password
        options["sasl_mechanism"] = settings.sasl_mechanism
        # aiokafka takes SCRAM credentials through its sasl_plain_* arguments too.
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def request_timeout_ms(settings: KafkaSettings) -> int:
    """MATCHING_KAFKA_TIMEOUT_S as aiokafka's request_timeout_ms."""
    return max(1, round(settings.request_timeout_s * 1000))


def create_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """An unstarted producer to `settings.bootstrap_servers` with the service's defaults."""
    if not settings.bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
    timeout = {"request_timeout_ms": request_timeout_ms(settings)}
    options = {**client_options(settings), **PRODUCER_DEFAULTS, **timeout, **overrides}
    return AIOKafkaProducer(**options)


async def ping(settings: KafkaSettings, timeout_s: float = 2.0) -> bool | None:
    """True if a broker answers a metadata request; None when Kafka is not configured."""
    if not settings.bootstrap_servers:
        return None
    client = AIOKafkaClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()
