"""Match requests in PostgreSQL: claimed first (pending), so one request id is ranked once;
completed with its result and its reply event in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from matching.core.storage.outbox import enqueue

MATCH_RESPONSE = "match.response"
MATCH_ERROR = "match.error"
_COLUMNS = (
    "request_id, requester, body, status, result, error, reply_to, correlation_id, "
    "attempts, created_at"
)


@dataclass(frozen=True, slots=True)
class StoredRequest:
    request_id: str
    requester: str
    body: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    error: dict[str, str] | None
    reply_to: str | None
    correlation_id: str | None
    attempts: int
    created_at: datetime


def _stored(row: asyncpg.Record) -> StoredRequest:
    return StoredRequest(**dict(row))


async def claim(
    conn: asyncpg.Connection,
    request_id: str,
    requester: str,
    body: dict[str, Any],
    reply_to: str | None = None,
    correlation_id: str | None = None,
) -> tuple[bool, StoredRequest]:
    """(True, the new pending row), or (False, the row that had the id already)."""
    row = await conn.fetchrow(
        "INSERT INTO match_requests (request_id, requester, body, status, reply_to, "
        "correlation_id) VALUES ($1, $2, $3, 'pending', $4, $5) "
        f"ON CONFLICT (request_id) DO NOTHING RETURNING {_COLUMNS}",
        request_id,
        requester,
        body,
        reply_to,
        correlation_id,
    )
    if row is not None:
        return True, _stored(row)
    found = await get(conn, request_id)
    assert found is not None  # the conflict was on a committed row, never deleted here
    return False, found


async def exists(conn: asyncpg.Connection, request_id: str, requester: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM match_requests WHERE request_id = $1 AND requester = $2",
        request_id,
        requester,
    )
    return found is not None


async def get(conn: asyncpg.Connection, request_id: str) -> StoredRequest | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM match_requests WHERE request_id = $1", request_id
    )
    return None if row is None else _stored(row)


def reply_payload(stored: StoredRequest, result: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "correlation_id": stored.correlation_id,
        "request_id": stored.request_id,
        "status": "completed",
        "result": result,
    }


async def complete(conn: asyncpg.Connection, stored: StoredRequest, result: dict[str, Any]) -> bool:
    """Store the result and, for a Kafka request, its reply (one transaction); False when
    the row was completed already (another replica got there first)."""
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE match_requests SET status = 'completed', result = $2, updated_at = now() "
            "WHERE request_id = $1 AND status = 'pending'",
            stored.request_id,
            result,
        )
        if status.endswith(" 0"):
            return False
        if stored.reply_to:
            payload = reply_payload(stored, result)
            await enqueue(conn, stored.reply_to, stored.request_id, MATCH_RESPONSE, payload)
    return True


async def fail(
    conn: asyncpg.Connection, stored: StoredRequest, code: str, reason: str, errors_topic: str
) -> None:
    """Mark it failed with a typed code; a Kafka request's error goes to `errors_topic`."""
    error = {"code": code, "reason": reason}
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE match_requests SET status = 'failed', error = $2, updated_at = now() "
            "WHERE request_id = $1 AND status = 'pending'",
            stored.request_id,
            error,
        )
        if stored.reply_to and not status.endswith(" 0"):
            await enqueue_error(conn, errors_topic, stored.request_id, stored.correlation_id, error)


async def enqueue_error(
    conn: asyncpg.Connection,
    topic: str,
    request_id: str | None,
    correlation_id: str | None,
    error: dict[str, str],
) -> None:
    """A request's error event: its code, reason and ids, never the request itself."""
    payload = {"request_id": request_id, "correlation_id": correlation_id, **error}
    await enqueue(conn, topic, request_id or "", MATCH_ERROR, payload)


async def release(conn: asyncpg.Connection, request_id: str) -> None:
    """Drop a pending claim whose ranking failed for a passing reason, so a retry ranks."""
    await conn.execute(
        "DELETE FROM match_requests WHERE request_id = $1 AND status = 'pending'", request_id
    )


async def history(conn: asyncpg.Connection, requester: str, limit: int) -> list[StoredRequest]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM match_requests WHERE requester = $1 "
        "ORDER BY created_at DESC, request_id LIMIT $2",
        requester,
        limit,
    )
    return [_stored(r) for r in rows]


async def stale_pending(
    conn: asyncpg.Connection, older_than_s: float, limit: int = 100
) -> list[StoredRequest]:
    """Pending rows nobody has touched for `older_than_s`; counted as an attempt each."""
    rows = await conn.fetch(
        "UPDATE match_requests SET attempts = attempts + 1, updated_at = now() "
        "WHERE request_id IN (SELECT request_id FROM match_requests WHERE status = 'pending' "
        "AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2 "
        f"FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}",
        older_than_s,
        limit,
    )
    return [_stored(r) for r in rows]


async def record_outcome(
    conn: asyncpg.Connection,
    request_id: str,
    provider_id: UUID,
    outcome: str,
    rating: float | None,
) -> None:
    await conn.execute(
        "INSERT INTO request_outcomes (request_id, provider_id, outcome, rating) "
        "VALUES ($1, $2, $3, $4)",
        request_id,
        provider_id,
        outcome,
        rating,
    )


async def erase(conn: asyncpg.Connection, person: UUID) -> dict[str, int]:
    """Everything kept about the person as a requester or as a provider."""
    requests = await conn.execute("DELETE FROM match_requests WHERE requester = $1", str(person))
    outcomes = await conn.execute("DELETE FROM request_outcomes WHERE provider_id = $1", person)
    # Others' stored results that listed them as a match lose that match.
    scrubbed = await conn.execute(_SCRUB, str(person))
    return {
        "match_requests_erased": int(requests.split()[-1]),
        "provider_outcomes_erased": int(outcomes.split()[-1]),
        "match_results_scrubbed": int(scrubbed.split()[-1]),
    }


_SCRUB = """
UPDATE match_requests SET result = jsonb_set(result, '{matches}', coalesce(
    (SELECT jsonb_agg(m) FROM jsonb_array_elements(result->'matches') m
     WHERE m->>'provider_id' <> $1::text), '[]'::jsonb))
WHERE result->'matches' @> jsonb_build_array(jsonb_build_object('provider_id', $1::text))
"""
