"""Pair features for one direction, a -> b ("will a like b?"), from both people, their
embedding similarity, preferences and swipe statistics. Pure functions, no I/O.

`pair_matrix` computes the rows with numpy for many candidates of one person (or one
requester state per row, as training passes people as of each swipe), on top of the rules
in matching.core.domain (age range, distance, industry, activity); both training and serving
call it. A one-pair reference in the unit tests pins it to matching.core.domain.scoring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np

from matching.core.domain.filters import within_age_array
from matching.core.domain.geo import public_km_array
from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS, JOB_LEVELS
from matching.core.domain.scoring import (
    PersonColumns,
    directed_scores,
    factor_matrix,
    pairwise,
)
from matching.core.ml import collab as collab_signals
from matching.core.settings import MatchingSettings

_LEVEL: dict[str, float] = {level: float(i) for i, level in enumerate(JOB_LEVELS)}

_CONTENT = (
    "similarity",
    "interest_jaccard",
    "shared_interests",
    "wanted_interests_b_has",  # a's preference interests that b has
    "wanted_interests_a_has",  # b's preference interests that a has
    "goal_overlap",
    "wanted_goals_b_has",
    "language_overlap",
    "distance_km",
    "distance_missing",
    "b_in_age_range",  # 1 also when a has no such preference
    "b_in_distance",
    "b_in_industries",
    "b_in_job_levels",
    "age_gap",  # b's age minus a's (0 when either is unknown)
    "age_missing",
    "same_industry",
    "job_level_gap",  # b's level minus a's, ordinal
    "job_level_missing",
    "company_size_match",  # b's size in a's preferred sizes, or the same size as a's
    "activity_a",
    "activity_b",
)
_SCORES = tuple(f"{d}_{f}" for d in ("ab", "ba") for f in (*FACTORS, "score"))
_STATS = (
    "a_like_rate_given",  # a's selectivity: how often a likes, smoothed
    "a_like_rate_received",
    "b_like_rate_given",
    "b_like_rate_received",  # b's popularity: how often b is liked, smoothed
    "a_swipes_given",  # log1p of the counts
    "a_swipes_received",
    "b_swipes_given",
    "b_swipes_received",
)
PAIR_FEATURES: tuple[str, ...] = _CONTENT + _SCORES + _STATS + collab_signals.FEATURES
# (rows of `collab.Factors.side` for the a side, one or one per candidate; for the b side)
CollabSides = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class UserStats:
    """One person's swipe counts as of a cutoff; rates are pulled towards the prior."""

    likes_given: int = 0
    swipes_given: int = 0
    likes_received: int = 0
    swipes_received: int = 0
    prior_rate: float = 0.5  # the population's like rate
    prior_strength: float = 10.0  # how many swipes' worth the prior counts

    @property
    def like_rate_given(self) -> float:
        return self._smoothed(self.likes_given, self.swipes_given)

    @property
    def like_rate_received(self) -> float:
        return self._smoothed(self.likes_received, self.swipes_received)

    def _smoothed(self, likes: int, swipes: int) -> float:
        k = self.prior_strength
        return (likes + self.prior_rate * k) / (swipes + k)

    def row(self) -> tuple[float, float, float, float]:
        return (
            self.like_rate_given,
            self.like_rate_received,
            math.log1p(self.swipes_given),
            math.log1p(self.swipes_received),
        )


@dataclass(frozen=True, slots=True)
class StatsTable:
    """Everyone's UserStats as of a cutoff: (likes_given, swipes_given, likes_received,
    swipes_received) per user; unknown users get the prior alone."""

    counts: Mapping[UUID, tuple[int, int, int, int]]
    prior_rate: float
    prior_strength: float

    def get(self, user_id: UUID) -> UserStats:
        c = self.counts.get(user_id, (0, 0, 0, 0))
        return UserStats(*c, prior_rate=self.prior_rate, prior_strength=self.prior_strength)

    @classmethod
    def from_swipes(
        cls, swipes: Iterable[tuple[UUID, UUID, bool]], prior_strength: float
    ) -> StatsTable:
        """From (swiper, swiped, liked) triples."""
        acc: dict[UUID, list[int]] = {}
        for swiper, swiped, liked in swipes:
            given, received = acc.setdefault(swiper, [0] * 4), acc.setdefault(swiped, [0] * 4)
            given[0] += liked
            given[1] += 1
            received[2] += liked
            received[3] += 1
        return cls.from_counts(
            {u: (c[0], c[1], c[2], c[3]) for u, c in acc.items()}, prior_strength
        )

    @classmethod
    def from_counts(
        cls, counts: Mapping[UUID, tuple[int, int, int, int]], prior_strength: float
    ) -> StatsTable:
        """From each user's counts (summed in the database by the Ray pair dataset); the prior
        is the like rate of all the swipes counted."""
        likes = sum(c[0] for c in counts.values())
        total = sum(c[1] for c in counts.values())
        return cls(dict(counts), likes / total if total else 0.5, prior_strength)


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """How the weighted-score features are computed; saved with a model so serving agrees."""

    weights: tuple[tuple[str, float], ...]
    default_distance_km: float

    @classmethod
    def from_settings(cls, settings: MatchingSettings | None = None) -> FeatureParams:
        s = settings or MatchingSettings()
        return cls(tuple(s.weights.items()), s.default_distance_km)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureParams:
        weights = data["weights"]
        return cls(tuple((f, float(weights[f])) for f in FACTORS), float(data["default_km"]))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "default_km": self.default_distance_km}


def _level(person: Person) -> float | None:
    return None if person.job_level is None else _LEVEL.get(person.job_level)


def _size_match(a: Person, b: Person) -> bool:
    if a.prefs.company_sizes:
        return b.company_size in a.prefs.company_sizes
    return a.company_size is not None and a.company_size == b.company_size


def pair_matrix(
    a: Person | Sequence[Person],
    candidates: Sequence[Person],
    similarities: Sequence[float] | np.ndarray,
    stats_a: UserStats | Sequence[UserStats],
    stats_b: Sequence[UserStats],
    now: datetime | Sequence[datetime],
    params: FeatureParams | None = None,
    *,
    reverse: bool = False,
    collab: CollabSides | None = None,
) -> np.ndarray:
    """Rows of PAIR_FEATURES, one per candidate b, for a -> b (b -> a with `reverse`).

    `a`, `stats_a` and `now` may be one value or one per candidate (training passes each
    swipe's time and both people and stats as they were then); `collab` None: nobody has
    collaborative history (the cold-start values)."""
    me, them, args = _prepare(a, candidates, similarities, stats_a, stats_b, now, params)
    c_me, c_them = _collab(collab, len(candidates))
    if reverse:
        return _rows(them, me, args, (c_them, c_me), swap=True)
    return _rows(me, them, args, (c_me, c_them))


def pair_matrices(
    a: Person | Sequence[Person],
    candidates: Sequence[Person],
    similarities: Sequence[float] | np.ndarray,
    stats_a: UserStats | Sequence[UserStats],
    stats_b: Sequence[UserStats],
    now: datetime | Sequence[datetime],
    params: FeatureParams | None = None,
    collab: CollabSides | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Both directions at once: (rows for a -> b, rows for b -> a)."""
    me, them, args = _prepare(a, candidates, similarities, stats_a, stats_b, now, params)
    c_me, c_them = _collab(collab, len(candidates))
    return (
        _rows(me, them, args, (c_me, c_them)),
        _rows(them, me, args, (c_them, c_me), swap=True),
    )


def _collab(given: CollabSides | None, n: int) -> CollabSides:
    """Both sides' collaborative rows, n each (one requester row is repeated)."""
    if given is None:
        cold = collab_signals.cold_sides(n)
        return cold, cold
    mine, theirs = given
    if len(mine) == 1 and n != 1:
        mine = np.repeat(mine, n, axis=0)
    if len(mine) != n or len(theirs) != n:
        raise ValueError(f"collaborative rows {len(mine)}, {len(theirs)} for {n} candidates")
    return mine, theirs


def without_collab(rows: np.ndarray) -> np.ndarray:
    """`rows` as if nobody had collaborative history (the model variant without them)."""
    out = rows.copy()
    cold = collab_signals.pair_columns(*_collab(None, len(rows)))
    for name, values in cold.items():
        out[:, PAIR_FEATURES.index(name)] = values
    return out


def _prepare(
    a: Person | Sequence[Person],
    candidates: Sequence[Person],
    similarities: Sequence[float] | np.ndarray,
    stats_a: UserStats | Sequence[UserStats],
    stats_b: Sequence[UserStats],
    now: datetime | Sequence[datetime],
    params: FeatureParams | None,
) -> tuple[_Side, _Side, _Args]:
    n = len(candidates)
    if not isinstance(a, Person) and len(a) != n:
        raise ValueError(f"{len(a)} requesters for {n} candidates")
    p = params or FeatureParams.from_settings()
    sims = np.asarray(similarities, dtype=np.float64).reshape(n)
    times = [now] * n if isinstance(now, datetime) else list(now)
    now_s = np.array([t.timestamp() for t in times], dtype=np.float64).reshape(n)
    own = [stats_a] * n if isinstance(stats_a, UserStats) else list(stats_a)
    s_me = np.array([s.row() for s in own], dtype=np.float64).reshape(n, 4)
    s_them = np.array([s.row() for s in stats_b], dtype=np.float64).reshape(n, 4)
    me = _Side([a], p).repeat(n) if isinstance(a, Person) else _Side(a, p)
    them = _Side(candidates, p)
    return me, them, (sims, now_s, s_me, s_them, p.default_distance_km)


def _floats(people: Sequence[Person], get: Callable[[Person], float | None]) -> np.ndarray:
    return np.array([math.nan if (v := get(q)) is None else v for q in people], dtype=np.float64)


class _Side(PersonColumns):
    """The numeric attributes of the people on one side of the pairs, one row each."""

    def __init__(self, people: Sequence[Person], params: FeatureParams) -> None:
        super().__init__(people, dict(params.weights))
        self.age = _floats(people, lambda q: q.age)
        self.level = _floats(people, _level)
        self.age_min = _floats(people, lambda q: q.prefs.age_min)
        self.age_max = _floats(people, lambda q: q.prefs.age_max)


_Args = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]


def _rows(
    x: _Side, y: _Side, args: _Args, collab: CollabSides, *, swap: bool = False
) -> np.ndarray:
    """PAIR_FEATURES for x -> y: x decides (the "a" of the names), y is decided on; `args`
    are `_prepare`'s, whose stats are x's then y's unless `swap`."""
    sims, now_s, s_first, s_second, km = args
    sx, sy = (s_second, s_first) if swap else (s_first, s_second)
    cols: dict[str, np.ndarray] = {"similarity": sims}
    shared = pairwise(x, y, lambda p, q: len(p.interests & q.interests))
    union = pairwise(x, y, lambda p, q: len(p.interests | q.interests))
    cols["interest_jaccard"] = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
    cols["shared_interests"] = shared
    cols["wanted_interests_b_has"] = pairwise(
        x, y, lambda p, q: len(p.prefs.interests & q.interests)
    )
    cols["wanted_interests_a_has"] = pairwise(
        x, y, lambda p, q: len(q.prefs.interests & p.interests)
    )
    cols["goal_overlap"] = pairwise(x, y, lambda p, q: len(p.networking_goals & q.networking_goals))
    cols["wanted_goals_b_has"] = pairwise(
        x, y, lambda p, q: len(p.prefs.networking_goals & q.networking_goals)
    )
    cols["language_overlap"] = pairwise(x, y, lambda p, q: len(p.languages & q.languages))
    dist = public_km_array(x.lat, x.lon, y.lat, y.lon)  # as others know it: whole km
    missing = np.isnan(dist)
    cols["distance_km"] = np.where(missing, 0.0, dist)
    cols["distance_missing"] = missing
    cols["b_in_age_range"] = within_age_array(x.age_min, x.age_max, y.age)
    cols["b_in_distance"] = np.isnan(x.radius) | np.isnan(x.lat) | (dist <= x.radius)
    cols["b_in_industries"] = pairwise(
        x, y, lambda p, q: not p.prefs.industries or q.industry in p.prefs.industries
    )
    cols["b_in_job_levels"] = pairwise(
        x, y, lambda p, q: not p.prefs.job_levels or q.job_level in p.prefs.job_levels
    )
    for name, xv, yv in (("age", x.age, y.age), ("job_level", x.level, y.level)):
        unknown = np.isnan(xv) | np.isnan(yv)
        cols[f"{name}_gap"] = np.where(unknown, 0.0, yv - xv)
        cols[f"{name}_missing"] = unknown
    cols["same_industry"] = pairwise(
        x, y, lambda p, q: p.industry is not None and p.industry == q.industry
    )
    cols["company_size_match"] = pairwise(x, y, _size_match)
    act_x, act_y = x.activity(now_s), y.activity(now_s)
    cols["activity_a"], cols["activity_b"] = act_x, act_y
    for prefix, values, w in (
        ("ab", factor_matrix(x, y, sims, dist, (act_x, act_y), km), x.weights),
        ("ba", factor_matrix(y, x, sims, dist, (act_y, act_x), km), y.weights),
    ):
        cols.update({f"{prefix}_{f}": values[:, j] for j, f in enumerate(FACTORS)})
        cols[f"{prefix}_score"] = directed_scores(values, w)
    stats = (sx[:, 0], sx[:, 1], sy[:, 0], sy[:, 1], sx[:, 2], sx[:, 3], sy[:, 2], sy[:, 3])
    cols.update(zip(_STATS, stats, strict=True))
    cols.update(collab_signals.pair_columns(*collab))
    return np.column_stack([np.asarray(cols[f], dtype=np.float64) for f in PAIR_FEATURES])
