"""The one ranking of a request over the catalogue, used by HTTP and Kafka alike.

Hard filters first, each a vectorised mask over every provider (counted in order, and each
one's relaxation counted apart), then five soft scores in [0, 1] combined with the settings'
weights; only providers at MIN_MATCH_SCORE or above are returned, best first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from matching.core.settings import RequestsSettings
from matching.requests import availability
from matching.requests.catalogue import Catalogue, session_bit
from matching.requests.explain import explain, relaxations
from matching.requests.schemas import MatchRequest, minutes
from matching.requests.skills import level_index, same_skill

# A rating is averaged with this many reviews at the prior: 5.0 from one review ranks below
# 4.8 from two hundred.
RATING_PRIOR, RATING_PRIOR_N = 3.5, 10.0
YEARS_FULL, SESSIONS_FULL = 10.0, 500.0
FILTERS = (
    "inactive",
    "session_type",
    "currency",
    "budget",
    "capacity",
    "languages",
    "availability",
    "mandatory_skills",
)


@dataclass(frozen=True, slots=True)
class Query:
    """A request with what the ranking needs embedded: its skills' and its text's vectors."""

    request: MatchRequest
    skills: list[str]  # normal names, in skills_required order
    skill_vectors: np.ndarray
    text_vector: np.ndarray
    now: datetime


@dataclass(frozen=True, slots=True)
class Ranked:
    matches: list[dict[str, object]]
    filtered_out: dict[str, int]
    relaxations: list[dict[str, object]]
    total: int


@dataclass(frozen=True, slots=True)
class SkillFit:
    best: np.ndarray  # (m, N): the best matching entry's quality, 0 where none matches
    years: np.ndarray  # (m, N): that skill's years


def skill_fit(cat: Catalogue, q: Query, threshold: float) -> SkillFit:
    """Per wanted skill and provider: how well their best same-named skill fits."""
    needs = q.request.skills_required
    m, n = len(needs), len(cat)
    best, years = np.zeros((m, n)), np.zeros((m, n))
    if m == 0 or cat.entry_row.size == 0:
        return SkillFit(best, years)
    same = same_skill(q.skills, q.skill_vectors, cat.vocab, cat.vocab_vectors, threshold)
    ok = same[:, cat.entry_skill]
    wanted = np.array([level_index(s.level) for s in needs])[:, None]
    deficit = np.clip(wanted - cat.entry_level[None, :], 0, None)
    quality = ok * (1.0 - 0.25 * deficit) * (0.95 + 0.05 * cat.entry_certified)
    for j in range(m):
        np.maximum.at(best[j], cat.entry_row, quality[j])
        np.maximum.at(years[j], cat.entry_row, ok[j] * cat.entry_years)
    return SkillFit(best, years)


def reference_rates(cat: Catalogue, rates: Mapping[str, float]) -> np.ndarray:
    """Each provider's rate in the reference currency; NaN where the currency is unknown."""
    fx = np.array([rates.get(c, np.nan) for c in cat.currency], dtype=np.float64)
    return cat.rate * fx


def hard_filters(
    cat: Catalogue, q: Query, fit: SkillFit, bins: np.ndarray, rates: Mapping[str, float]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(True where each filter removes the provider, availability fraction, price ratio)."""
    r = q.request
    same_currency = cat.currency == r.budget.currency
    fx = rates.get(r.budget.currency)
    ref = reference_rates(cat, rates)
    if fx is None:  # the budget's currency is unknown: only its own currency compares
        ratio = np.where(same_currency, cat.rate / r.budget.max_hourly_rate, np.nan)
    else:
        ratio = np.where(
            same_currency,
            cat.rate / r.budget.max_hourly_rate,
            ref / (fx * r.budget.max_hourly_rate),
        )
    overlap = availability.overlap_fraction(cat.week(availability.window_start(q.now)), bins)
    langs = [x.casefold() for x in r.languages or []]
    speaks = np.ones(len(cat), dtype=bool)
    for lang in langs:
        col = cat.language_index.get(lang)
        speaks &= cat.languages[:, col] if col is not None else False
    mandatory = [j for j, s in enumerate(r.skills_required) if s.mandatory]
    fails = {
        "inactive": ~cat.active,
        "session_type": (cat.session_bits & session_bit(r.session_type)) == 0,
        "currency": np.isnan(ratio),
        "budget": ~np.isnan(ratio) & (ratio > 1.0 + 1e-9),
        "capacity": cat.capacity < r.participants_count,
        "languages": ~speaks,
        "availability": overlap <= 0.0,
        "mandatory_skills": (fit.best[mandatory] <= 0).any(axis=0)
        if mandatory
        else np.zeros(len(cat), dtype=bool),
    }
    return fails, overlap, np.nan_to_num(ratio, nan=np.inf)


def request_bins(q: Query) -> np.ndarray:
    a = q.request.availability
    slots = [(minutes(s.start), minutes(s.end)) for s in a.time_slots]
    weekly = availability.request_slots(a.days_of_week, slots, a.timezone)
    return availability.bins(weekly, availability.window_start(q.now))


def soft_scores(
    cat: Catalogue,
    q: Query,
    fit: SkillFit,
    overlap: np.ndarray,
    ratio: np.ndarray,
    relevance: np.ndarray,
) -> dict[str, np.ndarray]:
    """The five factor scores of every provider, each in [0, 1]."""
    needs = q.request.skills_required
    if needs:
        w = np.array([s.weight for s in needs])
        skill = (w @ fit.best) / w.sum()
        years = (w @ fit.years) / w.sum()
    else:  # nothing named: how close their text is to the request's
        skill = np.clip(relevance / 0.6, 0.0, 1.0)
        years = cat.max_years
    experience = (
        0.5 * np.minimum(years / YEARS_FULL, 1.0)
        + 0.25 * np.minimum(np.log1p(cat.sessions) / np.log1p(SESSIONS_FULL), 1.0)
        + 0.25 * cat.success
    )
    bayes = (RATING_PRIOR * RATING_PRIOR_N + cat.rating_avg * cat.rating_n) / (
        RATING_PRIOR_N + cat.rating_n
    )
    return {
        "skill_match": np.clip(skill, 0.0, 1.0),
        "experience": np.clip(experience, 0.0, 1.0),
        "rating": np.clip(bayes / 5.0, 0.0, 1.0),
        "availability": np.clip(overlap, 0.0, 1.0),
        "price": np.clip(1.0 - 0.5 * ratio, 0.0, 1.0),
    }


def rank(
    cat: Catalogue,
    q: Query,
    settings: RequestsSettings,
    weights: Mapping[str, float] | None = None,
) -> Ranked:
    """Filter, score and explain; the top `limit` (at most MAX_MATCHES_PER_REQUEST).
    `weights`: a promoted weighting's, else the settings'."""
    weights = weights or settings.weights
    fit = skill_fit(cat, q, settings.skill_similarity)
    fails, overlap, ratio = hard_filters(cat, q, fit, request_bins(q), settings.rates)
    passing = ~np.any(np.stack(list(fails.values())), axis=0) if len(cat) else np.zeros(0, bool)
    relevance = _relevance(cat, q, passing)
    factors = soft_scores(cat, q, fit, overlap, ratio, relevance)
    total = np.zeros(len(cat))
    for name, values in factors.items():
        total += weights[name] * values
    keep = passing & (total >= settings.min_match_score - 1e-9)
    order = sorted(
        np.flatnonzero(keep), key=lambda row: (-round(float(total[row]), 6), -relevance[row])
    )
    limit = min(q.request.limit or settings.max_matches, settings.max_matches)
    chosen = order[:limit]
    matches = [explain(cat, q, fit, factors, total, int(row), settings) for row in chosen]
    filtered = _counts(fails)
    filtered["below_min_score"] = int(np.count_nonzero(passing & ~keep))
    relax = relaxations(cat, q, fails, ratio, settings.rates) if len(chosen) < limit else []
    return Ranked(matches, filtered, relax, len(cat))


def _counts(fails: dict[str, np.ndarray]) -> dict[str, int]:
    """How many each filter removed of those the filters before it let through."""
    counts: dict[str, int] = {}
    alive: np.ndarray | None = None
    for name in FILTERS:
        removed = fails[name] if alive is None else fails[name] & alive
        counts[name] = int(np.count_nonzero(removed))
        alive = ~fails[name] if alive is None else alive & ~fails[name]
    return counts


def _relevance(cat: Catalogue, q: Query, passing: np.ndarray) -> np.ndarray:
    """Cosine of the request's text to each passing provider's, from the provider index."""
    out = np.zeros(len(cat))
    n = int(np.count_nonzero(passing))
    if n:
        rows, sims = cat.index.search(q.text_vector, n, passing)
        out[rows] = sims
    return out
