"""The local stand-ins `matching up` starts: tansu, redis-server and embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from matching.devtools.services import (
    EmbeddedPostgres,
    LocalRedis,
    ServiceError,
    TansuBroker,
    free_port,
    port_open,
    wait_for_port,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path / "tansu", topics={"matching.events": 1}) as b:
        yield b


def test_free_port_and_wait_for_port() -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=str(port)):
        wait_for_port("127.0.0.1", port, timeout=0.2)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        wait_for_port("127.0.0.1", port, timeout=1.0)


async def _consume_one(
    bootstrap: str, topic: str, partition: int
) -> tuple[int, bytes | None, bytes | None]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        msg = await asyncio.wait_for(consumer.getone(), 10)
        return msg.offset, msg.key, msg.value
    finally:
        await consumer.stop()


async def test_tansu_produce_consume_and_restart(broker: TansuBroker) -> None:
    from aiokafka import AIOKafkaProducer

    port = broker.port
    assert broker.bootstrap_servers == f"127.0.0.1:{port}"
    assert broker.log_path.is_file()
    broker.create_topic("matching.events", partitions=1)  # exists already: no error

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        md = await producer.send_and_wait("matching.events", b"hello", key=b"u1")
        assert (md.partition, md.offset) == (0, 0)
        assert await _consume_one(broker.bootstrap_servers, "matching.events", 0) == (
            0,
            b"u1",
            b"hello",
        )

        # same port, so the connected producer reconnects; memory storage starts empty and
        # the broker re-creates `topics`
        assert broker.restart() == f"127.0.0.1:{port}"
        assert broker.running
        md = await asyncio.wait_for(
            producer.send_and_wait("matching.events", b"again", key=b"u2"), 15
        )
        assert (md.partition, md.offset) == (0, 0)
        assert await _consume_one(broker.bootstrap_servers, "matching.events", 0) == (
            0,
            b"u2",
            b"again",
        )
    finally:
        await producer.stop()

    broker.stop()
    assert not broker.running
    assert not port_open("127.0.0.1", port)
    broker.stop()  # idempotent


def test_tansu_start_failure_shows_log(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="FeatureNotEnabled"):
        TansuBroker(tmp_path, port=free_port(), storage_engine="sqlite://x.db").start()


async def test_redis_ping_set_get(tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    with LocalRedis(tmp_path / "redis") as local:
        assert local.url == f"redis://127.0.0.1:{local.port}/0"
        client = aioredis.Redis.from_url(local.url)
        try:
            assert await client.ping()
            await client.set("k", "v")
            assert await client.get("k") == b"v"
        finally:
            await client.aclose()
        port = local.port
    assert not port_open("127.0.0.1", port)


def test_redis_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match="REDIS_URL"):
        LocalRedis(tmp_path / "redis").start()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_redis_persist_keeps_data(tmp_path: Path) -> None:
    import redis

    for round_ in range(2):
        with LocalRedis(tmp_path / "redis", persist=True) as local:
            client = redis.Redis.from_url(local.url)
            try:
                if round_ == 0:
                    client.set("kept", "yes")
                else:
                    assert client.get("kept") == b"yes"
            finally:
                client.close()
    assert (tmp_path / "redis" / "dump.rdb").is_file()


async def test_embedded_postgres(tmp_path: Path) -> None:
    import asyncpg

    data = tmp_path / "home" / "postgres"
    pg = EmbeddedPostgres(data, durable=False)
    try:
        dsn = pg.start()
        assert dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert pg.owned
        url = pg.ensure_database("matching_test")
        assert url.endswith(f":{pg.port}/matching_test")
        assert pg.ensure_database("matching_test") == url  # idempotent

        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_database()") == "matching_test"
        finally:
            await conn.close()

        # a second start over the same data dir reuses the running server, and leaves it be
        other = EmbeddedPostgres(data)
        assert other.start() == dsn
        assert not other.owned
        other.stop()
        assert pg.running
    finally:
        pg.stop()
    port = pg.port
    assert not port_open("127.0.0.1", port)

    # a stale postmaster.pid (crash, SIGKILL) does not block the next start; data persists
    (data / "postmaster.pid").write_text(
        f"{2**22 + 12345}\n{data}\n0\n{port}\n\n127.0.0.1\n0\nready\n"
    )
    with EmbeddedPostgres(data, durable=False) as again:
        conn = await asyncpg.connect(again.dsn("matching_test"))
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
