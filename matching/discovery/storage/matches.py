"""Matches and their lifecycle, as plain parameterised SQL.

Every pair-keyed event (swipe.performed, match.created, match.status_updated) is written
under the pair's advisory lock (`lock_pair`), so a pair's outbox ids are in commit order.
Lock order is always: pair advisory lock, then the user_matches row. `expire_matches`, which
takes row locks first, only *tries* the pair lock and skips a busy pair (no deadlock).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal
from uuid import UUID

import asyncpg

from matching.core.domain.pairs import ordered_pair, pair_key
from matching.core.domain.profile import FACTORS
from matching.core.storage.locks import TRY_PAIR_LOCK_SQL, lock_pair_for_transaction
from matching.core.storage.outbox import enqueue
from matching.discovery.storage.errors import (
    IllegalTransition,
    InvalidCursor,
    MatchNotFound,
    NotAMember,
)

MatchStatus = Literal["pending", "mutual", "declined", "expired"]
STATUSES: Final[tuple[str, ...]] = ("pending", "mutual", "declined", "expired")
OPEN_STATUSES: Final[tuple[str, ...]] = ("pending", "mutual")
# declined and expired are final.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"mutual", "declined", "expired"}),
    "mutual": frozenset({"declined", "expired"}),
    "declined": frozenset(),
    "expired": frozenset(),
}
STATUS_UPDATED = "match.status_updated"
MAX_PAGE = 1000

_COLUMNS = (
    "id, user1_id, user2_id, status, compatibility_score, match_reason, algorithm_version, "
    "created_at, updated_at, expires_at"
)


@dataclass(frozen=True, slots=True)
class Match:
    id: UUID
    user1_id: UUID
    user2_id: UUID
    status: str
    compatibility_score: float | None
    match_reason: dict[str, Any]
    algorithm_version: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None

    def other(self, user_id: UUID) -> UUID:
        """The other side of the match."""
        return self.user2_id if user_id == self.user1_id else self.user1_id


def match_from_row(row: asyncpg.Record) -> Match:
    score: Decimal | None = row["compatibility_score"]
    return Match(
        id=row["id"],
        user1_id=row["user1_id"],
        user2_id=row["user2_id"],
        status=row["status"],
        compatibility_score=None if score is None else float(score),
        match_reason=row["match_reason"],
        algorithm_version=row["algorithm_version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


async def lock_pair(conn: asyncpg.Connection, a: UUID, b: UUID) -> None:
    """Serialise writers of one pair until the end of the caller's transaction."""
    await lock_pair_for_transaction(conn, pair_key(a, b))


async def lock_pairs(conn: asyncpg.Connection, pairs: Iterable[tuple[UUID, UUID]]) -> None:
    """Lock several pairs in key order, so two callers locking overlapping pairs cannot
    deadlock; a pair this transaction holds already is taken again at no cost."""
    keyed = {pair_key(a, b): (a, b) for a, b in pairs}
    for key in sorted(keyed):
        await lock_pair(conn, *keyed[key])


async def open_pairs_of(conn: asyncpg.Connection, user_id: UUID) -> list[tuple[UUID, UUID]]:
    """The pairs of the person's pending and mutual matches."""
    rows = await conn.fetch(
        "SELECT user1_id, user2_id FROM user_matches "
        "WHERE (user1_id = $1 OR user2_id = $1) AND status = ANY($2::text[])",
        user_id,
        list(OPEN_STATUSES),
    )
    return [(r["user1_id"], r["user2_id"]) for r in rows]


async def lock_matches_of(conn: asyncpg.Connection, user_id: UUID) -> list[Match]:
    """All the person's matches, oldest id first, row-locked until the transaction ends."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM user_matches WHERE user1_id = $1 OR user2_id = $1 "
        "ORDER BY id FOR UPDATE",
        user_id,
    )
    return [match_from_row(r) for r in rows]


def event_reason(reason: Mapping[str, Any]) -> dict[str, Any]:
    """A match reason as events carry it: factor names, counts and flags. The interests,
    distance and summary stay in the table, which only the two people can read."""
    out: dict[str, Any] = {
        "primary_factors": [f for f in reason.get("primary_factors", []) if f in FACTORS],
        "shared_interest_count": len(reason.get("shared_interests", [])),
        "shared_event_count": len(reason.get("shared_events", [])),
        "industry_match": reason.get("industry_match") is True,
    }
    if reason.get("score_pending") is True:
        out["score_pending"] = True
    return out


def status_event(match: Match, old_status: str, updated_by: UUID | None) -> dict[str, Any]:
    return {
        "match_id": str(match.id),
        "user1_id": str(match.user1_id),
        "user2_id": str(match.user2_id),
        "old_status": old_status,
        "new_status": match.status,
        "updated_by": None if updated_by is None else str(updated_by),
    }


async def get_match(conn: asyncpg.Connection, match_id: UUID) -> Match | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM user_matches WHERE id = $1", match_id)
    return None if row is None else match_from_row(row)


async def open_match_between(conn: asyncpg.Connection, a: UUID, b: UUID) -> UUID | None:
    """The pending or mutual match of the pair, if any."""
    u1, u2 = ordered_pair(a, b)
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM user_matches WHERE user1_id = $1 AND user2_id = $2 "
        "AND status = ANY($3::text[])",
        u1,
        u2,
        list(OPEN_STATUSES),
    )
    return found


async def update_status(
    conn: asyncpg.Connection,
    match_id: UUID,
    new_status: str,
    updated_by: UUID,
    topic: str,
) -> Match:
    """Move a match along its lifecycle and write match.status_updated in the same transaction.

    Setting the status it already has is a no-op (no event), so a retried request succeeds.
    Raises MatchNotFound, NotAMember, IllegalTransition; ValueError for an unknown status.
    """
    if new_status not in STATUSES:
        raise ValueError(f"unknown match status {new_status!r}")
    async with conn.transaction():
        pair = await conn.fetchrow(
            "SELECT user1_id, user2_id FROM user_matches WHERE id = $1", match_id
        )
        if pair is None:
            raise MatchNotFound(match_id)
        if updated_by not in (pair["user1_id"], pair["user2_id"]):
            raise NotAMember(match_id, updated_by)
        await lock_pair(conn, pair["user1_id"], pair["user2_id"])
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM user_matches WHERE id = $1 FOR UPDATE", match_id
        )
        if row is None:  # deleted (a profile cascade) since the first read
            raise MatchNotFound(match_id)
        old_status = row["status"]
        if old_status == new_status:
            return match_from_row(row)
        if new_status not in TRANSITIONS[old_status]:
            raise IllegalTransition(old_status, new_status)
        row = await conn.fetchrow(
            f"UPDATE user_matches SET status = $2, updated_at = now() WHERE id = $1 "
            f"RETURNING {_COLUMNS}",
            match_id,
            new_status,
        )
        assert row is not None
        match = match_from_row(row)
        await enqueue(
            conn,
            topic,
            pair_key(match.user1_id, match.user2_id),
            STATUS_UPDATED,
            status_event(match, old_status, updated_by),
        )
    return match


# Keyset pagination, newest first. A user is user1 or user2 of a pair, never both, so the
# two halves are disjoint; each is an index scan on user_matches_user{1,2}_recent_idx.
_LIST_HALF = (
    "(SELECT {cols} FROM user_matches WHERE {side} = $1 AND ($2::text IS NULL OR status = $2) "
    "{after} ORDER BY updated_at DESC, id DESC LIMIT $3)"
)


def _list_sql(after_cursor: bool) -> str:
    after = "AND (updated_at, id) < ($4::timestamptz, $5::uuid)" if after_cursor else ""
    halves = [
        _LIST_HALF.format(cols=_COLUMNS, side=s, after=after) for s in ("user1_id", "user2_id")
    ]
    return f"{halves[0]} UNION ALL {halves[1]} ORDER BY updated_at DESC, id DESC LIMIT $3"


_LIST_FIRST = _list_sql(after_cursor=False)
_LIST_AFTER = _list_sql(after_cursor=True)


def encode_cursor(updated_at: datetime, match_id: UUID) -> str:
    raw = f"{updated_at.astimezone(UTC).isoformat()}|{match_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Cursors name a time the database wrote: a forged one far outside this range would make
# the driver overflow (year 1 at +05:00 is before year 1 in UTC) instead of paging.
_CURSOR_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_CURSOR_SKEW = timedelta(days=1)


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (updated_at, id) a cursor from `encode_cursor` holds; anything else is refused."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        updated_at = datetime.fromisoformat(stamp)
        match_id = UUID(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("not a cursor this service issued") from exc
    latest = datetime.now(UTC) + _CURSOR_SKEW
    if updated_at.utcoffset() != timedelta(0) or not _CURSOR_EARLIEST <= updated_at <= latest:
        raise InvalidCursor("not a cursor this service issued (time out of range)")
    # Only the exact text encode_cursor writes: no padding, spacing or other spellings.
    if encode_cursor(updated_at, match_id) != cursor:
        raise InvalidCursor("not a cursor this service issued")
    return updated_at, match_id


async def list_matches(
    conn: asyncpg.Connection,
    user_id: UUID,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Match], str | None]:
    """A page of the user's matches, newest change first, and the cursor of the next page
    (None on the last page). A match whose status changes between two pages moves to the
    front of the list (its updated_at changes), so a walk can miss it until the next walk."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown match status {status!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    if cursor is None:
        rows = await conn.fetch(_LIST_FIRST, user_id, status, limit + 1)
    else:
        after_at, after_id = decode_cursor(cursor)
        rows = await conn.fetch(_LIST_AFTER, user_id, status, limit + 1, after_at, after_id)
    page = [match_from_row(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.updated_at, last.id)
    return page, next_cursor


_DUE = f"""
SELECT {_COLUMNS} FROM user_matches
WHERE status IN ('pending', 'mutual') AND expires_at <= $1
ORDER BY expires_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
# Pairs whose advisory lock is free now; a busy pair (a swipe or status change in flight)
# is left for the next run instead of waiting while holding the batch's row locks.
_TRY_PAIRS = f"""
SELECT t.id FROM unnest($1::uuid[], $2::text[]) AS t(id, k)
WHERE {TRY_PAIR_LOCK_SQL.format(key="t.k")}
"""
_EXPIRE = f"""
UPDATE user_matches SET status = 'expired', updated_at = now()
WHERE id = ANY($1::uuid[]) AND status IN ('pending', 'mutual')
RETURNING {_COLUMNS}
"""


async def expire_matches(
    conn: asyncpg.Connection, now: datetime, topic: str, batch: int = 1000
) -> int:
    """Expire open matches with expires_at <= now, one transaction per batch, one
    match.status_updated event (updated_by null) each; returns how many this call expired.

    Safe to run from several workers at once and repeatedly: rows are claimed with
    FOR UPDATE SKIP LOCKED, so each match is expired (and announced) exactly once.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    total = 0
    while True:
        async with conn.transaction():
            due = await conn.fetch(_DUE, now, batch)
            if not due:
                return total
            old = {r["id"]: r["status"] for r in due}
            ids = await conn.fetch(
                _TRY_PAIRS,
                [r["id"] for r in due],
                [pair_key(r["user1_id"], r["user2_id"]) for r in due],
            )
            rows = await conn.fetch(_EXPIRE, [r["id"] for r in ids]) if ids else []
            for row in rows:
                match = match_from_row(row)
                await enqueue(
                    conn,
                    topic,
                    pair_key(match.user1_id, match.user2_id),
                    STATUS_UPDATED,
                    status_event(match, old[match.id], None),
                )
        total += len(rows)
        if len(due) < batch or not rows:
            return total
