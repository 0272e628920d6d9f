"""Reranker: two-sided compatibility of retrieved candidates, with reasons a person can read."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from matching.core.domain import prompt as prompt_terms
from matching.core.domain.filters import distance_between, person_distance_km
from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS
from matching.core.domain.scoring import (
    DirectedScore,
    activity_level,
    directed_score,
    effective_weights,
    harmonic_mean,
    primary_factors,
    proximity,
)
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


class Reranker:
    """The weighted score, or a trained two-sided model from the registry (`reconfigure`).

    With a model, discovery ranks by the chance of a mutual match, P(a likes b) x P(b likes
    a); the per-factor breakdown and the reasons still come from the weighted factors.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env()
        self._settings: MatchingSettings = settings.matching
        self._registry_settings = settings  # where reconfigure() finds model versions
        self._weights = self._settings.weights
        self._weighted_version = WEIGHTED_VERSION
        self._model: CompatibilityModel | None = None
        self._model_version: str | None = None
        self._refused: dict[str, Any] | None = None  # the last model refused, and why
        self.version = WEIGHTED_VERSION

    def reconfigure(self, config: dict[str, Any]) -> None:
        """user_config: {"weights": {factor: w}} swaps the default weights;
        {"model_version": V | None} loads model V from the registry (None: weighted only).

        The new model is loaded completely before it replaces the old one, so requests in
        flight finish on the old one and no request sees half a swap.
        """
        weights = config.get("weights")
        if weights:
            unknown = set(weights) - set(FACTORS)
            if unknown:
                raise ValueError(f"unknown factors in weights: {sorted(unknown)}")
            self._weights = {f: float(weights.get(f, 0.0)) for f in FACTORS}
            self._weighted_version = str(config.get("version", f"{WEIGHTED_VERSION}-custom"))
        if "model_version" in config and config["model_version"] != self._model_version:
            self._swap_model(config["model_version"])
        self.version = (
            self._model.algorithm_version if self._model is not None else self._weighted_version
        )

    def _swap_model(self, wanted: str | None) -> None:
        """Load model `wanted` (None: none) and serve it; a version whose files do not match
        their manifest's sha256 is refused: logged, shown in info(), the current one kept."""
        model = None
        if wanted is not None:
            from matching.core.ml.artifacts import ArtifactMismatch
            from matching.core.ml.model import (
                FEATURES_FILE,
                MODEL_FILE,
                STATS_FILE,
                CompatibilityModel,
            )
            from matching.core.ml.registry import Registry

            registry = Registry.from_settings(self._registry_settings)
            required = (MODEL_FILE, FEATURES_FILE, STATS_FILE)
            try:
                folder = registry.trusted_copy("models", str(wanted), required)
            except ArtifactMismatch as exc:
                log.error("refusing model %s, serving %s: %s", wanted, self.version, exc)
                self._refused = {"model_version": wanted, "reason": str(exc)}
                return
            model = CompatibilityModel.load(folder)
        self._model, self._model_version, self._refused = model, wanted, None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "kind": "weighted"}
        if self._model is not None:
            out = {**out, "kind": "learned", "model_version": self._model_version}
        out["weights"] = self._weights
        if self._refused is not None:
            out["refused"] = self._refused
        return out

    def _learned(
        self, a: Person, ranked: list[RankedMatch], people: list[Person], sims: list[float]
    ) -> None:
        """Re-score with the model: P(a likes b), P(b likes a) and their product."""
        model = self._model
        if model is None or not ranked:
            return
        p_ab, p_ba = model.predict_both(a, people, sims, datetime.now(UTC))
        for match, mine, theirs in zip(ranked, p_ab, p_ba, strict=True):
            with_probabilities(match, float(mine), float(theirs), self.version)

    async def rank(
        self,
        requester: Person,
        candidates: list[Candidate],
        limit: int,
        shared_events: dict[str, list[str]] | None = None,
    ) -> list[RankedMatch]:
        """Discovery: both directions scored, ranked by their harmonic mean; people going
        to the same events (`shared_events`: user id -> event names) get a small boost."""
        now = datetime.now(UTC)
        ranked = [self.weighted(requester, c.person, c.similarity, now) for c in candidates]
        self._learned(
            requester, ranked, [c.person for c in candidates], [c.similarity for c in candidates]
        )
        for match in ranked:
            boost(match, (shared_events or {}).get(match.user_id, []))
        return self.top(ranked, limit)

    async def score_pair(self, a: Person, candidate: Candidate) -> RankedMatch:
        """One pair, both directions, no threshold: the score a new match is stored with."""
        match = self.weighted(a, candidate.person, candidate.similarity, datetime.now(UTC))
        self._learned(a, [match], [candidate.person], [candidate.similarity])
        return match

    async def rank_for_prompt(
        self,
        query: PromptQuery,
        requester: Person | None,
        candidates: list[Candidate],
        limit: int,
    ) -> list[RankedMatch]:
        now = datetime.now(UTC)
        norm = prompt_terms.normalise(query.text)
        out = []
        for c in candidates:
            similarity = max(0.0, min(1.0, c.similarity))
            if requester is not None:
                asked = prompt_terms.mentioned(c.person.interests, norm)
                match = self.weighted(requester, c.person, c.affinity, now, asked)
            else:
                match = self._for_prompt(query, norm, c.person, similarity, now)
            match.prompt_similarity = round(similarity, 4)
            match.sort_key = PROMPT_WEIGHT * similarity + (1 - PROMPT_WEIGHT) * match.sort_key
            out.append(match)
        return self.top(out, limit)

    def top(self, ranked: list[RankedMatch], limit: int) -> list[RankedMatch]:
        """The best `limit` at or above the similarity threshold, best first."""
        threshold = self._settings.similarity_threshold
        kept = [m for m in ranked if m.compatibility_score >= threshold]
        kept.sort(key=lambda m: (-m.sort_key, m.user_id))
        return kept[:limit]

    def directed(self, a: Person, b: Person, similarity: float, now: datetime) -> DirectedScore:
        """a -> b by the live weights: how well b fits what a wants."""
        km = self._settings.default_distance_km
        return directed_score(a, b, similarity, now, self._weights, km)

    def weighted(
        self,
        a: Person,
        b: Person,
        similarity: float,
        now: datetime,
        asked: frozenset[str] = frozenset(),
    ) -> RankedMatch:
        """One pair by the live weights, both directions (what `rank` starts from)."""
        km = self._settings.default_distance_km
        return weighted_match(
            a, b, similarity, now, self._weights, km, self._weighted_version, asked
        )

    def _for_prompt(
        self, q: PromptQuery, norm: str, b: Person, similarity: float, now: datetime
    ) -> RankedMatch:
        """No requester: the factors say how well b fits what the prompt asks for."""
        shared = prompt_terms.mentioned(b.interests, norm)
        distance = None
        if q.latitude is not None and q.longitude is not None and b.has_location:
            distance = distance_between(q.latitude, q.longitude, b)
        radius = q.radius_km or self._settings.default_distance_km
        industry = bool(b.industry and prompt_terms.mentioned(frozenset({b.industry}), norm))
        factors = {
            "profile_similarity": similarity,
            "interest_overlap": min(1.0, len(shared) / max(1, min(3, len(b.interests)))),
            "location_proximity": proximity(distance, radius),
            "industry_alignment": 1.0 if industry else 0.0,
            "activity_compatibility": activity_level(b, now),
        }
        weights = effective_weights(self._weights, b)
        score = sum(weights[f] * factors[f] for f in FACTORS)
        top = sorted(FACTORS, key=lambda f: weights[f] * factors[f], reverse=True)[:2]
        return RankedMatch(
            user_id=str(b.user_id),
            name=b.name,
            headline=b.headline,
            compatibility_score=round(score, 4),
            score_breakdown={f: round(v, 4) for f, v in factors.items()},
            mutual=None,
            reasons=_reasons(sorted(shared), distance, industry, top, b.industry),
            algorithm_version=self._weighted_version,
            sort_key=score,
        )

    def check_health(self) -> None:
        if (
            abs(sum(self._weights.values()) - 1.0) > 0.01
            and self._weighted_version == WEIGHTED_VERSION
        ):
            raise RuntimeError("reranker weights do not sum to 1")


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
    """Both directions scored, ranked by their harmonic mean, with reasons; `asked`: b's
    interests that a search prompt named, shown as shared too."""
    ours = directed_score(a, b, similarity, now, weights, default_distance_km)
    theirs = directed_score(b, a, similarity, now, weights, default_distance_km)
    score = harmonic_mean(ours.score, theirs.score)
    distance = person_distance_km(a, b)
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
        mutual={"your_fit": round(ours.score, 4), "their_fit": round(theirs.score, 4)},
        reasons=reasons,
        algorithm_version=version,
        sort_key=score,
    )


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


def boost(match: RankedMatch, events: list[str]) -> None:
    """People going to the same events rank a little higher, and the reasons say why."""
    if not events:
        return
    bonus = min(EVENT_BOOST_MAX, EVENT_BOOST * len(events))
    match.compatibility_score = round(min(1.0, match.compatibility_score + bonus), 4)
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
