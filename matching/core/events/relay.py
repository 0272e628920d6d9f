"""The outbox relay: publishes `event_outbox` rows to Kafka, in id order, at least once.

One relay is active across all replicas: the one holding a PostgreSQL session-level advisory
lock on its own connection. It reads unpublished rows in id order, sends them keyed by
`message_key` with `acks="all"`, and marks them published only once the broker acknowledged.
It wakes when PostgreSQL notifies it of new rows (LISTEN on its own session, see migration
0011) and polls every `MATCHING_RELAY_POLL_S` only in case a notification was lost.

Delivery is at least once. Nothing is published twice in normal operation; a duplicate (same
`event_id`, which consumers use to deduplicate) can appear only after a failure:

* a crash, a lost database connection or a lost leadership between the broker's ack and the
  mark: the next leader sends those rows again;
* a batch that partly failed (say one partition's leader moved while the broker restarted):
  every acknowledged row is marked unless an earlier row with the same key failed. Those are
  sent again after the failed one, so the last copy of each event stays in per-key order;
  rows of other keys are not sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from matching.core import metrics
from matching.core.events.kafka import create_producer
from matching.core.settings import DatabaseSettings, KafkaSettings
from matching.core.storage import outbox
from matching.core.storage.db import connect
from matching.core.storage.locks import Lock, try_lock

log = logging.getLogger(__name__)

_ERROR_CHARS = 1000

BeforeMark = Callable[[Sequence[int]], Awaitable[None]]


class PublishError(RuntimeError):
    """Kafka did not acknowledge part of a batch; the unacknowledged rows stay pending."""


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _utf8(value: str) -> bytes:
    return value.encode()


def _describe(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc)
    if not text.startswith(name):  # aiokafka's errors already start with their name
        text = f"{name}: {text}" if text else name
    return text[:_ERROR_CHARS]


def _markable(rows: Sequence[asyncpg.Record], acked: Sequence[bool]) -> list[int]:
    """Ids of the acknowledged rows that no failed row with the same key precedes.

    A row behind a failed one of its key must go again after it, or a consumer would see
    that key's events out of order; rows of every other key are done.
    """
    blocked: set[str | None] = set()
    done = []
    for row, ok in zip(rows, acked, strict=True):
        key = row["message_key"]
        if ok and key not in blocked:
            done.append(row["id"])
        elif not ok:
            blocked.add(key)
    return done


class OutboxRelay:
    """Publishes the transactional outbox to Kafka while this replica holds the leader lock."""

    def __init__(
        self,
        database: DatabaseSettings,
        kafka: KafkaSettings,
        *,
        lock_key: int = Lock.RELAY_LEADER,
        election_interval_s: float = 3.0,
        max_backoff_s: float = 5.0,
        request_timeout_ms: int = 5000,
        stats_interval_s: float = 1.0,
        before_mark: BeforeMark | None = None,
    ) -> None:
        if not kafka.bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
        if not database.url:
            raise ValueError("DATABASE_URL is not set")
        self._db = database
        self._kafka = kafka
        self._lock_key = lock_key
        self._election_interval_s = election_interval_s
        self._max_backoff_s = max_backoff_s
        self._request_timeout_ms = request_timeout_ms
        self._stats_interval_s = stats_interval_s
        # Test hook: runs after the broker acknowledged, before the rows are marked.
        self._before_mark = before_mark

        self._conn: asyncpg.Connection | None = None
        self._producer: Any = None
        self._leader = False
        self._listening = False
        self._connected = False
        self._pending = 0
        self._lag_s: float | None = None
        self._published_total = 0
        self._last_error: str | None = None
        self._stats_at = 0.0
        self._step_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        # Set by a notification (or a lost session): pending rows may be there, go now.
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the background loop (elect, publish, retry) as an asyncio task."""
        if self._task is not None:
            raise RuntimeError("OutboxRelay already started")
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, grace_s: float | None = None) -> None:
        """Let the current batch finish (or cancel it after `grace_s`), then disconnect."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            if grace_s is None:
                grace_s = self._request_timeout_ms / 1000 + self._db.command_timeout_s
            done, _ = await asyncio.wait({task}, timeout=grace_s)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._step_lock:
            await self._close_producer()
            await self._close_connection()

    def info(self) -> dict[str, Any]:
        """State for /health."""
        return {
            "leader": self._leader,
            "listening": self._listening,
            "connected": self._connected,
            "pending": self._pending,
            "published_total": self._published_total,
            "last_error": self._last_error,
            "lag_seconds": self._lag_s,
        }

    async def publish_pending(self) -> int:
        """Publish everything pending now if this relay is (or becomes) leader; returns count.

        Raises PublishError when Kafka fails; leadership is kept until `stop()`.
        """
        total = 0
        async with self._step_lock:
            if not await self._ensure_leader():
                return 0
            while True:
                fetched, published = await self._publish_batch()
                total += published
                if fetched < self._kafka.relay_batch:
                    return total

    # ----------------------------------------------------------------- loop

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                async with self._step_lock:
                    delay = await self._step()
                if failures:
                    log.info("outbox relay recovered after %d failed attempts", failures)
                failures, self._last_error = 0, None
            except Exception as exc:
                failures += 1
                self._last_error = _describe(exc)
                if not isinstance(exc, PublishError):
                    # unknown state of the session: drop it (and the lock) and start over
                    async with self._step_lock:
                        await self._close_connection()
                delay = min(self._max_backoff_s, 0.1 * 2 ** min(failures - 1, 16))
                delay *= random.uniform(0.8, 1.0)
                # the traceback once per outage, not on every retry
                log.warning(
                    "outbox relay: %s; retrying in %.1fs",
                    self._last_error,
                    delay,
                    exc_info=exc if failures == 1 else None,
                )
                # a burst of notifications must not cut a backoff short
                await self._pause(delay, self._stopping)
                continue
            await self._pause(delay, self._wake)

    async def _pause(self, delay: float, until: asyncio.Event) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), delay)

    async def _step(self) -> float:
        """One election attempt or one batch; returns how long to wait before the next step."""
        # Cleared before the read: a commit notified from here on wakes the next step, and one
        # notified earlier committed before this read's snapshot, so its rows are in it. Also
        # before an election, or a wake left by a lost session would spin a follower's loop.
        self._wake.clear()
        if not await self._ensure_leader():
            return self._election_interval_s
        fetched, _ = await self._publish_batch()
        return 0.0 if fetched >= self._kafka.relay_batch else self._kafka.relay_poll_s

    async def _ensure_leader(self) -> bool:
        conn = self._conn
        if conn is not None and conn.is_closed():
            await self._close_connection()
            conn = None
        if conn is None:
            conn = await connect(self._db)
            self._conn = conn
            # A leader cut off by the network must lose the lock in seconds, not hours.
            with contextlib.suppress(asyncpg.PostgresError):
                await conn.execute(
                    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
                    "SET tcp_keepalives_count = 3"
                )
        if self._leader:
            return True
        if await try_lock(conn, self._lock_key, timeout=self._db.command_timeout_s):
            self._leader = True
            log.info("outbox relay: leader (advisory lock %d)", self._lock_key)
            await self._listen(conn)
        return self._leader

    async def _listen(self, conn: asyncpg.Connection) -> None:
        """LISTEN on the leader's session, before its first fetch, so no commit falls between."""
        if not self._kafka.relay_listen:
            return
        # a session that dies wakes the loop, which reconnects now rather than at the next poll
        conn.add_termination_listener(self._woken)
        try:
            await asyncio.wait_for(
                conn.add_listener(outbox.CHANNEL, self._woken), self._db.command_timeout_s
            )
        except asyncpg.PostgresError as exc:  # e.g. a hot standby: polling still works
            log.warning(
                "outbox relay: LISTEN failed (%s); polling every %.1fs",
                _describe(exc),
                self._kafka.relay_poll_s,
            )
            return
        self._listening = True

    def _woken(self, *_: object) -> None:
        self._wake.set()

    # ----------------------------------------------------------------- one batch

    async def _publish_batch(self) -> tuple[int, int]:
        """Send up to relay_batch pending rows and mark those done (see `_markable`).

        Returns (rows fetched, rows published); raises PublishError after the bookkeeping
        when Kafka failed, or the database's error.
        """
        conn = self._conn
        assert conn is not None and self._leader
        timeout = self._db.command_timeout_s
        rows = await outbox.pending(conn, self._kafka.relay_batch, timeout)
        if not rows:
            self._pending, self._lag_s = 0, None
            return 0, 0

        results, error = await self._send(rows)
        ids = [row["id"] for row in rows]
        done = _markable(rows, results)
        acked, marked = len(done), set(done)
        if done:
            if self._before_mark is not None:
                await self._before_mark(done)
            await outbox.mark_published(conn, done, timeout)
            self._published_total += acked
            for topic, count in Counter(r["topic"] for r in rows if r["id"] in marked).items():
                metrics.inc("matching_relay_published_total", count, topic=topic)
        failed = [i for i in ids if i not in marked]
        if error is not None:
            metrics.inc("matching_relay_publish_failures_total")
            await self._close_producer()
            # every row not marked goes again, so every one of them had a failed attempt
            await outbox.mark_failed(conn, failed, _describe(error), timeout)

        await self._observe(conn, rows, marked)
        if error is not None:
            raise PublishError(
                f"{len(rows) - acked} of {len(rows)} events not acknowledged "
                f"(first id {failed[0]}): {_describe(error)}"
            ) from error
        self._last_error = None
        return len(rows), acked

    async def _send(
        self, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[bool], BaseException | None]:
        """Send rows in order; returns (acknowledged or not, per row) and the first error."""
        try:
            producer = await self._ensure_producer()
        except Exception as exc:
            return [False] * len(rows), exc
        futures: list[asyncio.Future[Any]] = []
        error: BaseException | None = None
        for row in rows:
            try:
                futures.append(
                    await producer.send(
                        row["topic"],
                        row["payload"],
                        key=row["message_key"],
                        headers=[
                            ("event_id", str(row["event_id"]).encode()),
                            ("event_type", row["event_type"].encode()),
                        ],
                    )
                )
            except Exception as exc:
                # later rows may share its key: sending them now would overtake it
                error = exc
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        acked = [False] * len(rows)  # rows after a failed send() were never sent
        for i, result in enumerate(results):
            if isinstance(result, BaseException):
                error = error or result
            else:
                acked[i] = True
        self._connected = error is None
        return acked, error

    async def _ensure_producer(self) -> Any:
        if self._producer is not None:
            return self._producer
        producer = create_producer(
            self._kafka,
            client_id="matching-outbox-relay",
            # a batch is one fetch, sent in one go: lingering would only delay the wake-up's send
            linger_ms=0,
            request_timeout_ms=self._request_timeout_ms,
            key_serializer=_utf8,
            value_serializer=_json_bytes,
        )
        try:
            await producer.start()
        except BaseException:
            self._connected = False
            await producer.stop()
            raise
        self._producer = producer
        self._connected = True
        return producer

    async def _observe(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], marked: set[int]
    ) -> None:
        acked = len(marked)
        if len(rows) < self._kafka.relay_batch:
            # the fetch saw every pending row: no need to count
            left = [row for row in rows if row["id"] not in marked]
            self._pending = len(left)
            self._lag_s = left[0]["age_s"] if left else None
            return
        now = time.monotonic()
        if now - self._stats_at < self._stats_interval_s:
            self._pending = max(self._pending - acked, len(rows) - acked)
            return
        self._stats_at = now
        self._pending, self._lag_s = await outbox.backlog(conn, self._db.command_timeout_s)

    # ----------------------------------------------------------------- teardown

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        self._connected = False
        if producer is not None:
            try:
                await producer.stop()
            except Exception as exc:
                log.debug("outbox relay: closing the producer failed: %s", _describe(exc))

    async def _close_connection(self) -> None:
        """Close the session; that releases the advisory lock."""
        conn, self._conn = self._conn, None
        if self._leader:
            log.info("outbox relay: no longer leader")
        self._leader = self._listening = False
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), 2.0)
        except Exception:
            conn.terminate()
