"""pairing_audit: each pair's side effects, each done in the transaction that enqueues its
outbox event, so a step is marked done exactly when its event is durable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import asyncpg

from matching.core.storage.outbox import enqueue
from matching.pairing.storage.pools import check_fence

PAIR_CREATED = "pairing.pair_created"
CHAT_REQUESTED = "pairing.chat_requested"
NOTIFY = "pairing.notify"
METADATA_UPDATED = "pairing.metadata_updated"
# The columns of pairing_audit, in the order a pair's side effects run.
STEPS: Final = (
    "pair_recorded", "chat_requested", "user1_notified", "user2_notified", "metadata_updated",
)  # fmt: skip
_ALL_DONE = " AND ".join(STEPS)


@dataclass(frozen=True, slots=True)
class AuditRow:
    cycle_id: int
    pair_key: str
    pool: str
    user1_id: UUID
    user2_id: UUID
    score: float
    done: frozenset[str]


def _row(r: asyncpg.Record) -> AuditRow:
    done = frozenset(step for step in STEPS if r[step])
    return AuditRow(
        r["cycle_id"], r["pair_key"], r["pool"], r["user1_id"], r["user2_id"], r["score"], done
    )


def event_for(row: AuditRow, step: str) -> tuple[str, dict[str, Any]]:
    """(event type, payload) of one step of a pair."""
    base: dict[str, Any] = {"pool": row.pool, "cycle_id": row.cycle_id, "pair_key": row.pair_key}
    users = (str(row.user1_id), str(row.user2_id))
    if step == "pair_recorded":
        return PAIR_CREATED, {**base, "user1_id": users[0], "user2_id": users[1],
                              "score": row.score}  # fmt: skip
    if step == "chat_requested":
        return CHAT_REQUESTED, {**base, "members": list(users)}
    if step in ("user1_notified", "user2_notified"):
        me = 0 if step == "user1_notified" else 1
        return NOTIFY, {**base, "user_id": users[me], "partner_id": users[1 - me]}
    if step == "metadata_updated":
        return METADATA_UPDATED, {**base, "user_ids": list(users)}
    raise ValueError(f"unknown step {step!r}")


async def open_rows(
    conn: asyncpg.Connection, pool: str, cycle_ids: Sequence[int] | None = None
) -> list[AuditRow]:
    """The pool's pairs with a step still to do (of `cycle_ids`, or of every cycle)."""
    rows = await conn.fetch(
        "SELECT * FROM pairing_audit WHERE pool = $1 AND status <> 'completed' "
        "AND ($2::bigint[] IS NULL OR cycle_id = ANY($2)) ORDER BY cycle_id, pair_key",
        pool,
        None if cycle_ids is None else list(cycle_ids),
    )
    return [_row(r) for r in rows]


async def do_step(
    conn: asyncpg.Connection, row: AuditRow, step: str, token: int, topic: str
) -> bool:
    """Enqueue the step's event and mark it done, once: False when it was done already
    (by an earlier runner or a concurrent reconcile). Raises StaleFence for a stale token."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    async with conn.transaction():
        await check_fence(conn, row.pool, token)
        done = await conn.fetchval(
            f"SELECT {step} FROM pairing_audit WHERE cycle_id = $1 AND pair_key = $2 FOR UPDATE",
            row.cycle_id,
            row.pair_key,
        )
        if done is None or done:  # erased with a member (None), or done before
            return False
        event_type, payload = event_for(row, step)
        await enqueue(conn, topic, row.pair_key, event_type, payload)
        await conn.execute(
            f"UPDATE pairing_audit SET {step} = true, attempts = attempts + 1, "
            "last_attempt_at = now() WHERE cycle_id = $1 AND pair_key = $2",
            row.cycle_id,
            row.pair_key,
        )
        # SET sees the old row, so the status follows in a second statement.
        await conn.execute(
            f"UPDATE pairing_audit SET status = 'completed' WHERE cycle_id = $1 "
            f"AND pair_key = $2 AND {_ALL_DONE}",
            row.cycle_id,
            row.pair_key,
        )
    return True


async def record_failure(conn: asyncpg.Connection, row: AuditRow, max_attempts: int) -> None:
    """Count a failed attempt; past `max_attempts` the pair shows as failed (still retried)."""
    await conn.execute(
        "UPDATE pairing_audit SET attempts = attempts + 1, last_attempt_at = now(), "
        "status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END "
        "WHERE cycle_id = $1 AND pair_key = $2",
        row.cycle_id,
        row.pair_key,
        max_attempts,
    )


async def history(conn: asyncpg.Connection, user_id: UUID, limit: int) -> list[asyncpg.Record]:
    """A person's pairs, newest first, each with the partner."""
    return list(
        await conn.fetch(
            "SELECT cycle_id, pool, score, status, created_at, "
            "CASE WHEN user1_id = $1 THEN user2_id ELSE user1_id END AS partner_id "
            "FROM pairing_audit WHERE user1_id = $1 OR user2_id = $1 "
            "ORDER BY created_at DESC, cycle_id DESC LIMIT $2",
            user_id,
            limit,
        )
    )


async def pools_to_reconcile(conn: asyncpg.Connection) -> list[str]:
    """Pools with a pair still incomplete or a cycle left running."""
    rows = await conn.fetch(
        "SELECT pool FROM pairing_audit WHERE status <> 'completed' "
        "UNION SELECT pool FROM pairing_cycles WHERE status = 'running' ORDER BY pool"
    )
    return [r["pool"] for r in rows]
