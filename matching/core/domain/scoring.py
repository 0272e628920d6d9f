"""The platform's weighted compatibility score, per direction, and its explanation.

score(a -> b) is how well b fits what a wants, with a's weights; a pair is ranked by the
harmonic mean of both directions, so a match one side would never want ranks low.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from matching.core.domain.filters import person_distance_km
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
