"""Swipes, blocks and mutual-match creation, as plain parameterised SQL.

`record_swipe` serialises the two directions of a pair with the pair's advisory lock
(`matches.lock_pair`), so two reciprocal likes arriving at once on different connections
create exactly one match: whichever commits second sees the first under the lock. The
unique (user1_id, user2_id) with ON CONFLICT DO NOTHING is a second guard.

The compatibility score (`score_pair`, possibly a model call) is never computed inside a
transaction: the transaction is optimistic; when it finds that this swipe completes a match
and it has no score yet, it rolls back (nothing written, lock released), the score is
computed with no transaction or lock held, and the transaction runs again and re-checks.
Only swipes that create a match pay for the extra round trips; a like cannot be taken back,
so the second attempt always has what it needs. When the score cannot be computed now, the
match is created with its score pending and scored later (`scoring.score_pending`).

A swipe is activity: it moves the swiper's `profiles.last_active_at` to the swipe's time,
in the swipe's transaction, after the pair lock (pair lock, then rows). Retrievers pick it up
with `profiles.active_since`, not the change log: its lock would serialise every swipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal
from uuid import UUID, uuid4

import asyncpg

from matching.core.domain.pairs import ordered_pair, pair_key
from matching.core.storage.outbox import enqueue
from matching.discovery.storage.errors import IllegalSwipeChange, UnknownUser
from matching.discovery.storage.matches import STATUS_UPDATED, event_reason, lock_pair
from matching.discovery.storage.scoring import Score, ScorePair, compute

SwipeAction = Literal["like", "pass", "super_like"]
ACTIONS: Final[frozenset[str]] = frozenset({"like", "pass", "super_like"})
LIKES: Final[frozenset[str]] = frozenset({"like", "super_like"})
# What an existing swipe may become (besides itself, which is a no-op): only upwards.
_UPGRADES: Final[dict[str, frozenset[str]]] = {
    "pass": frozenset({"like", "super_like"}),
    "like": frozenset({"super_like"}),
    "super_like": frozenset(),
}
SWIPE_PERFORMED = "swipe.performed"
MATCH_CREATED = "match.created"


@dataclass(frozen=True, slots=True)
class SwipeResult:
    swiper_id: UUID
    swiped_id: UUID
    action: str  # the stored action (== the requested one: anything else raises)
    changed: bool  # False: the same swipe again, nothing written
    mutual: bool  # both like each other and the pair's match is 'mutual'
    match_id: UUID | None  # the pair's match when mutual
    event_ids: list[UUID] = field(default_factory=list)
    match_created: bool = False  # this call created the match (or made a pending one mutual)


class _ScoreNeeded(Exception):
    """Raised inside the transaction to roll it back and compute the score outside."""


_STATE = """
SELECT EXISTS (SELECT 1 FROM profiles WHERE id = $1) AS swiper_known,
       EXISTS (SELECT 1 FROM profiles WHERE id = $2) AS swiped_known,
       (SELECT action FROM swipe_history WHERE swiper_id = $1 AND swiped_id = $2) AS mine,
       (SELECT action FROM swipe_history WHERE swiper_id = $2 AND swiped_id = $1) AS theirs,
       EXISTS (SELECT 1 FROM user_blocks WHERE (blocker_id = $1 AND blocked_id = $2)
                                           OR (blocker_id = $2 AND blocked_id = $1)) AS blocked,
       m.id AS match_id, m.status AS match_status
FROM (SELECT 1) AS one
LEFT JOIN user_matches m ON m.user1_id = $3 AND m.user2_id = $4
"""
_UPSERT_SWIPE = """
INSERT INTO swipe_history (swiper_id, swiped_id, action, context) VALUES ($1, $2, $3, $4)
ON CONFLICT (swiper_id, swiped_id) DO UPDATE
    SET action = EXCLUDED.action, context = EXCLUDED.context, updated_at = now()
"""
# now(): the transaction's time, the swipe's created_at/updated_at, so training can replay it.
_TOUCH_SWIPER = """
UPDATE profiles SET last_active_at = greatest(last_active_at, now()) WHERE id = $1
"""
_INSERT_MATCH = """
INSERT INTO user_matches (id, user1_id, user2_id, status, compatibility_score, match_reason,
                          algorithm_version, expires_at)
VALUES ($1, $2, $3, 'mutual', $4, $5, $6, now() + $7::float8 * interval '1 day')
ON CONFLICT (user1_id, user2_id) DO NOTHING
RETURNING id, expires_at
"""
_PROMOTE_MATCH = """
UPDATE user_matches
SET status = 'mutual', compatibility_score = $2, match_reason = $3, algorithm_version = $4,
    expires_at = now() + $5::float8 * interval '1 day', updated_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING id
"""


async def record_swipe(
    conn: asyncpg.Connection,
    swiper: UUID,
    swiped: UUID,
    action: str,
    context: dict[str, Any],
    topic: str,
    score_pair: ScorePair,
    *,
    match_ttl_days: float = 30.0,
) -> SwipeResult:
    """Store `swiper`'s swipe on `swiped` and, when it completes a mutual like, the match.

    Repeating a swipe is a no-op (changed=False, no event). Raises ValueError (self-swipe,
    unknown action), UnknownUser, IllegalSwipeChange (a like cannot become a pass, nor a
    super_like a like). Events (swipe.performed, match.created; keyed by the ordered pair)
    are written to the outbox in the same transaction. No match forms while either person
    blocks the other (the swipe itself is stored; the blocked person is not told). When
    `score_pair` answers None the match is still created, its score pending (match.created
    then carries a null score; match.scored follows once it is computed).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown swipe action {action!r}")
    if swiper == swiped:
        raise ValueError("cannot swipe on oneself")
    if not isinstance(context, dict):
        raise ValueError("context must be an object")
    score: Score | None = None
    for _ in range(2):
        try:
            return await _record(
                conn, swiper, swiped, action, context, topic, score, match_ttl_days
            )
        except _ScoreNeeded:
            u1, u2 = ordered_pair(swiper, swiped)
            score = await compute(score_pair, u1, u2)
        except asyncpg.ForeignKeyViolationError as exc:  # a profile deleted meanwhile
            raise UnknownUser(None) from exc
    raise AssertionError("a second attempt always has the score")  # pragma: no cover


async def _record(
    conn: asyncpg.Connection,
    swiper: UUID,
    swiped: UUID,
    action: str,
    context: dict[str, Any],
    topic: str,
    score: Score | None,
    match_ttl_days: float,
) -> SwipeResult:
    u1, u2 = ordered_pair(swiper, swiped)
    key = pair_key(u1, u2)
    async with conn.transaction():
        await lock_pair(conn, u1, u2)
        state = await conn.fetchrow(_STATE, swiper, swiped, u1, u2)
        assert state is not None
        if not state["swiper_known"]:
            raise UnknownUser(swiper)
        if not state["swiped_known"]:
            raise UnknownUser(swiped)
        mine: str | None = state["mine"]
        match_id: UUID | None = state["match_id"]
        match_status: str | None = state["match_status"]
        both_like = action in LIKES and state["theirs"] in LIKES
        if mine == action:  # the same swipe again
            mutual = both_like and match_status == "mutual"
            return SwipeResult(swiper, swiped, action, False, mutual, match_id if mutual else None)
        if mine is not None and action not in _UPGRADES[mine]:
            raise IllegalSwipeChange(mine, action)
        opens_match = both_like and not state["blocked"] and match_status in (None, "pending")
        if opens_match and score is None:
            raise _ScoreNeeded  # rolls back: nothing written yet

        await conn.execute(_UPSERT_SWIPE, swiper, swiped, action, context)
        await conn.execute(_TOUCH_SWIPER, swiper)
        swipe_event = {
            "swiper_id": str(swiper),
            "swiped_id": str(swiped),
            "action": action,
            "previous_action": mine,
            "context": context,
        }
        event_ids = [await enqueue(conn, topic, key, SWIPE_PERFORMED, swipe_event)]
        created = False
        if opens_match:
            assert score is not None
            if match_id is None:
                created_id, event = await _create_match(conn, u1, u2, score, match_ttl_days)
                if created_id is not None:
                    match_id, match_status, created = created_id, "mutual", True
                    event_ids.append(await enqueue(conn, topic, key, MATCH_CREATED, event))
            else:
                promoted = await conn.fetchval(
                    _PROMOTE_MATCH,
                    match_id,
                    score.value,
                    score.reason,
                    score.version,
                    match_ttl_days,
                )
                if promoted is not None:
                    match_status, created = "mutual", True
                    event = {
                        "match_id": str(match_id),
                        "user1_id": str(u1),
                        "user2_id": str(u2),
                        "old_status": "pending",
                        "new_status": "mutual",
                        "updated_by": str(swiper),
                    }
                    event_ids.append(await enqueue(conn, topic, key, STATUS_UPDATED, event))
        mutual = both_like and match_status == "mutual"
        return SwipeResult(
            swiper,
            swiped,
            action,
            True,
            mutual,
            match_id if mutual else None,
            event_ids,
            created,
        )


async def _create_match(
    conn: asyncpg.Connection, u1: UUID, u2: UUID, score: Score, ttl_days: float
) -> tuple[UUID | None, dict[str, Any]]:
    row = await conn.fetchrow(
        _INSERT_MATCH, uuid4(), u1, u2, score.value, score.reason, score.version, ttl_days
    )
    if row is None:  # a writer that bypassed the pair lock got there first
        return None, {}
    event = {
        "match_id": str(row["id"]),
        "user1_id": str(u1),
        "user2_id": str(u2),
        "compatibility_score": score.value,
        "match_reason": event_reason(score.reason),
        "algorithm_version": score.version,
        "expires_at": row["expires_at"].isoformat(),
    }
    return row["id"], event


async def swiped_ids(
    conn: asyncpg.Connection, user_id: UUID, pass_cooldown_days: float | None
) -> set[UUID]:
    """Everyone the user swiped on; with a cooldown, passes older than it are left out (those
    people may be shown again). Likes are never left out."""
    rows = await conn.fetch(
        "SELECT swiped_id FROM swipe_history WHERE swiper_id = $1 AND ("
        "$2::float8 IS NULL OR action <> 'pass' "
        "OR updated_at > now() - $2::float8 * interval '1 day')",
        user_id,
        pass_cooldown_days,
    )
    return {r["swiped_id"] for r in rows}


async def matched_ids(conn: asyncpg.Connection, user_id: UUID) -> set[UUID]:
    """Everyone the user has a match with, whatever its status: a declined or expired match
    is not offered again by discovery (they have already met each other)."""
    rows = await conn.fetch(
        "SELECT user2_id AS id FROM user_matches WHERE user1_id = $1 "
        "UNION ALL SELECT user1_id FROM user_matches WHERE user2_id = $1",
        user_id,
    )
    return {r["id"] for r in rows}


# swiped_ids | blocked_ids | matched_ids of $1 (passes older than $2 days left out): a
# fragment, so discovery can read it in the same statement as the rest of its context.
EXCLUDED_SQL: Final = (
    "SELECT swiped_id AS id FROM swipe_history WHERE swiper_id = $1 AND ("
    "$2::float8 IS NULL OR action <> 'pass' "
    "OR updated_at > now() - $2::float8 * interval '1 day') "
    "UNION SELECT blocked_id FROM user_blocks WHERE blocker_id = $1 "
    "UNION SELECT blocker_id FROM user_blocks WHERE blocked_id = $1 "
    "UNION SELECT user2_id FROM user_matches WHERE user1_id = $1 "
    "UNION SELECT user1_id FROM user_matches WHERE user2_id = $1"
)


async def excluded_ids(
    conn: asyncpg.Connection, user_id: UUID, pass_cooldown_days: float | None
) -> set[UUID]:
    """swiped_ids | blocked_ids | matched_ids, in one round trip (for discovery)."""
    rows = await conn.fetch(EXCLUDED_SQL, user_id, pass_cooldown_days)
    return {r["id"] for r in rows}
