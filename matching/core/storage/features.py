"""The inputs of the per-user features (`core.domain.features.user_features`), from PostgreSQL.

One query serves the online endpoint (a few users, `WHERE p.id = ANY(...)`) and the offline
job (every active user, one hash shard per Ray read task), so both compute from the same
columns and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from matching.core.domain.features import FEATURE_NAMES, user_features

# `{where}`: a predicate on p (the profile); the counts are per user, over all history.
INPUTS_SQL = """
SELECT p.id AS user_id, p.headline, p.bio, p.industry, p.job_title, p.job_level, p.company,
       p.company_size, p.skills, p.interests, p.networking_goals, p.languages, p.latitude,
       p.longitude, p.age, p.photo_url, p.created_at, p.last_active_at,
       (SELECT count(*) FROM swipe_history s WHERE s.swiper_id = p.id) AS swipes_given,
       (SELECT count(*) FROM swipe_history s
         WHERE s.swiper_id = p.id AND s.action <> 'pass') AS likes_given,
       (SELECT count(*) FROM swipe_history s
         WHERE s.swiped_id = p.id AND s.action <> 'pass') AS likes_received,
       (SELECT count(*) FROM swipe_history r
          JOIN swipe_history s ON s.swiper_id = r.swiped_id AND s.swiped_id = r.swiper_id
         WHERE r.swiped_id = p.id AND r.action <> 'pass') AS responded,
       (SELECT count(*) FROM event_registrations e WHERE e.user_id = p.id) AS events_attended,
       (SELECT count(*) FROM user_matches m
         WHERE (m.user1_id = p.id OR m.user2_id = p.id) AND m.status = 'mutual') AS connections
FROM profiles p
WHERE p.active AND {where}
"""


async def load_inputs(conn: asyncpg.Connection, user_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(INPUTS_SQL.format(where="p.id = ANY($1::uuid[])"), list(user_ids))
    return [dict(r) for r in rows]


async def live_features(
    conn: asyncpg.Connection, user_id: UUID, now: datetime
) -> dict[str, float] | None:
    """The user's features computed now from the database: what the job would write."""
    rows = await load_inputs(conn, [user_id])
    return user_features(rows[0], now) if rows else None


async def save_features(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[UUID, Sequence[float]]],
    computed_at: datetime,
) -> int:
    """Write feature vectors (FEATURE_NAMES order); other user_features columns are kept."""
    names = list(FEATURE_NAMES)
    completeness = names.index("profile_completeness")
    activity = names.index("activity_score")
    await conn.executemany(
        """
        INSERT INTO user_features (user_id, feature_vector, feature_names,
                                   profile_completeness, activity_score, computed_at)
        VALUES ($1, $2::real[], $3::text[], $4, $5, $6)
        ON CONFLICT (user_id) DO UPDATE SET
            feature_vector = EXCLUDED.feature_vector,
            feature_names = EXCLUDED.feature_names,
            profile_completeness = EXCLUDED.profile_completeness,
            activity_score = EXCLUDED.activity_score,
            computed_at = EXCLUDED.computed_at
        """,
        [
            (uid, list(vec), names, vec[completeness], vec[activity], computed_at)
            for uid, vec in rows
        ],
    )
    return len(rows)


async def stored_meta(conn: asyncpg.Connection, user_id: UUID) -> asyncpg.Record | None:
    """(model_version, embedding_dim, computed_at) of the user's stored feature row."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT model_version, embedding_dim, computed_at FROM user_features WHERE user_id = $1",
        user_id,
    )
    return row
