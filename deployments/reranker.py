"""Reranker: two-sided compatibility of retrieved candidates, with reasons a person can read."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from matching.core.domain import prompt as prompt_terms
from matching.core.domain.exposure import damp_exposure
from matching.core.domain.geo import public_km_array
from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS
from matching.core.domain.scoring import (
    DirectedScore,
    PairScores,
    PersonColumns,
    primary_factors,
    proximity_array,
    score_pairs,
)
from matching.core.domain.search_terms import Group, named_hits
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import MatchingSettings, Settings

if TYPE_CHECKING:
    from matching.core.ml.model import CompatibilityModel

log = logging.getLogger(__name__)
WEIGHTED_VERSION = "weighted-v1"
PROMPT_WEIGHT = 0.6  # in search, how much the prompt counts against compatibility
EVENT_BOOST, EVENT_BOOST_MAX = 0.05, 0.1  # per event both attend; visible in the reasons


@dataclass(frozen=True, slots=True)
class PromptQuery:
    """What a search ranks against besides the candidates' similarity to the prompt."""

    text: str
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    named: tuple[Group, ...] = ()  # soft terms the prompt names: more of them ranks first


@dataclass(slots=True)
class RankedMatch:
    user_id: str
    name: str
    headline: str | None
    compatibility_score: float
    score_breakdown: dict[str, float]
    mutual: dict[str, float] | None
    reasons: dict[str, Any]
    algorithm_version: str
    prompt_similarity: float | None = None
    sort_key: float = field(default=0.0, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """What `dataclasses.asdict` gives, without its deep copies (~0.2 ms a match): a
        match's dicts are built for it alone and never changed once it is returned."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class _Live:
    """What a ranking reads of the configuration; `reconfigure` swaps it whole, so a ranking
    running in a worker thread never sees half a swap."""

    weights: dict[str, float]
    weighted_version: str
    model: CompatibilityModel | None = None
    model_version: str | None = None

    @property
    def version(self) -> str:
        return self.model.algorithm_version if self.model is not None else self.weighted_version


class Reranker:
    """The weighted score, or a trained two-sided model from the registry (`reconfigure`).

    With a model, discovery ranks by the chance of a mutual match, P(a likes b) x P(b likes
    a); the per-factor breakdown and the reasons still come from the weighted factors.
    Candidates are scored in arrays; matches and reasons are built only for those returned.
    Ranking methods are plain `def`: Serve runs them in its thread pool, LocalStage in a
    worker thread, so a ranking never holds the replica's event loop.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env()
        self._settings: MatchingSettings = settings.matching
        self._registry_settings = settings  # where reconfigure() finds model versions
        self._live = _Live(dict(self._settings.weights), WEIGHTED_VERSION)
        self._refused: dict[str, Any] | None = None  # the last model refused, and why

    @property
    def version(self) -> str:
        return self._live.version

    @property
    def exposure_damping(self) -> float:
        return self._settings.exposure_damping

    def reconfigure(self, config: dict[str, Any]) -> None:
        """user_config: {"weights": {factor: w}} swaps the default weights;
        {"model_version": V | None} loads model V from the registry (None: weighted only).

        The new model is loaded completely before it replaces the old one, so requests in
        flight finish on the old one and no request sees half a swap.
        """
        live = self._live
        weights = config.get("weights")
        if weights:
            unknown = set(weights) - set(FACTORS)
            if unknown:
                raise ValueError(f"unknown factors in weights: {sorted(unknown)}")
            live = replace(
                live,
                weights={f: float(weights.get(f, 0.0)) for f in FACTORS},
                weighted_version=str(config.get("version", f"{WEIGHTED_VERSION}-custom")),
            )
        if "model_version" in config and config["model_version"] != live.model_version:
            live = self._swap_model(live, config["model_version"])
        self._live = live

    def _swap_model(self, live: _Live, wanted: str | None) -> _Live:
        """`live` serving model `wanted` (None: none); a version whose files do not match
        their manifest's sha256 is refused: logged, shown in info(), the current one kept."""
        model = None
        if wanted is not None:
            from matching.core.ml.artifacts import ArtifactMismatch
            from matching.core.ml.model import CompatibilityModel
            from matching.core.ml.registry import Registry

            registry = Registry.from_settings(self._registry_settings)
            try:  # the model and the collaborative factors it was trained with
                model = CompatibilityModel.from_registry(registry, str(wanted))
            except ArtifactMismatch as exc:
                log.error("refusing model %s, serving %s: %s", wanted, live.version, exc)
                self._refused = {"model_version": wanted, "reason": str(exc)}
                return live
        self._refused = None
        return replace(live, model=model, model_version=wanted)

    def info(self) -> dict[str, Any]:
        live = self._live
        out: dict[str, Any] = {"version": live.version, "kind": "weighted"}
        if live.model is not None:
            out = {**out, "kind": "learned", "model_version": live.model_version}
        out["weights"] = live.weights
        if self._refused is not None:
            out["refused"] = self._refused
        return out

    def rank(
        self,
        requester: Person,
        candidates: list[Candidate],
        limit: int,
        shared_events: dict[str, list[str]] | None = None,
    ) -> list[RankedMatch]:
        """Discovery: both directions scored, ranked by their harmonic mean; people going
        to the same events (`shared_events`: user id -> event names) get a small boost."""
        if not candidates or limit <= 0:
            return []
        live, now = self._live, datetime.now(UTC)
        people = [c.person for c in candidates]
        sims = np.array([c.similarity for c in candidates], dtype=np.float64)
        s = self._scores(live, requester, people, sims, now)
        shown, key = s.score, s.score
        probs = _probabilities(live.model, requester, people, sims, now)
        if probs is not None and live.model is not None:
            key = probs[0] * probs[1]  # with_probabilities' rule, in arrays
            shown = np.sqrt(key)
            exposure = live.model.exposure(people)  # the final step: fair exposure
            key = damp_exposure(key, exposure, self._settings.exposure_damping)
        events = _events_of(people, shared_events or {})
        bonus = np.zeros(len(people))
        for i, names in events.items():
            bonus[i] = event_bonus(len(names))
        out = []
        for i in self._best(shown, bonus, key + bonus, people, limit):
            match = _weighted_at(requester, people[i], s, i, live.weighted_version)
            if probs is not None:
                with_probabilities(match, float(probs[0][i]), float(probs[1][i]), live.version)
                match.sort_key = float(key[i])  # damped
            boost(match, events.get(i, []))
            out.append(match)
        return out

    def score_pair(self, a: Person, candidate: Candidate) -> RankedMatch:
        """One pair, both directions, no threshold: the score a new match is stored with."""
        live, now = self._live, datetime.now(UTC)
        sims = np.array([candidate.similarity], dtype=np.float64)
        s = self._scores(live, a, [candidate.person], sims, now)
        match = _weighted_at(a, candidate.person, s, 0, live.weighted_version)
        probs = _probabilities(live.model, a, [candidate.person], sims, now)
        if probs is not None:
            with_probabilities(match, float(probs[0][0]), float(probs[1][0]), live.version)
        return match

    def rank_for_prompt(
        self,
        query: PromptQuery,
        requester: Person | None,
        candidates: list[Candidate],
        limit: int,
    ) -> list[RankedMatch]:
        """Search: the prompt's similarity blended with two-sided compatibility on affinity
        (with a requester), or with how well each candidate fits what the prompt asks for."""
        if not candidates or limit <= 0:
            return []
        live, now = self._live, datetime.now(UTC)
        norm = prompt_terms.normalise(query.text)
        people = [c.person for c in candidates]
        similarity = np.clip([c.similarity for c in candidates], 0.0, 1.0)
        probs = None
        if requester is None:
            fit = _PromptFit(self, live, query, norm, people, similarity, now)
            score = shown = fit.score
        else:
            affinity = np.array([c.affinity for c in candidates], dtype=np.float64)
            s = self._scores(live, requester, people, affinity, now)
            score = shown = s.score
            probs = _probabilities(live.model, requester, people, affinity, now)
            if probs is not None:  # also by the chance they like the searcher back
                score, shown = np.sqrt(score * probs[1]), np.sqrt(probs[0] * probs[1])
        # Each named term met outweighs any blend (both in [0, 1]): a profile with what the
        # prompt names is never outranked by a closer one without it.
        hits = named_hits(query.named, people)
        key = 2.0 * hits + PROMPT_WEIGHT * similarity + (1 - PROMPT_WEIGHT) * score
        out = []
        for i in self._best(shown, np.zeros(len(people)), key, people, limit):
            b = people[i]
            if requester is None:
                match = fit.match(i, live.weighted_version)
            else:
                asked = prompt_terms.mentioned(b.interests, norm)
                match = _weighted_at(requester, b, s, i, live.weighted_version, asked)
                if probs is not None:
                    with_probabilities(match, float(probs[0][i]), float(probs[1][i]), live.version)
            match.prompt_similarity = round(float(similarity[i]), 4)
            match.sort_key = float(key[i])
            out.append(match)
        return out

    def top(self, ranked: list[RankedMatch], limit: int) -> list[RankedMatch]:
        """The best `limit` at or above the similarity threshold, best first (of matches
        already built: the evaluation's; serving selects in arrays, `_best`, the same way)."""
        threshold = self._settings.similarity_threshold
        kept = [m for m in ranked if m.compatibility_score >= threshold]
        kept.sort(key=lambda m: (-m.sort_key, m.user_id))
        return kept[:limit]

    def _best(
        self,
        shown: np.ndarray,
        bonus: np.ndarray,
        key: np.ndarray,
        people: Sequence[Person],
        limit: int,
    ) -> list[int]:
        """`top` over arrays: the rows of the best `limit` whose score as shown (`shown`
        rounded, plus `bonus` as `boost` adds it) reaches the threshold, by `key` then id."""
        rows = np.arange(len(key))
        threshold = self._settings.similarity_threshold
        if threshold > 0:  # with Python's round, as the matches show it (np.round differs)
            scores = [
                boosted(round(x, 4), b) for x, b in zip(shown.tolist(), bonus.tolist(), strict=True)
            ]
            rows = rows[np.asarray(scores) >= threshold]
        if len(rows) > limit:
            keys = key[rows]
            kth = keys[np.argpartition(-keys, limit - 1)[limit - 1]]
            rows = rows[keys >= kth]  # every tie with the last place stays: ids decide
        keys_of = key.tolist()
        return sorted(rows.tolist(), key=lambda i: (-keys_of[i], str(people[i].user_id)))[:limit]

    def _scores(
        self, live: _Live, a: Person, people: Sequence[Person], sims: np.ndarray, now: datetime
    ) -> PairScores:
        return pair_scores(a, people, sims, now, live.weights, self._settings.default_distance_km)

    def directed(self, a: Person, b: Person, similarity: float, now: datetime) -> DirectedScore:
        """a -> b by the live weights: how well b fits what a wants."""
        sims = np.array([similarity], dtype=np.float64)
        return self._scores(self._live, a, [b], sims, now).directed(0)

    def weighted(
        self,
        a: Person,
        b: Person,
        similarity: float,
        now: datetime,
        asked: frozenset[str] = frozenset(),
    ) -> RankedMatch:
        """One pair by the live weights, both directions (what `rank` starts from)."""
        live, km = self._live, self._settings.default_distance_km
        return weighted_match(a, b, similarity, now, live.weights, km, live.weighted_version, asked)

    def check_health(self) -> None:
        live = self._live
        if (
            abs(sum(live.weights.values()) - 1.0) > 0.01
            and live.weighted_version == WEIGHTED_VERSION
        ):
            raise RuntimeError("reranker weights do not sum to 1")


class _PromptFit:
    """A search without a requester: how well each candidate fits what the prompt asks for
    (interests and industry it names, distance from its place, activity), by their weights."""

    def __init__(
        self,
        reranker: Reranker,
        live: _Live,
        q: PromptQuery,
        norm: str,
        people: list[Person],
        similarity: np.ndarray,
        now: datetime,
    ) -> None:
        # `mentioned` judges each term alone: ask once for every term any candidate has
        named = prompt_terms.mentioned(frozenset().union(*(b.interests for b in people)), norm)
        industries = frozenset(b.industry for b in people if b.industry)
        named_industries = prompt_terms.mentioned(industries, norm)
        self.people, self.named = people, named
        self.industry = [b.industry is not None and b.industry in named_industries for b in people]
        cols = PersonColumns(people, live.weights)
        n = len(people)
        self.distance = np.full(n, math.nan)
        if q.latitude is not None and q.longitude is not None:
            lat, lon = np.full(n, q.latitude), np.full(n, q.longitude)
            self.distance = public_km_array(lat, lon, cols.lat, cols.lon)
        shared = np.array([len(b.interests & named) for b in people], dtype=np.float64)
        own = np.array([max(1, min(3, len(b.interests))) for b in people], dtype=np.float64)
        radius = q.radius_km or reranker._settings.default_distance_km
        columns = {
            "profile_similarity": similarity,
            "interest_overlap": np.minimum(1.0, shared / own),
            "location_proximity": proximity_array(self.distance, radius),
            "industry_alignment": np.asarray(self.industry, dtype=np.float64),
            "activity_compatibility": cols.activity(now.timestamp()),
        }
        self.factors = np.column_stack([columns[f] for f in FACTORS])
        self.weights = cols.weights
        self.score: np.ndarray = (self.factors * self.weights).sum(axis=1)

    def match(self, i: int, version: str) -> RankedMatch:
        b = self.people[i]
        factors = dict(zip(FACTORS, self.factors[i].tolist(), strict=True))
        weights = dict(zip(FACTORS, self.weights[i].tolist(), strict=True))
        top = sorted(FACTORS, key=lambda f: weights[f] * factors[f], reverse=True)[:2]
        score = float(self.score[i])
        distance = None if math.isnan(self.distance[i]) else float(self.distance[i])
        shared = sorted(b.interests & self.named)
        return RankedMatch(
            user_id=str(b.user_id),
            name=b.name,
            headline=b.headline,
            compatibility_score=round(score, 4),
            score_breakdown={f: round(v, 4) for f, v in factors.items()},
            mutual=None,
            reasons=_reasons(shared, distance, self.industry[i], top, b.industry),
            algorithm_version=version,
            sort_key=score,
        )


def pair_scores(
    a: Person,
    people: Sequence[Person],
    similarity: np.ndarray,
    now: datetime,
    weights: Mapping[str, float],
    default_distance_km: float,
) -> PairScores:
    """Both directions between `a` and each of `people`, by `weights`."""
    x = PersonColumns([a], weights).repeat(len(people))
    y = PersonColumns(people, weights)
    return score_pairs(x, y, similarity, now.timestamp(), default_distance_km)


def _probabilities(
    model: CompatibilityModel | None,
    a: Person,
    people: Sequence[Person],
    sims: np.ndarray,
    now: datetime,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(P(a likes b), P(b likes a)) for each candidate b, from the live model if any."""
    return None if model is None else model.predict_both(a, people, sims, now)


def _events_of(people: Sequence[Person], shared: Mapping[str, list[str]]) -> dict[int, list[str]]:
    """The shared events by candidate row."""
    if not shared:
        return {}
    rows = {str(p.user_id): i for i, p in enumerate(people)}
    return {rows[u]: names for u, names in shared.items() if u in rows and names}


def _weighted_at(
    a: Person,
    b: Person,
    s: PairScores,
    i: int,
    version: str,
    asked: frozenset[str] = frozenset(),
) -> RankedMatch:
    """Row i of `s` (a and b) as a match with reasons; `asked`: b's interests that a search
    prompt named, shown as shared too."""
    ours = s.directed(i)
    distance = None if math.isnan(s.distance_km[i]) else float(s.distance_km[i])
    score = float(s.score[i])
    reasons = _reasons(
        sorted(((a.interests | a.prefs.interests) & b.interests) | asked),
        distance,
        ours.factors["industry_alignment"] >= 1.0,
        primary_factors(ours),
        b.industry,
    )
    return RankedMatch(
        user_id=str(b.user_id),
        name=b.name,
        headline=b.headline,
        compatibility_score=round(score, 4),
        score_breakdown={f: round(v, 4) for f, v in ours.factors.items()},
        mutual={"your_fit": round(ours.score, 4), "their_fit": round(float(s.their_score[i]), 4)},
        reasons=reasons,
        algorithm_version=version,
        sort_key=score,
    )


def weighted_match(
    a: Person,
    b: Person,
    similarity: float,
    now: datetime,
    weights: Mapping[str, float],
    default_distance_km: float,
    version: str,
    asked: frozenset[str] = frozenset(),
) -> RankedMatch:
    """Both directions scored, ranked by their harmonic mean, with reasons (`rank`'s path
    for one pair)."""
    sims = np.array([similarity], dtype=np.float64)
    s = pair_scores(a, [b], sims, now, weights, default_distance_km)
    return _weighted_at(a, b, s, 0, version, asked)


def with_probabilities(match: RankedMatch, p_ab: float, p_ba: float, version: str) -> None:
    """A learned model's ranking of a weighted match: by P(a likes b) x P(b likes a)."""
    mutual = p_ab * p_ba
    assert match.mutual is not None
    match.mutual.update(
        p_you_like=round(p_ab, 4), p_they_like=round(p_ba, 4), p_mutual=round(mutual, 4)
    )
    match.compatibility_score = round(math.sqrt(mutual), 4)
    match.sort_key = mutual
    match.algorithm_version = version


def event_bonus(count: int) -> float:
    """What `count` shared events add to a score and its sort key."""
    return min(EVENT_BOOST_MAX, EVENT_BOOST * count) if count > 0 else 0.0


def boosted(score: float, bonus: float) -> float:
    """A shown (rounded) score with an event bonus, as shown."""
    return round(min(1.0, score + bonus), 4) if bonus else score


def boost(match: RankedMatch, events: list[str]) -> None:
    """People going to the same events rank a little higher, and the reasons say why."""
    if not events:
        return
    bonus = event_bonus(len(events))
    match.compatibility_score = boosted(match.compatibility_score, bonus)
    match.sort_key += bonus
    match.reasons["shared_events"] = sorted(events)
    match.reasons["summary"] = "; ".join(
        [f"both attending {', '.join(sorted(events)[:2])}", match.reasons["summary"]]
    )


def _reasons(
    shared: list[str],
    distance: float | None,
    industry_match: bool,
    primary: list[str],
    industry: str | None,
) -> dict[str, Any]:
    parts = []
    if shared:
        parts.append(
            f"shares {len(shared)} interest{'s' if len(shared) > 1 else ''}: "
            + ", ".join(shared[:3])
        )
    km, shown = shown_distance(distance)
    if shown is not None:
        parts.append(f"{shown} away")
    if industry_match and industry:
        parts.append(f"also in {industry}")
    return {
        "shared_interests": shared,
        "distance_km": km,
        "distance_text": shown,
        "industry_match": industry_match,
        "primary_factors": primary,
        "shared_events": [],
        "summary": "; ".join(parts) or "similar profile",
    }


def shown_distance(distance: float | None) -> tuple[int | None, str | None]:
    """A distance to another person as shown: whole km rounded down, and "< 1 km" under one."""
    if distance is None:
        return None, None
    km = math.floor(distance)
    return km, "< 1 km" if km < 1 else f"{km} km"
