"""The one-pair reference for matching.core.ml.pairs: each feature from the scalar domain
rules (matching.core.domain), so a unit test can pin the vectorised rows to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from matching.core.domain.filters import person_distance_km, within_age
from matching.core.domain.person import Person
from matching.core.domain.profile import JOB_LEVELS
from matching.core.domain.scoring import activity_level, directed_score, jaccard
from matching.core.ml.collab import FEATURES as COLLAB
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, UserStats

_STATS = PAIR_FEATURES[-8 - len(COLLAB) : -len(COLLAB)]


def _level(person: Person) -> float | None:
    level = person.job_level
    return None if level is None or level not in JOB_LEVELS else float(JOB_LEVELS.index(level))


def _gap(x: float | None, y: float | None) -> float:
    return 0.0 if x is None or y is None else y - x


def _size_match(a: Person, b: Person) -> bool:
    if a.prefs.company_sizes:
        return b.company_size in a.prefs.company_sizes
    return a.company_size is not None and a.company_size == b.company_size


def _content(a: Person, b: Person, similarity: float, now: datetime) -> dict[str, float]:
    distance = person_distance_km(a, b)
    radius = a.prefs.distance_km
    return {
        "similarity": similarity,
        "interest_jaccard": jaccard(a.interests, b.interests),
        "shared_interests": len(a.interests & b.interests),
        "wanted_interests_b_has": len(a.prefs.interests & b.interests),
        "wanted_interests_a_has": len(b.prefs.interests & a.interests),
        "goal_overlap": len(a.networking_goals & b.networking_goals),
        "wanted_goals_b_has": len(a.prefs.networking_goals & b.networking_goals),
        "language_overlap": len(a.languages & b.languages),
        "distance_km": distance or 0.0,
        "distance_missing": distance is None,
        "b_in_age_range": within_age(a, b),
        "b_in_distance": radius is None
        or not a.has_location
        or (distance is not None and distance <= radius),
        "b_in_industries": not a.prefs.industries or b.industry in a.prefs.industries,
        "b_in_job_levels": not a.prefs.job_levels or b.job_level in a.prefs.job_levels,
        "age_gap": _gap(a.age, b.age),
        "age_missing": a.age is None or b.age is None,
        "same_industry": a.industry is not None and a.industry == b.industry,
        "job_level_gap": _gap(_level(a), _level(b)),
        "job_level_missing": _level(a) is None or _level(b) is None,
        "company_size_match": _size_match(a, b),
        "activity_a": activity_level(a, now),
        "activity_b": activity_level(b, now),
    }


def pair_features(
    a: Person,
    b: Person,
    similarity: float,
    stats_a: UserStats,
    stats_b: UserStats,
    now: datetime,
    params: FeatureParams | None = None,
    collab: tuple[Sequence[float], Sequence[float]] | None = None,
) -> np.ndarray:
    """One row of PAIR_FEATURES for the direction a -> b; `collab`: a's and b's rows of
    [taste, appeal, cold] (None: nobody has collaborative history)."""
    p = params or FeatureParams.from_settings()
    weights, km = dict(p.weights), p.default_distance_km
    values = _content(a, b, similarity, now)
    for prefix, x, y in (("ab", a, b), ("ba", b, a)):
        d = directed_score(x, y, similarity, now, weights, km)
        values.update({f"{prefix}_{f}": v for f, v in d.factors.items()})
        values[f"{prefix}_score"] = d.score
    ra, rb = stats_a.row(), stats_b.row()
    values.update(
        zip(_STATS, (ra[0], ra[1], rb[0], rb[1], ra[2], ra[3], rb[2], rb[3]), strict=True)
    )
    values.update(_collab(collab))
    return np.array([float(values[f]) for f in PAIR_FEATURES])


def _collab(given: tuple[Sequence[float], Sequence[float]] | None) -> dict[str, float]:
    if given is None:
        return {"collab_ab": 0.0, "collab_ba": 0.0, "collab_a_cold": 1.0, "collab_b_cold": 1.0}
    a, b = given
    r = (len(a) - 1) // 2
    return {
        "collab_ab": sum(a[i] * b[r + i] for i in range(r)),
        "collab_ba": sum(b[i] * a[r + i] for i in range(r)),
        "collab_a_cold": a[2 * r],
        "collab_b_cold": b[2 * r],
    }
