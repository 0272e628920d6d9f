"""The platform's weighted compatibility score, per direction, and its explanation.

score(a -> b) is how well b fits what a wants, with a's weights; a pair is ranked by the
harmonic mean of both directions, so a match one side would never want ranks low.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

import numpy as np

from matching.core.domain.filters import person_distance_km
from matching.core.domain.geo import public_km_array
from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS

ACTIVITY_HALF_LIFE_DAYS = 14.0


@dataclass(frozen=True, slots=True)
class DirectedScore:
    score: float
    factors: dict[str, float]
    weights: dict[str, float]

    def contributions(self) -> dict[str, float]:
        return {f: self.weights[f] * self.factors[f] for f in FACTORS}


def effective_weights(defaults: Mapping[str, float], person: Person) -> dict[str, float]:
    """Service defaults overridden by the person's own weights, renormalised to sum 1."""
    weights = dict(defaults)
    weights.update(dict(person.prefs.weights))
    total = sum(weights.values())
    if total <= 0:
        return dict(defaults)
    return {f: weights[f] / total for f in FACTORS}


def activity_decay(days: float) -> float:
    """1.0 after no silence, halving every ACTIVITY_HALF_LIFE_DAYS (negative days count 0)."""
    return math.pow(0.5, max(0.0, days) / ACTIVITY_HALF_LIFE_DAYS)


def activity_decay_array(days: np.ndarray) -> np.ndarray:
    """activity_decay element-wise (a unit test pins the two together)."""
    out: np.ndarray = np.power(0.5, np.maximum(0.0, days) / ACTIVITY_HALF_LIFE_DAYS)
    return out


def activity_level(person: Person, now: datetime) -> float:
    """1.0 when active now, halving every ACTIVITY_HALF_LIFE_DAYS of silence."""
    return activity_decay((now - person.last_active_at).total_seconds() / 86_400)


def industry_aligned(a: Person, b: Person) -> bool:
    """b is in one of a's preferred industries, or (with none preferred) in a's own."""
    if a.prefs.industries:
        return b.industry in a.prefs.industries
    return a.industry is not None and a.industry == b.industry


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def proximity(distance_km: float | None, radius_km: float) -> float:
    """location_proximity: 1 under 1 km, 0 at the radius and beyond or when unknown; from the
    distance in whole km, so a score can never show a move smaller than a km."""
    return 0.0 if distance_km is None else max(0.0, 1.0 - math.floor(distance_km) / radius_km)


def proximity_array(distance_km: np.ndarray, radius_km: np.ndarray | float) -> np.ndarray:
    """proximity element-wise, NaN for unknown (a unit test pins the two together)."""
    known = np.nan_to_num(np.floor(distance_km))
    out: np.ndarray = np.where(np.isnan(distance_km), 0.0, np.maximum(0.0, 1.0 - known / radius_km))
    return out


def factors(
    a: Person,
    b: Person,
    similarity: float,
    now: datetime,
    default_distance_km: float,
) -> dict[str, float]:
    """Each factor in [0, 1] for the direction a -> b."""
    wanted = a.interests | a.prefs.interests
    distance = person_distance_km(a, b)
    radius = a.prefs.distance_km or default_distance_km
    act_a, act_b = activity_level(a, now), activity_level(b, now)
    return {
        "profile_similarity": min(1.0, max(0.0, similarity)),
        "interest_overlap": jaccard(wanted, b.interests),
        "location_proximity": proximity(distance, radius),
        "industry_alignment": 1.0 if industry_aligned(a, b) else 0.0,
        "activity_compatibility": act_b * (1.0 - 0.5 * abs(act_a - act_b)),
    }


def directed_score(
    a: Person,
    b: Person,
    similarity: float,
    now: datetime,
    default_weights: Mapping[str, float],
    default_distance_km: float,
) -> DirectedScore:
    values = factors(a, b, similarity, now, default_distance_km)
    weights = effective_weights(default_weights, a)
    score = sum(weights[f] * values[f] for f in FACTORS)
    return DirectedScore(min(1.0, max(0.0, score)), values, weights)


def harmonic_mean(x: float, y: float) -> float:
    return 0.0 if x <= 0 or y <= 0 else 2 * x * y / (x + y)


def primary_factors(score: DirectedScore, top: int = 2) -> list[str]:
    ranked = sorted(score.contributions().items(), key=lambda kv: kv[1], reverse=True)
    return [f for f, c in ranked[:top] if c > 0]


# -- the same rules over arrays: both directions of a few hundred pairs at once ---------------
# A unit test pins these to the scalar functions above (tests/unit/reranker_reference.py).


def _floats(people: Sequence[Person], get: Callable[[Person], float | None]) -> np.ndarray:
    return np.array([math.nan if (v := get(q)) is None else v for q in people], dtype=np.float64)


class PersonColumns:
    """What the weighted score reads of each person, one row each (NaN: unknown)."""

    def __init__(self, people: Sequence[Person], default_weights: Mapping[str, float]) -> None:
        self.people = list(people)
        self.lat = _floats(people, lambda q: q.latitude)
        self.lon = _floats(people, lambda q: q.longitude)
        # `or`, as `factors` reads it: no radius (or 0) is the service's default radius
        self.radius = _floats(people, lambda q: q.prefs.distance_km or None)
        self.last_s = _floats(people, lambda q: q.last_active_at.timestamp())
        cache: dict[tuple[tuple[str, float], ...], list[float]] = {}
        for q in people:
            if q.prefs.weights not in cache:
                w = effective_weights(default_weights, q)
                cache[q.prefs.weights] = [w[f] for f in FACTORS]
        self.weights = np.array([cache[q.prefs.weights] for q in people]).reshape(-1, 5)

    def repeat(self, n: int) -> Self:
        """The first person, n times (a requester against n candidates)."""
        out = object.__new__(type(self))
        for name, value in vars(self).items():
            setattr(out, name, [value[0]] * n if name == "people" else np.repeat(value[:1], n, 0))
        return out

    def activity(self, now_s: np.ndarray | float) -> np.ndarray:
        """activity_level of each person at `now_s` (POSIX seconds, one or one per row)."""
        return activity_decay_array((now_s - self.last_s) / 86_400)


def pairwise(
    x: PersonColumns, y: PersonColumns, fn: Callable[[Person, Person], float]
) -> np.ndarray:
    """fn(x_i, y_i) for each row: the set rules, which have no array form."""
    pairs = zip(x.people, y.people, strict=True)
    return np.fromiter((fn(p, q) for p, q in pairs), dtype=np.float64, count=len(x.people))


def factor_matrix(
    x: PersonColumns,
    y: PersonColumns,
    similarity: np.ndarray,
    distance_km: np.ndarray,
    activity: tuple[np.ndarray, np.ndarray],
    default_distance_km: float,
) -> np.ndarray:
    """`factors` for each row's x -> y, as an (n, 5) array in FACTORS order; `distance_km`
    is public_km between them (NaN: unknown), `activity` x's and y's activity levels."""
    act_x, act_y = activity
    radius = np.where(np.isnan(x.radius), default_distance_km, x.radius)
    columns = {
        "profile_similarity": np.clip(similarity, 0.0, 1.0),
        "interest_overlap": pairwise(
            x, y, lambda p, q: jaccard(p.interests | p.prefs.interests, q.interests)
        ),
        "location_proximity": proximity_array(distance_km, radius),
        "industry_alignment": pairwise(x, y, industry_aligned),
        "activity_compatibility": act_y * (1.0 - 0.5 * np.abs(act_x - act_y)),
    }
    return np.column_stack([columns[f] for f in FACTORS])


def directed_scores(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """directed_score of each row: its factors (n, 5) by its decider's weights (n, 5)."""
    out: np.ndarray = np.clip((values * weights).sum(axis=1), 0.0, 1.0)
    return out


def harmonic_means(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """harmonic_mean element-wise."""
    both = (x > 0) & (y > 0)
    out: np.ndarray = np.divide(2 * x * y, x + y, out=np.zeros_like(x), where=both)
    return out


@dataclass(frozen=True, slots=True)
class PairScores:
    """Both directions of n pairs x -> y by the weighted score, one row per pair."""

    ours: np.ndarray  # (n, 5) factors of x -> y, FACTORS order
    our_weights: np.ndarray  # (n, 5) x's effective weights
    our_score: np.ndarray  # how well y fits what x wants
    their_score: np.ndarray  # how well x fits what y wants
    score: np.ndarray  # their harmonic mean
    distance_km: np.ndarray  # public_km between them, NaN when either location is unknown

    def directed(self, i: int) -> DirectedScore:
        """Row i's x -> y as the scalar `directed_score` gives it."""
        factors = dict(zip(FACTORS, self.ours[i].tolist(), strict=True))
        weights = dict(zip(FACTORS, self.our_weights[i].tolist(), strict=True))
        return DirectedScore(float(self.our_score[i]), factors, weights)


def score_pairs(
    x: PersonColumns,
    y: PersonColumns,
    similarity: np.ndarray,
    now_s: np.ndarray | float,
    default_distance_km: float,
) -> PairScores:
    """Both directions of each row's pair; the distance and activities computed once."""
    distance = public_km_array(x.lat, x.lon, y.lat, y.lon)
    act_x, act_y = x.activity(now_s), y.activity(now_s)
    ours = factor_matrix(x, y, similarity, distance, (act_x, act_y), default_distance_km)
    theirs = factor_matrix(y, x, similarity, distance, (act_y, act_x), default_distance_km)
    our_score, their_score = directed_scores(ours, x.weights), directed_scores(theirs, y.weights)
    score = harmonic_means(our_score, their_score)
    return PairScores(ours, x.weights, our_score, their_score, score, distance)
