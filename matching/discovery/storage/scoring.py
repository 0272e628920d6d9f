"""A match's compatibility score: computed outside any transaction, deferred when it cannot be.

A like is never lost because a scoring stage is down: when `ScorePair` answers None (the
retriever or reranker down or too slow), the swipe still stores the like and creates the
mutual match with its score pending (`compatibility_score` and `algorithm_version` NULL,
`match_reason.score_pending` true). `score_pending`, run by the mode's maintenance, scores
those matches once the stages answer again and announces each with a `match.scored` event;
`match.created` is still written once, when the match forms.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import asyncpg

from matching.core.domain.pairs import pair_key
from matching.core.storage.outbox import enqueue
from matching.discovery.storage.matches import event_reason, lock_pair

# (a, b) -> (score in [0, 1], match_reason, algorithm_version), or None: not computable now.
ScorePair = Callable[[UUID, UUID], Awaitable[tuple[float, dict[str, Any], str] | None]]
MATCH_SCORED: Final = "match.scored"


@dataclass(frozen=True, slots=True)
class Score:
    value: float | None  # None: pending, computed later by score_pending
    reason: dict[str, Any]
    version: str | None

    @property
    def pending(self) -> bool:
        return self.value is None


PENDING: Final = Score(
    None,
    {"summary": "score pending: scoring is unavailable, it follows shortly", "score_pending": True},
    None,
)


async def compute(score_pair: ScorePair, u1: UUID, u2: UUID) -> Score:
    """The pair's score, or PENDING when score_pair cannot compute it now."""
    found = await score_pair(u1, u2)
    if found is None:
        return PENDING
    value, reason, version = found
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"compatibility score {value!r} is not in [0, 1]")
    return Score(round(value, 4), dict(reason), str(version))


# Served by user_matches_score_pending_idx (migration 0009).
_PENDING_SQL = """
SELECT id, user1_id, user2_id FROM user_matches
WHERE status = 'mutual' AND compatibility_score IS NULL
ORDER BY created_at, id
LIMIT $1
"""
_SET_SCORE = """
UPDATE user_matches
SET compatibility_score = $2, match_reason = $3, algorithm_version = $4, updated_at = now()
WHERE id = $1 AND status = 'mutual' AND compatibility_score IS NULL
RETURNING id
"""


async def score_pending(
    conn: asyncpg.Connection,
    score_pair: ScorePair,
    topic: str,
    *,
    batch: int = 100,
    budget_s: float = 30.0,
) -> int:
    """Score mutual matches whose score is pending, oldest first, until none is left, the
    stages stop answering or `budget_s` is spent; returns how many it scored."""
    deadline = time.monotonic() + budget_s
    scored = 0
    while True:
        rows = await conn.fetch(_PENDING_SQL, batch)
        for row in rows:
            u1, u2 = row["user1_id"], row["user2_id"]
            score = await compute(score_pair, u1, u2)  # no transaction, no lock held
            if score.pending:  # still down: the next run tries again
                return scored
            scored += await set_score(conn, row["id"], u1, u2, score, topic)
            if time.monotonic() >= deadline:
                return scored
        if len(rows) < batch:
            return scored


async def set_score(
    conn: asyncpg.Connection, match_id: UUID, u1: UUID, u2: UUID, score: Score, topic: str
) -> bool:
    """Store a pending match's score and write match.scored; False if it was no longer
    pending (scored meanwhile, declined, expired or erased)."""
    async with conn.transaction():
        await lock_pair(conn, u1, u2)  # the pair's events stay in commit order
        updated = await conn.fetchval(
            _SET_SCORE, match_id, score.value, score.reason, score.version
        )
        if updated is None:
            return False
        event = {
            "match_id": str(match_id),
            "user1_id": str(u1),
            "user2_id": str(u2),
            "compatibility_score": score.value,
            "match_reason": event_reason(score.reason),  # factors and counts, as match.created
            "algorithm_version": score.version,
        }
        await enqueue(conn, topic, pair_key(u1, u2), MATCH_SCORED, event)
    return True
