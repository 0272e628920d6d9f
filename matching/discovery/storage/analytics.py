"""Analytics events (impressions, client events) and swipe/match statistics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

STATS_DAYS = 30
_CHUNK = 5000

# Rows naming a user without a profile (deleted since the page was served) are dropped:
# analytics is best effort and one stale id must not lose a whole batch of impressions.
_INSERT_EVENTS = """
INSERT INTO matching_analytics
    (user_id, event_type, target_user_id, algorithm_version, payload, created_at)
SELECT t.user_id, t.event_type, t.target_user_id, t.algorithm_version, t.payload,
       coalesce(t.created_at, now())
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[], $6::timestamptz[])
     AS t(user_id, event_type, target_user_id, algorithm_version, payload, created_at)
WHERE EXISTS (SELECT 1 FROM profiles p WHERE p.id = t.user_id)
  AND (t.target_user_id IS NULL
       OR EXISTS (SELECT 1 FROM profiles p WHERE p.id = t.target_user_id))
"""


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    user_id: UUID
    event_type: str  # match_shown, match_liked, match_passed, conversation_started, ...
    target_user_id: UUID | None = None
    algorithm_version: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # When it happened, if not when it is written: an impression written after the response
    # keeps the time it was served, so a swipe that followed it is its outcome.
    created_at: datetime | None = None


async def record_events(conn: asyncpg.Connection, rows: Iterable[AnalyticsEvent]) -> int:
    """Insert events in bulk (one statement per 5000); returns how many were stored (rows
    naming a deleted user are skipped). Raises ValueError for an invalid event type."""
    batch = list(rows)
    for row in batch:
        if not 1 <= len(row.event_type) <= 64:
            raise ValueError(f"event_type must be 1 to 64 characters: {row.event_type!r}")
        if not isinstance(row.payload, dict):
            raise ValueError("payload must be an object")
    stored = 0
    for start in range(0, len(batch), _CHUNK):
        chunk = batch[start : start + _CHUNK]
        status = await conn.execute(
            _INSERT_EVENTS,
            [r.user_id for r in chunk],
            [r.event_type for r in chunk],
            [r.target_user_id for r in chunk],
            [r.algorithm_version for r in chunk],
            [r.payload for r in chunk],
            [r.created_at for r in chunk],
        )
        stored += int(status.rsplit(" ", 1)[1])
    return stored


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


_DAYS = f"""
SELECT d::date AS day FROM generate_series(
    (now() AT TIME ZONE 'UTC')::date - {STATS_DAYS - 1}, (now() AT TIME ZONE 'UTC')::date,
    interval '1 day') AS d
"""
_USER_STATS = """
WITH given AS (
    SELECT count(*) AS swipes,
           count(*) FILTER (WHERE action = 'like') AS likes,
           count(*) FILTER (WHERE action = 'super_like') AS super_likes,
           count(*) FILTER (WHERE action = 'pass') AS passes
    FROM swipe_history WHERE swiper_id = $1
), received AS (
    SELECT count(*) AS swipes,
           count(*) FILTER (WHERE action = 'like') AS likes,
           count(*) FILTER (WHERE action = 'super_like') AS super_likes,
           count(*) FILTER (WHERE action = 'pass') AS passes
    FROM swipe_history WHERE swiped_id = $1
), mutual AS (
    SELECT count(*) AS likes
    FROM swipe_history a
    JOIN swipe_history b ON b.swiper_id = a.swiped_id AND b.swiped_id = a.swiper_id
    WHERE a.swiper_id = $1 AND a.action <> 'pass' AND b.action <> 'pass'
), matches AS (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'mutual') AS mutual,
           count(*) FILTER (WHERE status = 'declined') AS declined,
           count(*) FILTER (WHERE status = 'expired') AS expired
    FROM (SELECT status FROM user_matches WHERE user1_id = $1
          UNION ALL SELECT status FROM user_matches WHERE user2_id = $1) AS m
)
SELECT given.swipes AS swipes_given, given.likes AS likes_given,
       given.super_likes AS super_likes_given, given.passes AS passes_given,
       received.swipes AS swipes_received, received.likes AS likes_received,
       received.super_likes AS super_likes_received, received.passes AS passes_received,
       mutual.likes AS mutual_likes,
       matches.total AS matches_total, matches.pending AS matches_pending,
       matches.mutual AS matches_mutual, matches.declined AS matches_declined,
       matches.expired AS matches_expired
FROM given, received, mutual, matches
"""
_USER_DAILY = f"""
WITH days AS ({_DAYS}), s AS (
    SELECT (updated_at AT TIME ZONE 'UTC')::date AS day, action
    FROM swipe_history
    WHERE swiper_id = $1
      AND updated_at >= ((now() AT TIME ZONE 'UTC')::date - {STATS_DAYS - 1})::timestamp
                        AT TIME ZONE 'UTC'
)
SELECT days.day,
       count(s.action) AS swipes,
       count(*) FILTER (WHERE s.action = 'like') AS likes,
       count(*) FILTER (WHERE s.action = 'pass') AS passes,
       count(*) FILTER (WHERE s.action = 'super_like') AS super_likes
FROM days LEFT JOIN s ON s.day = days.day
GROUP BY days.day ORDER BY days.day
"""


def _daily(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [
        {
            "day": r["day"],
            "swipes": int(r["swipes"]),
            "likes": int(r["likes"]),
            "passes": int(r["passes"]),
            "super_likes": int(r["super_likes"]),
        }
        for r in rows
    ]


async def user_stats(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any]:
    """One user's numbers, live. Likes count like and super_like. mutual_likes: people the
    user liked who liked back (each is a mutual match when it formed, whatever the match's
    status now); mutual_rate = mutual_likes / likes given (0 with no likes).
    daily_swipes: the last 30 UTC days, oldest first, zeros included, by the swipe's last
    change (a pass later turned into a like counts on the day of the like)."""
    row = await conn.fetchrow(_USER_STATS, user_id)
    assert row is not None
    daily = await conn.fetch(_USER_DAILY, user_id)
    likes_given = int(row["likes_given"]) + int(row["super_likes_given"])
    likes_received = int(row["likes_received"]) + int(row["super_likes_received"])
    mutual = int(row["mutual_likes"])
    return {
        "user_id": user_id,
        "swipes_given": int(row["swipes_given"]),
        "swipes_received": int(row["swipes_received"]),
        "likes_given": likes_given,
        "likes_received": likes_received,
        "super_likes_given": int(row["super_likes_given"]),
        "super_likes_received": int(row["super_likes_received"]),
        "passes_given": int(row["passes_given"]),
        "passes_received": int(row["passes_received"]),
        "mutual_likes": mutual,
        "mutual_rate": _rate(mutual, likes_given),
        "matches_total": int(row["matches_total"]),
        "matches_by_status": {
            s: int(row[f"matches_{s}"]) for s in ("pending", "mutual", "declined", "expired")
        },
        "daily_swipes": _daily(list(daily)),
    }


_SERVICE_TOTALS = """
WITH swipes AS (
    SELECT count(*) AS swipes,
           count(*) FILTER (WHERE action = 'like') AS likes,
           count(*) FILTER (WHERE action = 'super_like') AS super_likes,
           count(*) FILTER (WHERE action = 'pass') AS passes
    FROM swipe_history
), mutual AS (
    SELECT count(*) AS likes
    FROM swipe_history a
    JOIN swipe_history b ON b.swiper_id = a.swiped_id AND b.swiped_id = a.swiper_id
    WHERE a.action <> 'pass' AND b.action <> 'pass'
), matches AS (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'mutual') AS mutual,
           count(*) FILTER (WHERE status = 'declined') AS declined,
           count(*) FILTER (WHERE status = 'expired') AS expired
    FROM user_matches
)
SELECT (SELECT count(*) FROM profiles) AS users,
       (SELECT count(*) FROM profiles WHERE active) AS active_users,
       swipes.swipes, swipes.likes, swipes.super_likes, swipes.passes,
       mutual.likes AS mutual_likes,
       matches.total AS matches_total, matches.pending AS matches_pending,
       matches.mutual AS matches_mutual, matches.declined AS matches_declined,
       matches.expired AS matches_expired
FROM swipes, mutual, matches
"""
_SERVICE_DAILY = f"""
WITH days AS ({_DAYS})
SELECT days.day, coalesce(s.swipes, 0) AS swipes, coalesce(s.likes, 0) AS likes,
       coalesce(s.passes, 0) AS passes, coalesce(s.super_likes, 0) AS super_likes
FROM days LEFT JOIN daily_swipe_stats s ON s.day = days.day
ORDER BY days.day
"""


async def service_stats(conn: asyncpg.Connection) -> dict[str, Any]:
    """Service-wide numbers. Totals are live (full scans: an operator endpoint, not a hot
    path); daily_swipes comes from the daily_swipe_stats view, as of its last refresh_stats.
    mutual_rate = likes that were liked back / all likes."""
    row = await conn.fetchrow(_SERVICE_TOTALS)
    assert row is not None
    daily = await conn.fetch(_SERVICE_DAILY)
    likes = int(row["likes"]) + int(row["super_likes"])
    mutual = int(row["mutual_likes"])
    return {
        "users": int(row["users"]),
        "active_users": int(row["active_users"]),
        "swipes": int(row["swipes"]),
        "likes": likes,
        "super_likes": int(row["super_likes"]),
        "passes": int(row["passes"]),
        "mutual_likes": mutual,
        "mutual_rate": _rate(mutual, likes),
        "matches_total": int(row["matches_total"]),
        "matches_by_status": {
            s: int(row[f"matches_{s}"]) for s in ("pending", "mutual", "declined", "expired")
        },
        "daily_swipes": _daily(list(daily)),
    }


async def refresh_stats(conn: asyncpg.Connection) -> None:
    """Recompute daily_swipe_stats without blocking swipe writers or readers of the view.
    Two refreshes at once queue behind each other (the second then has little to do)."""
    await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY daily_swipe_stats")


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Live totals for /health."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM user_matches) AS matches,
                  (SELECT count(*) FROM swipe_history) AS swipes"""
    )
    return {} if row is None else {k: int(v) for k, v in row.items()}
