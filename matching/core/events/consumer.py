"""Applies the platform's events (user.events, event.events) to the matching database.

Each record is settled in partition order: applied (its database work and its inbox row
commit in one transaction), skipped (a duplicate, or an event type this service ignores), or
dead-lettered to `errors_topic`. Offsets are committed only for settled records, after each
partition's slice of a fetch; a record that fails for a transient reason (database, model or
broker down) is not committed but sought back to and retried after a backoff.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matching.core.domain.profile import Profile, ProfileIn, Tags
from matching.core.domain.text import profile_text
from matching.core.settings import Settings
from matching.core.storage import inbox
from matching.core.storage.outbox import enqueue
from matching.core.storage.profiles import delete_profile, get_profile, upsert_profile
from matching.discovery.storage.matches import OPEN_STATUSES, STATUS_UPDATED, lock_pair, pair_key

log = logging.getLogger(__name__)

Embed = Callable[[str], Awaitable[np.ndarray]]
UserCallback = Callable[[UUID], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)

_EDITABLE = frozenset(ProfileIn.model_fields)
USER_ERASED = "user.erased"
_MAX_ERROR_CHARS = 2000
_MAX_PAYLOAD_CHARS = 64 * 1024
_STALE_RETRIES = 3
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


class _Stale(Exception):
    """The profile changed between reading it and writing the update."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UserUpdated(_Event):
    user_id: UUID
    updated_fields: list[str] | None = None  # default: the keys of new_values
    new_values: dict[str, Any]


class UserDeleted(_Event):
    user_id: UUID


class RegistrationCreated(_Event):
    event_id: str = Field(min_length=1, max_length=200)
    user_id: UUID
    event_category: str | None = Field(default=None, max_length=100)
    event_tags: Tags = Field(default_factory=list)
    registered_at: datetime | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    applied: bool  # False: a duplicate (the inbox had it)
    changed: UUID | None = None
    deleted: UUID | None = None


@dataclass(slots=True)
class _Stats:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_error: str | None = None


def _parse(model: type[M], event: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        raise Rejected("missing_field" if missing else "invalid_value", str(exc)) from exc


def apply_update(current: ProfileIn, fields: Sequence[str], values: Mapping[str, Any]) -> ProfileIn:
    """`current` with `fields` set from `values`; `preferences` merges into the stored ones."""
    unknown = sorted(set(fields) - _EDITABLE)
    if unknown:
        raise Rejected("unknown_field", f"not editable profile fields: {', '.join(unknown)}")
    missing = sorted(f for f in fields if f not in values)
    if missing:
        raise Rejected("missing_field", f"no new_values for: {', '.join(missing)}")
    data = _editable(current, mode="json")
    for name in fields:
        value = values[name]
        if name == "preferences" and isinstance(value, Mapping):
            value = {**data["preferences"], **value}
        data[name] = value
    try:
        return ProfileIn.model_validate(data)
    except ValidationError as exc:
        raise Rejected("invalid_value", str(exc)) from exc


def _editable(profile: ProfileIn, mode: str = "python") -> dict[str, Any]:
    return profile.model_dump(include=set(_EDITABLE), mode=mode)


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


def dead_letter_body(record: Record, reason: str, error: str, group: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reason": reason,
        "error": error[:_MAX_ERROR_CHARS],
        "original_topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": _text(record.key),
        "payload": _text(record.value),
        "timestamp": record.timestamp,
        "consumer_group": group,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    if record.value is not None:
        try:
            record.value.decode("utf-8")
        except UnicodeDecodeError:
            body["payload_base64"] = base64.b64encode(record.value).decode()
    return body


_FEATURES = "SELECT embedding, model_version FROM user_features WHERE user_id = $1"
_LIVE_MATCHES = """
SELECT user1_id, user2_id, status FROM user_matches
WHERE (user1_id = $1 OR user2_id = $1) AND status = ANY($2::text[])
"""
_USER_MATCHES = """
SELECT id, user1_id, user2_id, status FROM user_matches
WHERE user1_id = $1 OR user2_id = $1 ORDER BY id FOR UPDATE
"""
_UPSERT_REGISTRATION = """
INSERT INTO event_registrations (event_id, user_id, event_category, event_tags, registered_at)
VALUES ($1, $2, $3, $4, coalesce($5, now()))
ON CONFLICT (event_id, user_id) DO UPDATE SET
    event_category = EXCLUDED.event_category, event_tags = EXCLUDED.event_tags
"""


async def _lock_pairs(
    conn: asyncpg.Connection, matches: Sequence[asyncpg.Record], held: frozenset[str]
) -> frozenset[str]:
    """Take the pair locks of the open `matches` not `held` yet, in key order; all held now."""
    pairs = {
        pair_key(m["user1_id"], m["user2_id"]): (m["user1_id"], m["user2_id"])
        for m in matches
        if m["status"] in OPEN_STATUSES
    }
    for key in sorted(pairs.keys() - held):
        await lock_pair(conn, *pairs[key])
    return held | frozenset(pairs)


async def _unchanged_since(
    conn: asyncpg.Connection, read: Profile, features: asyncpg.Record | None
) -> bool:
    """Lock the person's rows (the order upsert_profile writes them) and check that the
    profile and embedding are still what the update was computed from."""
    uid = read.id
    if await conn.fetchval("SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE", uid) is None:
        raise Rejected("unknown_user", f"profile {uid} was deleted meanwhile")
    await conn.execute("SELECT 1 FROM matching_preferences WHERE user_id = $1 FOR UPDATE", uid)
    now = await conn.fetchrow(_FEATURES + " FOR UPDATE", uid)
    locked = await get_profile(conn, uid)
    assert locked is not None
    same_features = (now is None and features is None) or (
        now is not None and features is not None and tuple(now) == tuple(features)
    )
    return same_features and _editable(locked) == _editable(read)


class EventConsumer:
    """Consumes the platform topics in group `consumer_group`; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        embed: Embed,
        model_version: str,
        on_profile_changed: UserCallback | None = None,
        on_user_deleted: UserCallback | None = None,
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
    ) -> None:
        kafka = settings.kafka
        if not kafka.bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
        self._kafka = kafka
        self._pool = pool
        self._embed = embed
        self._model_version = model_version
        self._on_profile_changed = on_profile_changed
        self._on_user_deleted = on_user_deleted
        self._consumer_options: dict[str, Any] = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "rebalance_timeout_ms": rebalance_timeout_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
        }
        self._max_records = max_records
        self._poll_timeout_ms = poll_timeout_ms
        self._backoff_min, self._backoff_max = retry_backoff_s
        self._max_attempts = max_attempts
        self._inbox_retention = inbox_retention
        self._db_timeout_s = db_timeout_s
        self._handlers: dict[str, Callable[[Record, dict[str, Any]], Awaitable[_Outcome]]] = {
            "user.updated": self._user_updated,
            "user.deleted": self._user_deleted,
            "event.registration.created": self._registration_created,
        }
        self._stats = _Stats()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._consumer: Any = None  # AIOKafkaConsumer while a session runs
        self._positions: dict[TopicPartition, int] = {}  # next offset after the last settled
        self._failing: tuple[str, int, int] | None = None
        self._failures = 0
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
            bootstrap_servers=kafka.bootstrap_servers,
            group_id=kafka.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._consumer_options,
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
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
            await consumer.stop()
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
            await self._handle(producer, record)
        except Exception as exc:
            where = (record.topic, record.partition, record.offset)
            self._failures = self._failures + 1 if self._failing == where else 1
            self._failing = where
            self._stats.last_error = f"{record.topic}:{record.partition}@{record.offset}: {exc!r}"
            refused = isinstance(exc, _REFUSED)
            transient = not refused and isinstance(exc, (*_TRANSIENT, Transient))
            if not refused and (transient or self._failures < self._max_attempts):
                self._stats.retries += 1
                log.warning("retrying %s (attempt %d): %r", where, self._failures, exc)
                return False
            reason = "refused_by_database" if refused else "unprocessable"
            try:
                await self._dead_letter(producer, record, reason, repr(exc))
            except KafkaError:
                return False
        self._failing, self._failures = None, 0
        return True

    async def _handle(self, producer: Any, record: Record) -> None:
        try:
            event = decode_event(record.value)
            handler = self._handlers.get(event["event_type"])
            if handler is None:
                self._stats.ignored += 1
                log.debug("ignoring %s at %s@%d", event["event_type"], record.topic, record.offset)
                return
            outcome = await handler(record, event)
        except Rejected as exc:
            await self._dead_letter(producer, record, exc.reason, str(exc))
            return
        if outcome.applied:
            self._stats.processed += 1
        else:
            self._stats.duplicates += 1
        # At least once: a crash between the commit and here re-runs them on the duplicate.
        await self._notify(self._on_profile_changed, outcome.changed)
        await self._notify(self._on_user_deleted, outcome.deleted)

    async def _dead_letter(self, producer: Any, record: Record, reason: str, error: str) -> None:
        body = dead_letter_body(record, reason, error, self._kafka.consumer_group)
        topic = self._kafka.errors_topic
        try:
            await producer.send_and_wait(topic, json.dumps(body).encode(), key=record.key)
        except MessageSizeTooLargeError:  # the original was near the limit: keep its start
            body.pop("payload_base64", None)
            body["payload"] = (body["payload"] or "")[:_MAX_PAYLOAD_CHARS]
            body["payload_truncated"] = True
            await producer.send_and_wait(topic, json.dumps(body).encode(), key=record.key)
        self._stats.dead_lettered += 1
        log.warning(
            "dead-lettered %s:%d@%d (%s): %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error[:200],
        )

    # -- handlers: each claims the record in the inbox in the transaction of its own work
    async def _user_updated(self, record: Record, event: dict[str, Any]) -> _Outcome:
        update = _parse(UserUpdated, event)
        uid = update.user_id
        fields = update.updated_fields
        fields = list(update.new_values) if fields is None else fields
        message_id = inbox.message_id(event, record.topic, record.partition, record.offset)
        for _ in range(_STALE_RETRIES):
            async with self._pool.acquire(timeout=self._db_timeout_s) as conn:
                if await inbox.seen(conn, message_id):
                    return _Outcome(applied=False, changed=uid)
                current = await get_profile(conn, uid)
                stored = await conn.fetchrow(_FEATURES, uid)
            if current is None:
                raise Rejected("unknown_user", f"no profile {uid}")
            profile = apply_update(current, fields, update.new_values)
            embedding, fresh = await self._embedding(current, profile, stored)
            # an update that changes nothing writes only its inbox row (no index churn)
            write = fresh or profile.model_dump() != _editable(current)
            try:
                async with self._pool.acquire(timeout=self._db_timeout_s) as conn:
                    return await self._write_update(
                        conn,
                        record,
                        message_id,
                        current,
                        stored,
                        profile if write else None,
                        embedding,
                    )
            except _Stale:
                continue
        raise Transient(f"profile {uid} kept changing while the update was applied")

    async def _write_update(
        self,
        conn: asyncpg.Connection,
        record: Record,
        message_id: str,
        current: Profile,
        stored: asyncpg.Record | None,
        profile: ProfileIn | None,
        embedding: np.ndarray,
    ) -> _Outcome:
        async with conn.transaction():
            if not await self._claim(conn, record, message_id, "user.updated"):
                return _Outcome(applied=False, changed=current.id)
            if not await _unchanged_since(conn, current, stored):
                raise _Stale
            if profile is None:
                return _Outcome(applied=True)
            await upsert_profile(conn, current.id, profile, embedding, self._model_version)
        return _Outcome(applied=True, changed=current.id)

    async def _embedding(
        self, current: Profile, profile: ProfileIn, stored: asyncpg.Record | None
    ) -> tuple[np.ndarray, bool]:
        """The stored vector when the embedded text is unchanged, else a new one (True)."""
        text = profile_text(profile)
        if (
            stored is not None
            and stored["embedding"] is not None
            and stored["model_version"] == self._model_version
            and text == profile_text(current)
        ):
            return np.frombuffer(stored["embedding"], dtype="<f4"), False
        try:
            return await self._embed(text), True
        except Exception as exc:  # the model is a dependency like the database
            raise Transient(f"embedding failed: {exc!r}") from exc

    async def _user_deleted(self, record: Record, event: dict[str, Any]) -> _Outcome:
        uid = _parse(UserDeleted, event).user_id
        message_id = inbox.message_id(event, record.topic, record.partition, record.offset)
        async with self._pool.acquire(timeout=self._db_timeout_s) as conn, conn.transaction():
            if not await self._claim(conn, record, message_id, "user.deleted"):
                return _Outcome(applied=False, deleted=uid)
            # Lock order of matches.py: pair locks, then rows. The profile row lock also stops
            # new matches (their foreign-key check waits for it, then fails).
            live = await conn.fetch(_LIVE_MATCHES, uid, list(OPEN_STATUSES))
            held = await _lock_pairs(conn, live, frozenset())
            if await conn.fetchval("SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE", uid) is None:
                return _Outcome(applied=True, deleted=uid)  # deleted before, or never known
            matches = await conn.fetch(_USER_MATCHES, uid)
            await _lock_pairs(conn, matches, held)  # any opened since the first read
            await self._announce_erasure(conn, uid, matches)
            await delete_profile(conn, uid)  # last: it takes the change-log lock
        return _Outcome(applied=True, deleted=uid)

    async def _announce_erasure(
        self, conn: asyncpg.Connection, uid: UUID, matches: list[asyncpg.Record]
    ) -> None:
        """Outbox notices in the deleting transaction: open matches end, the user is gone."""
        topic = self._kafka.matching_topic
        for m in matches:
            if m["status"] not in OPEN_STATUSES:
                continue
            notice = {  # the fields of matches.status_event, plus why
                "match_id": str(m["id"]),
                "user1_id": str(m["user1_id"]),
                "user2_id": str(m["user2_id"]),
                "old_status": m["status"],
                "new_status": "declined",
                "updated_by": None,
                "reason": "user_deleted",
            }
            key = pair_key(m["user1_id"], m["user2_id"])
            await enqueue(conn, topic, key, STATUS_UPDATED, notice)
        erased = {"user_id": str(uid), "match_ids": [str(m["id"]) for m in matches]}
        await enqueue(conn, topic, str(uid), USER_ERASED, erased)

    async def _registration_created(self, record: Record, event: dict[str, Any]) -> _Outcome:
        reg = _parse(RegistrationCreated, event)
        # event_id here names the event registered for, not the message
        message_id = inbox.message_id(
            event, record.topic, record.partition, record.offset, id_field="message_id"
        )
        async with self._pool.acquire(timeout=self._db_timeout_s) as conn, conn.transaction():
            if not await self._claim(conn, record, message_id, "event.registration.created"):
                return _Outcome(applied=False)
            try:
                await conn.execute(
                    _UPSERT_REGISTRATION,
                    reg.event_id,
                    reg.user_id,
                    reg.event_category,
                    reg.event_tags,
                    reg.registered_at or reg.timestamp,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise Rejected("unknown_user", f"no profile {reg.user_id}") from exc
        return _Outcome(applied=True)

    # -- helpers
    @staticmethod
    async def _claim(
        conn: asyncpg.Connection, record: Record, message_id: str, event_type: str
    ) -> bool:
        return await inbox.claim(
            conn, message_id, record.topic, record.partition, record.offset, event_type
        )

    async def _notify(self, callback: UserCallback | None, user_id: UUID | None) -> None:
        if callback is None or user_id is None:
            return
        try:
            await callback(user_id)
        except Exception:  # the change is committed; the index also replays index_changes
            log.exception("consumer callback failed for %s", user_id)

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
