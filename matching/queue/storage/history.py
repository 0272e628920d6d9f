"""The durable history in PostgreSQL: the Redis transitions applied in stream order, each
batch in one transaction with the cursor (a replay after a failure changes nothing twice);
a session's row and its `match.found` event (outbox) commit together."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from matching.core.storage.erasure import erased_at
from matching.core.storage.locks import lock_pair_for_transaction
from matching.core.storage.outbox import enqueue

MATCH_FOUND = "match.found"
# Taken by every batch and by an erasure's queue step: a record naming a person is applied
# either before their erasure (which then deletes it) or after it (and is skipped).
HISTORY_LOCK = "queue:history"
Record = dict[str, Any]


def _at(ms: float | int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(float(ms) / 1000, UTC)


async def cursor(conn: asyncpg.Connection, prefix: str) -> str:
    """The last stream id applied for this prefix ('0-0' before the first)."""
    found = await conn.fetchval(
        "SELECT last_id FROM queue_history_cursor WHERE prefix = $1", prefix
    )
    return str(found) if found is not None else "0-0"


async def apply_batch(
    conn: asyncpg.Connection, prefix: str, rows: list[tuple[str, Record]], topic: str
) -> None:
    """Apply `rows` ((stream id, record) in order) and move the cursor, atomically."""
    async with conn.transaction():
        await lock_pair_for_transaction(conn, HISTORY_LOCK)
        for _, record in rows:
            await _APPLY[record["kind"]](conn, record, topic)
        await conn.execute(
            "INSERT INTO queue_history_cursor (prefix, last_id) VALUES ($1, $2) "
            "ON CONFLICT (prefix) DO UPDATE SET last_id = EXCLUDED.last_id",
            prefix,
            rows[-1][0],
        )


async def _ticket(conn: asyncpg.Connection, r: Record, _topic: str) -> None:
    at = _at(r["at"])
    if "created" in r:
        if await _erased(conn, r["user"]):
            return
        await conn.execute(
            "INSERT INTO queue_tickets (id, user_id, criteria, client_request_id, status, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5) "
            "ON CONFLICT (id) DO NOTHING",
            UUID(r["id"]),
            UUID(r["user"]),
            r["criteria"],
            r["crid"] or None,
            _at(r["created"]),
        )
        return
    final = r["status"] in ("confirmed", "expired", "cancelled")
    await conn.execute(
        "UPDATE queue_tickets SET status = $2::text, updated_at = $3::timestamptz, "
        "match_id = CASE WHEN $2 = 'pending' THEN NULL ELSE coalesce($4::uuid, match_id) END, "
        "requeues = requeues + (CASE WHEN $2 = 'pending' THEN 1 ELSE 0 END), "
        "ended_at = CASE WHEN $5::boolean THEN $3::timestamptz END WHERE id = $1",
        UUID(r["id"]),
        r["status"],
        at,
        UUID(r["match"]) if r.get("match") else None,
        final,
    )


async def _erased(conn: asyncpg.Connection, *users: str) -> bool:
    return any([await erased_at(conn, UUID(u)) is not None for u in users])


async def _match(conn: asyncpg.Connection, r: Record, _topic: str) -> None:
    if await _erased(conn, r["ua"], r["ub"]):
        return
    await conn.execute(
        "INSERT INTO queue_matches (id, ticket_a, ticket_b, user_a, user_b, criteria, relaxation, "
        "status, created_at, deadline, wait_ms) "
        "SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, "
        "  (extract(epoch FROM $8 - t.created_at) * 1000)::bigint "
        "FROM (SELECT min(created_at) AS created_at FROM queue_tickets WHERE id IN ($2, $3)) t "
        "ON CONFLICT (id) DO NOTHING",
        UUID(r["id"]),
        UUID(r["ta"]),
        UUID(r["tb"]),
        UUID(r["ua"]),
        UUID(r["ub"]),
        r["criteria"],
        r["relaxation"] or {},
        _at(r["created"]),
        _at(r["deadline"]),
    )


async def _match_end(conn: asyncpg.Connection, r: Record, _topic: str) -> None:
    await conn.execute(
        "UPDATE queue_matches SET status = $2, reason = $3, ended_at = $4 WHERE id = $1",
        UUID(r["id"]),
        r["status"],
        r["reason"],
        _at(r["at"]),
    )


async def _confirm(conn: asyncpg.Connection, r: Record, _topic: str) -> None:
    await conn.execute(
        "UPDATE queue_matches SET "
        "a_confirmed_at = CASE WHEN user_a = $2 THEN $3 ELSE a_confirmed_at END, "
        "b_confirmed_at = CASE WHEN user_b = $2 THEN $3 ELSE b_confirmed_at END WHERE id = $1",
        UUID(r["match"]),
        UUID(r["user"]),
        _at(r["at"]),
    )


async def _session(conn: asyncpg.Connection, r: Record, topic: str) -> None:
    if await _erased(conn, *r["users"]):
        return
    users = [UUID(u) for u in r["users"]]
    inserted = await conn.fetchval(
        "INSERT INTO queue_sessions (id, match_id, user_a, user_b, criteria, item_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING true",
        UUID(r["session_id"]),
        UUID(r["match_id"]),
        users[0],
        users[1],
        r["criteria"],
        r["item"] or None,
        _at(r["created"]),
    )
    if inserted:  # in the same transaction as the row, and once per session
        await enqueue(conn, topic, r["session_id"], MATCH_FOUND, session_event(r))


def session_event(r: Record) -> dict[str, Any]:
    """match.found's fields: the session, both users, the criteria and the item."""
    created = _at(r["created"])
    return {
        "session_id": r["session_id"],
        "match_id": r["match_id"],
        "user_ids": list(r["users"]),
        "criteria": r["criteria"],
        "item_id": r["item"] or None,
        "created_at": None if created is None else created.isoformat(),
    }


async def _session_end(conn: asyncpg.Connection, r: Record, _topic: str) -> None:
    await conn.execute(
        "UPDATE queue_sessions SET ended_at = $2, left_by = $3 WHERE id = $1",
        UUID(r["id"]),
        _at(r["at"]),
        UUID(r["left_by"]),
    )


_APPLY: dict[str, Callable[[asyncpg.Connection, Record, str], Awaitable[None]]] = {
    "ticket": _ticket,
    "match": _match,
    "match_end": _match_end,
    "confirm": _confirm,
    "session": _session,
    "session_end": _session_end,
}


def parse(raw: bytes | str) -> Record:
    record: Record = json.loads(raw)
    return record
