"""Live accuracy of served predictions, per algorithm version.

Discover records every candidate it shows as a `match_shown` impression with the version
that ranked it and its prediction (`p_like` from a learned model, else the weighted
`score`). The outcome is the viewer's later swipe on that person (like or super like:
positive; pass: negative) and whether the pair became a mutual match. Impressions without a
swipe yet have no outcome and are only counted as served.
"""

from __future__ import annotations

from typing import Any

import asyncpg

_REPORT = """
WITH shown AS (
    SELECT DISTINCT ON (a.user_id, a.target_user_id)
           a.user_id, a.target_user_id, a.algorithm_version, a.created_at,
           coalesce((a.payload->>'p_like')::float8, (a.payload->>'score')::float8) AS prediction
    FROM matching_analytics a
    WHERE a.event_type = 'match_shown' AND a.target_user_id IS NOT NULL
      AND a.created_at >= clock_timestamp() - make_interval(secs => $1 * 86400)
    ORDER BY a.user_id, a.target_user_id, a.created_at DESC
), judged AS (
    SELECT s.algorithm_version, s.prediction >= $2 AS predicted,
           CASE WHEN h.action IS NULL THEN NULL ELSE h.action <> 'pass' END AS liked,
           m.id IS NOT NULL AS mutual
    FROM shown s
    LEFT JOIN swipe_history h
           ON h.swiper_id = s.user_id AND h.swiped_id = s.target_user_id
          AND h.updated_at >= s.created_at
    LEFT JOIN user_matches m
           ON m.user1_id = least(s.user_id, s.target_user_id)
          AND m.user2_id = greatest(s.user_id, s.target_user_id) AND m.status = 'mutual'
)
SELECT coalesce(algorithm_version, 'unknown') AS algorithm_version,
       count(*) AS served,
       count(liked) AS outcomes,
       count(*) FILTER (WHERE predicted = liked) AS correct,
       count(*) FILTER (WHERE predicted AND liked) AS true_positives,
       count(*) FILTER (WHERE predicted AND NOT liked) AS false_positives,
       count(*) FILTER (WHERE NOT predicted AND liked) AS false_negatives,
       count(*) FILTER (WHERE liked) AS likes,
       count(*) FILTER (WHERE mutual) AS mutual
FROM judged
GROUP BY 1
ORDER BY 1
"""


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def live_report(
    conn: asyncpg.Connection,
    *,
    days: float,
    decision: float,
    min_accuracy: float,
    min_outcomes: int,
) -> list[dict[str, Any]]:
    """One row per algorithm version: served, outcomes, accuracy, precision, recall, flag."""
    out = []
    for r in await conn.fetch(_REPORT, days, decision):
        tp, fp, fn = r["true_positives"], r["false_positives"], r["false_negatives"]
        accuracy = _ratio(r["correct"], r["outcomes"])
        judged = r["outcomes"] >= min_outcomes
        out.append(
            {
                "algorithm_version": r["algorithm_version"],
                "served": r["served"],
                "outcomes": r["outcomes"],
                "likes": r["likes"],
                "mutual": r["mutual"],
                "accuracy": accuracy,
                "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn),
                "mutual_rate": _ratio(r["mutual"], r["served"]),
                "flagged": bool(judged and accuracy is not None and accuracy < min_accuracy),
                "enough_outcomes": judged,
            }
        )
    return out
