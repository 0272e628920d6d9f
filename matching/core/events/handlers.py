"""What the consumed events do: each handler parses its event and claims it in the inbox in
the same transaction as its work, so an event is applied once however often it arrives.

An event naming someone erased (within MATCHING_ERASURE_RETENTION_DAYS) is ignored, neither
applied nor dead-lettered with their data: a late or replayed user.updated must not bring
them back. If the platform re-created the account since, only events produced before the
erasure are ignored (by the Kafka record's timestamp).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from pydantic import ValidationError

from matching.core.domain.profile import Profile, ProfileIn
from matching.core.domain.text import profile_text
from matching.core.events.consumer import Handler, Outcome, Record, Rejected, Transient
from matching.core.events.schemas import (
    REGISTRATION_CREATED,
    USER_DELETED,
    USER_UPDATED,
    RegistrationCreated,
    UserDeleted,
    UserUpdated,
    parse,
)
from matching.core.storage import inbox
from matching.core.storage.erasure import ErasureStep, erase_person, erased_at
from matching.core.storage.profiles import (
    StoredVector,
    exists,
    get_profile,
    lock_person,
    stored_vector,
    upsert_profile,
)
from matching.core.storage.registrations import upsert_registration

log = logging.getLogger(__name__)
Embed = Callable[[str], Awaitable[np.ndarray]]
UserCallback = Callable[[UUID], Awaitable[None]]

_EDITABLE = frozenset(ProfileIn.model_fields)
_STALE_RETRIES = 3
_IGNORED = Outcome(applied=False, ignored=True)


class _Stale(Exception):
    """The profile changed between reading it and writing the update."""


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


class EventHandlers:
    """The handlers of user.updated, user.deleted and event.registration.created.

    `on_profile_changed` runs after each commit (and again for a duplicate: a crash between
    a commit and its callback must not lose the callback); `erasure_steps` are the enabled
    modes' parts of an erasure, the same list the API's DELETE uses.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        embed: Embed,
        model_version: str,
        *,
        topic: str,
        erasure_steps: Sequence[ErasureStep] = (),
        on_profile_changed: UserCallback | None = None,
        db_timeout_s: float = 10.0,
    ) -> None:
        self._pool = pool
        self._embed = embed
        self._model_version = model_version
        self._topic = topic
        self._steps = tuple(erasure_steps)
        self._on_changed = on_profile_changed
        self._db_timeout_s = db_timeout_s

    def as_mapping(self) -> dict[str, Handler]:
        """event_type -> handler, as EventConsumer takes them."""
        return {
            USER_UPDATED: self.user_updated,
            USER_DELETED: self.user_deleted,
            REGISTRATION_CREATED: self.registration_created,
        }

    def _outcome(self, applied: bool, changed: UUID | None) -> Outcome:
        callback = self._on_changed
        if callback is None or changed is None:
            return Outcome(applied)

        async def after_commit() -> None:
            await callback(changed)

        return Outcome(applied, after_commit)

    # -- user.updated
    async def user_updated(self, record: Record, event: dict[str, Any]) -> Outcome:
        update = parse(UserUpdated, event)
        uid = update.user_id
        message_id = inbox.message_id(event, record.topic, record.partition, record.offset)
        for _ in range(_STALE_RETRIES):
            async with self._pool.acquire(timeout=self._db_timeout_s) as conn:
                if await inbox.seen(conn, message_id):
                    return self._outcome(False, uid)
                if await names_erased(conn, uid, record):
                    return _ignored(record)
                current = await get_profile(conn, uid)
                stored = await stored_vector(conn, uid)
            if current is None:
                raise Rejected("unknown_user", f"no profile {uid}")
            profile = apply_update(current, update.fields, update.new_values)
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
        stored: StoredVector | None,
        profile: ProfileIn | None,
        embedding: np.ndarray,
    ) -> Outcome:
        async with conn.transaction():
            if not await _claim(conn, record, message_id, USER_UPDATED):
                return self._outcome(False, current.id)
            locked = await lock_person(conn, current.id)
            if locked is None and await names_erased(conn, current.id, record):
                return _ignored(record)  # erased meanwhile
            if locked is None:
                raise Rejected("unknown_user", f"profile {current.id} was deleted meanwhile")
            # the update was computed from `current` and `stored`: both must still hold
            if locked[1] != stored or _editable(locked[0]) != _editable(current):
                raise _Stale
            if profile is None:
                return Outcome(applied=True)
            await upsert_profile(conn, current.id, profile, embedding, self._model_version)
        return self._outcome(True, current.id)

    async def _embedding(
        self, current: Profile, profile: ProfileIn, stored: StoredVector | None
    ) -> tuple[np.ndarray, bool]:
        """The stored vector when the embedded text is unchanged, else a new one (True)."""
        text = profile_text(profile)
        if (
            stored is not None
            and stored.embedding is not None
            and stored.model_version == self._model_version
            and text == profile_text(current)
        ):
            return np.frombuffer(stored.embedding, dtype="<f4"), False
        try:
            return await self._embed(text), True
        except Exception as exc:  # the model is a dependency like the database
            raise Transient(f"embedding failed: {exc!r}") from exc

    # -- user.deleted
    async def user_deleted(self, record: Record, event: dict[str, Any]) -> Outcome:
        """The same erasure as the API's DELETE, claimed in its transaction."""
        uid = parse(UserDeleted, event).user_id
        message_id = inbox.message_id(event, record.topic, record.partition, record.offset)
        async with self._pool.acquire(timeout=self._db_timeout_s) as conn, conn.transaction():
            if not await _claim(conn, record, message_id, USER_DELETED):
                return self._outcome(False, uid)
            # None: deleted before, or never known; applied either way
            await erase_person(conn, uid, self._topic, self._steps, source="kafka")
        return self._outcome(True, uid)

    # -- event.registration.created
    async def registration_created(self, record: Record, event: dict[str, Any]) -> Outcome:
        reg = parse(RegistrationCreated, event)
        # event_id here names the event registered for, not the message
        message_id = inbox.message_id(
            event, record.topic, record.partition, record.offset, id_field="message_id"
        )
        async with self._pool.acquire(timeout=self._db_timeout_s) as conn, conn.transaction():
            if not await _claim(conn, record, message_id, REGISTRATION_CREATED):
                return Outcome(applied=False)
            if await names_erased(conn, reg.user_id, record):
                return _ignored(record)
            try:
                await upsert_registration(
                    conn,
                    reg.event_id,
                    reg.user_id,
                    reg.event_category,
                    reg.event_tags,
                    reg.registered_at or reg.timestamp,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise Rejected("unknown_user", f"no profile {reg.user_id}") from exc
        return Outcome(applied=True)


async def _claim(
    conn: asyncpg.Connection, record: Record, message_id: str, event_type: str
) -> bool:
    return await inbox.claim(
        conn, message_id, record.topic, record.partition, record.offset, event_type
    )


async def names_erased(conn: asyncpg.Connection, user_id: UUID, record: Record) -> bool:
    """Whether an event about `user_id` must be ignored: they were erased and are gone, or
    their account was re-created after the erasure and the record was produced before it."""
    at = await erased_at(conn, user_id)
    if at is None:
        return False
    if not await exists(conn, user_id):
        return True
    # a record without a timestamp (-1) is taken as new: the account exists again
    return 0 <= record.timestamp <= at.timestamp() * 1000


def _ignored(record: Record) -> Outcome:
    # no id in the log: the person is erased
    log.info("ignored an event naming an erased person at %s@%d", record.topic, record.offset)
    return _IGNORED
