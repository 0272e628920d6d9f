"""The consumer loop: reads the platform's topics (user.events, event.events) and hands each
record to the handler of its event type (`matching.core.events.handlers`).

Each record is settled in partition order: applied (its handler's database work and its
inbox row commit in one transaction), skipped (a duplicate, or an event type no handler
takes), or dead-lettered to `errors_topic`. Offsets are committed only for settled records,
after each partition's slice of a fetch; a record that fails is not committed but sought back
to and retried after an exponential backoff. Retries are bounded, so one poison record cannot
block its partition (or an erasure behind it): an unexpected error is dead-lettered after
`max_attempts` (reason unprocessable), a transient one (database, model or broker down) after
`retry_for_s` (retries_exhausted), unless the database itself does not answer: then every
record would fail alike, and the consumer waits for it instead. A dead letter that cannot be
written leaves its record uncommitted (nothing lost), backs off and shows in `info()`
(`dead_letter_failing`, which makes /health degraded)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
)

from matching.core import metrics
from matching.core.events.kafka import client_options, create_producer, request_timeout_ms
from matching.core.settings import KafkaSettings
from matching.core.storage import inbox

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 2000
_MAX_ID_CHARS = 128
# pydantic's message repeats the offending input at the end of its error's line (a repr, so
# on that one line), and asyncpg's and PostgreSQL's repeat a refused value: cut them, keep
# the field, the rule and the input's type.
_ECHOES = (
    (re.compile(r"input_value=.*, input_type=(\w+)\]$", re.MULTILINE), r"input_type=\1]"),
    (re.compile(r"^ *For further information visit \S+\n?", re.MULTILINE), ""),
    (re.compile(r"(invalid input for query argument \$\d+):.*$", re.MULTILINE), r"\1"),
    (re.compile(r'(invalid input (?:syntax|value) for [\w ]+): ".*"', re.MULTILINE), r"\1"),
)
# Dependencies being down, or a lost race: retry the same record, never dead-letter it.
# UndefinedTableError: a migration not applied yet.
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    KafkaError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.UndefinedTableError,
)
# The database refuses these values: retrying cannot help.
_REFUSED = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


class Record(Protocol):
    """The fields of an aiokafka ConsumerRecord[bytes, bytes] this module reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class Rejected(Exception):
    """A record that can never be applied; it goes to the dead-letter topic."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason


class Transient(Exception):
    """Retry the same record later (the model is down, the profile kept changing)."""


AfterCommit = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler did with a record it settled."""

    applied: bool  # False: a duplicate (the inbox had it)
    # Runs once the handler's transaction committed (and for a duplicate: at least once).
    after_commit: AfterCommit | None = None
    # Nothing to apply, by rule (it names someone erased): counted as ignored, not applied.
    ignored: bool = False


Handler = Callable[[Record, dict[str, Any]], Awaitable[Outcome]]
Decoder = Callable[[bytes | None], dict[str, Any]]


@dataclass(slots=True)
class _Stats:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_error: str | None = None
    dead_letter_error: str | None = None  # set while the dead-letter topic cannot be written


def decode_event(value: bytes | None) -> dict[str, Any]:
    """The record's JSON object, which names its `event_type`."""
    if value is None:
        raise Rejected("malformed_json", "the record has no value")
    try:
        event = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise Rejected("malformed_json", str(exc)) from exc
    if not isinstance(event, dict):
        raise Rejected("malformed_json", f"expected a JSON object, got {type(event).__name__}")
    if not isinstance(event.get("event_type"), str) or not event["event_type"]:
        raise Rejected("missing_field", "event_type is missing or not a string")
    return event


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "backslashreplace")


def scrub_error(error: str) -> str:
    """An error message without the input values it echoes (pydantic's, the database's)."""
    for pattern, keep in _ECHOES:
        error = pattern.sub(keep, error)
    return error.strip()


def _names(value: bytes | None) -> tuple[str | None, str | None]:
    """The record's event_type and event_id, where it is a JSON object that has them."""
    try:
        event = json.loads(value or b"")
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(event, dict):
        return None, None
    return _clip(event.get("event_type")), _clip(event.get("event_id"))


def _clip(value: Any) -> str | None:
    return value[:_MAX_ID_CHARS] if isinstance(value, str) else None


def dead_letter_body(record: Record, reason: str, error: str, group: str) -> dict[str, Any]:
    """Where the record is and why it failed, never its payload: a user.updated holds profile
    text, and the errors topic is read more widely. The platform re-reads the original from
    its topic by partition and offset while that topic retains it."""
    event_type, event_id = _names(record.value)
    return {
        "reason": reason,
        "error": scrub_error(error)[:_MAX_ERROR_CHARS],
        "original_topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": _text(record.key),
        "event_type": event_type,
        "event_id": event_id,
        "payload_bytes": 0 if record.value is None else len(record.value),
        "timestamp": record.timestamp,
        "consumer_group": group,
        "failed_at": datetime.now(UTC).isoformat(),
    }


class EventConsumer:
    """Consumes the platform topics in group `consumer_group`; see the module docstring.

    `handlers` maps each event type to its handler; `pool` holds the handlers' inbox,
    which the loop prunes of rows older than `inbox_retention`.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        pool: asyncpg.Pool,
        handlers: Mapping[str, Handler],
        *,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        rebalance_timeout_ms: int | None = None,
        max_poll_interval_ms: int = 300_000,
        max_records: int = 100,
        poll_timeout_ms: int = 500,
        retry_backoff_s: tuple[float, float] = (0.2, 30.0),
        max_attempts: int = 5,
        inbox_retention: timedelta | None = timedelta(days=14),
        db_timeout_s: float = 10.0,
        retry_for_s: float | None = None,
        decode: Decoder | None = None,
    ) -> None:
        if not kafka.bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
        self._kafka = kafka
        self._pool = pool
        self._handlers = dict(handlers)
        # Topics whose records carry no event_type (a request/reply topic) bring their own.
        self._decode = decode or decode_event
        self._consumer_options: dict[str, Any] = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "rebalance_timeout_ms": rebalance_timeout_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
            # A JoinGroup request waits for the whole rebalance: never time it out sooner.
            "request_timeout_ms": max(
                request_timeout_ms(kafka), (rebalance_timeout_ms or session_timeout_ms) + 5000
            ),
        }
        self._max_records = max_records
        self._poll_timeout_ms = poll_timeout_ms
        self._backoff_min, self._backoff_max = retry_backoff_s
        self._max_attempts = max_attempts
        self._retry_for_s = kafka.consumer_retry_s if retry_for_s is None else retry_for_s
        self._inbox_retention = inbox_retention
        self._db_timeout_s = db_timeout_s
        self._stats = _Stats()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._consumer: Any = None  # AIOKafkaConsumer while a session runs
        self._positions: dict[TopicPartition, int] = {}  # next offset after the last settled
        self._failing: tuple[str, int, int] | None = None
        self._failures = 0
        self._failing_since = 0.0  # monotonic time of the record's first failure
        self._pruned_at: float | None = None  # monotonic time of the last inbox prune

    # -- lifecycle
    def start(self) -> None:
        """Consume in a background task (reconnecting after broker failures) until stop()."""
        if self._task is not None and not self._task.done():
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="event-consumer")

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Finish the record in hand, commit, leave the group and close the clients."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def info(self) -> dict[str, Any]:
        """For /health: whether it runs, what it owns, what it did, how far behind it is."""
        consumer = self._consumer
        assigned = sorted(consumer.assignment()) if consumer is not None else []
        lag: dict[str, int] = {}
        for tp in assigned:
            high, position = consumer.highwater(tp), self._positions.get(tp)
            if high is not None and position is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(0, high - position)
        stats = self._stats
        return {
            "running": self._task is not None and not self._task.done(),
            "connected": consumer is not None,
            "assigned": [f"{tp.topic}:{tp.partition}" for tp in assigned],
            "processed": stats.processed,
            "duplicates": stats.duplicates,
            "ignored": stats.ignored,
            "dead_lettered": stats.dead_lettered,
            "retries": stats.retries,
            "last_error": stats.last_error,
            "dead_letter_failing": stats.dead_letter_error is not None,
            "dead_letter_error": stats.dead_letter_error,
            "lag": lag,
        }

    # -- the loop
    async def _run(self) -> None:
        delay = self._backoff_min
        while not self._stopping.is_set():
            try:
                await self._session()
                delay = self._backoff_min
            except Exception as exc:  # broker unreachable, fenced, or a bug: start over
                self._stats.last_error = f"kafka: {exc!r}"
                log.warning("event consumer session failed; reconnecting", exc_info=True)
                await self._sleep(delay)
                delay = min(delay * 2, self._backoff_max)

    async def _session(self) -> None:
        kafka = self._kafka
        consumer = AIOKafkaConsumer(
            *kafka.consumed_topic_list,
            **client_options(kafka),
            group_id=kafka.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._consumer_options,
        )
        producer = create_producer(kafka, client_id="matching-event-consumer")
        try:
            await producer.start()
            await consumer.start()
            self._consumer = consumer
            while not self._stopping.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self._poll_timeout_ms, max_records=self._max_records
                )
                await self._process_batch(consumer, producer, batch)
                await self._maybe_prune()
        finally:
            self._consumer = None
            self._positions.clear()
            try:
                await consumer.stop()
            finally:  # the producer's connections too, even when leaving the group failed
                await producer.stop()

    async def _process_batch(
        self, consumer: Any, producer: Any, batch: dict[TopicPartition, list[Record]]
    ) -> None:
        items = list(batch.items())
        for index, (tp, records) in enumerate(items):
            if await self._process_partition(consumer, producer, tp, records):
                continue
            # getmany moved past the records not looked at yet: go back for them
            for later_tp, later in items[index + 1 :]:
                self._seek(consumer, later_tp, later[0].offset)
            if not self._stopping.is_set():
                await self._sleep(self._retry_delay())
            return

    async def _process_partition(
        self, consumer: Any, producer: Any, tp: TopicPartition, records: list[Record]
    ) -> bool:
        """Settle `records` in order and commit them; False where it stopped early."""
        settled: int | None = None
        complete = True
        for record in records:
            if self._stopping.is_set() or not await self._settle(producer, record):
                self._seek(consumer, tp, record.offset)
                complete = False
                break
            settled = self._positions[tp] = record.offset + 1
        if settled is not None:
            await self._commit(consumer, tp, settled)
        return complete

    async def _settle(self, producer: Any, record: Record) -> bool:
        """Apply, skip or dead-letter `record`; False: retry it later."""
        try:
            await self._handle(record)
        except Rejected as exc:
            return await self._try_dead_letter(producer, record, exc.reason, str(exc))
        except Exception as exc:
            reason = await self._give_up_reason(record, exc)
            if reason is None:
                return False
            return await self._try_dead_letter(producer, record, reason, repr(exc))
        self._failing, self._failures = None, 0
        return True

    async def _give_up_reason(self, record: Record, exc: Exception) -> str | None:
        """Why to dead-letter a record that just failed; None: retry it."""
        attempts = self._failed(record)
        self._stats.last_error = f"{record.topic}:{record.partition}@{record.offset}: {exc!r}"
        if isinstance(exc, _REFUSED):
            return "refused_by_database"
        if not isinstance(exc, (*_TRANSIENT, Transient)):
            retry = attempts < self._max_attempts
            reason = "unprocessable"
        else:
            failing_for = time.monotonic() - self._failing_since
            # a database outage fails every record alike: wait for it, dead-letter nothing
            retry = failing_for < self._retry_for_s or not await self._database_answers()
            reason = "retries_exhausted"
        if retry:
            self._stats.retries += 1
            where = (record.topic, record.partition, record.offset)
            log.warning("retrying %s (attempt %d): %r", where, attempts, exc)
            return None
        return reason

    def _failed(self, record: Record) -> int:
        """Count a failure of `record`; how many in a row it has had."""
        where = (record.topic, record.partition, record.offset)
        if self._failing != where:
            self._failing, self._failures, self._failing_since = where, 0, time.monotonic()
        self._failures += 1
        return self._failures

    async def _handle(self, record: Record) -> None:
        event = self._decode(record.value)
        handler = self._handlers.get(event["event_type"])
        if handler is None:
            self._stats.ignored += 1
            metrics.inc("matching_consumer_messages_total", topic=record.topic, result="ignored")
            log.debug("ignoring %s at %s@%d", event["event_type"], record.topic, record.offset)
            return
        outcome = await handler(record, event)
        if outcome.ignored:
            self._stats.ignored += 1
        elif outcome.applied:
            self._stats.processed += 1
        else:
            self._stats.duplicates += 1
        result = "ignored" if outcome.ignored else "applied" if outcome.applied else "duplicate"
        metrics.inc("matching_consumer_messages_total", topic=record.topic, result=result)
        # At least once: a crash between the commit and here re-runs it on the duplicate.
        await self._after_commit(outcome.after_commit)

    async def _try_dead_letter(
        self, producer: Any, record: Record, reason: str, error: str
    ) -> bool:
        """Dead-letter `record`; False (retry it, uncommitted) when the topic cannot be written."""
        try:
            await asyncio.wait_for(
                self._dead_letter(producer, record, reason, error),
                self._kafka.request_timeout_s,
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            self._failed(record)  # backs the retries off
            self._stats.dead_letter_error = f"{self._kafka.errors_topic}: {exc!r}"
            log.error(
                "cannot dead-letter %s:%d@%d: %r",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            return False
        self._stats.dead_letter_error = None
        self._failing, self._failures = None, 0
        return True

    async def _dead_letter(self, producer: Any, record: Record, reason: str, error: str) -> None:
        body = dead_letter_body(record, reason, error, self._kafka.consumer_group)
        topic = self._kafka.errors_topic
        await producer.send_and_wait(topic, json.dumps(body).encode(), key=record.key)
        self._stats.dead_lettered += 1
        metrics.inc("matching_dead_letters_total", topic=record.topic)
        log.warning(
            "dead-lettered %s:%d@%d (%s): %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            body["error"][:200],
        )

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(self._db_timeout_s):
                async with self._pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            return True
        except Exception:
            return False

    # -- helpers
    @staticmethod
    async def _after_commit(callback: AfterCommit | None) -> None:
        if callback is None:
            return
        try:
            await callback()
        except Exception:  # the change is committed; the index also replays index_changes
            log.exception("consumer after-commit callback failed")

    async def _commit(self, consumer: Any, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            # the partition moved to another member, which re-reads from the last commit and
            # finds the applied records in the inbox
            log.info("offset commit for %s lost to a rebalance: %r", tp, exc)

    @staticmethod
    def _seek(consumer: Any, tp: TopicPartition, offset: int) -> None:
        with contextlib.suppress(IllegalStateError):  # no longer ours
            consumer.seek(tp, offset)

    def _retry_delay(self) -> float:
        return min(self._backoff_min * 2 ** max(self._failures - 1, 0), self._backoff_max)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _maybe_prune(self) -> None:
        if self._inbox_retention is None or (
            self._pruned_at is not None and time.monotonic() - self._pruned_at < 3600
        ):
            return
        self._pruned_at = time.monotonic()
        try:
            async with self._pool.acquire(timeout=self._db_timeout_s) as conn:
                removed = await inbox.prune(conn, self._inbox_retention)
            log.info("pruned %d inbox rows", removed)
        except Exception:
            log.warning("inbox prune failed", exc_info=True)
