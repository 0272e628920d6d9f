"""The Reranker as it ranked before it ranked in arrays: one pair at a time through the scalar
rules of matching.core.domain.scoring, both directions, reasons for every candidate. A unit
test pins the vectorised Reranker to it, and bench/rerank.py times the two."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from deployments.reranker import (
    PROMPT_WEIGHT,
    PromptQuery,
    RankedMatch,
    _reasons,
    boost,
    with_probabilities,
)
from matching.core.domain import prompt as prompt_terms
from matching.core.domain.exposure import EXPOSURE_MAX, EXPOSURE_MIN
from matching.core.domain.filters import distance_between, person_distance_km
from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS
from matching.core.domain.scoring import (
    activity_level,
    directed_score,
    effective_weights,
    harmonic_mean,
    primary_factors,
    proximity,
)
from matching.core.domain.search_terms import person_terms
from matching.core.ml.model import CompatibilityModel
from matching.core.retrieval.candidates import Candidate


@dataclass(frozen=True)
class ScalarReranker:
    """Reranker.rank / score_pair / rank_for_prompt, one pair at a time, at a given `now`."""

    weights: Mapping[str, float]
    default_distance_km: float
    threshold: float
    version: str
    model: CompatibilityModel | None = None
    damping: float = 0.0  # MATCHING_EXPOSURE_DAMPING

    def rank(
        self,
        requester: Person,
        candidates: list[Candidate],
        limit: int,
        shared_events: dict[str, list[str]] | None,
        now: datetime,
    ) -> list[RankedMatch]:
        ranked = [self.weighted(requester, c.person, c.similarity, now) for c in candidates]
        self._learned(requester, ranked, candidates, now)
        if self.model is not None:
            for match in ranked:
                match.sort_key = self._damped(match)
        for match in ranked:
            boost(match, (shared_events or {}).get(match.user_id, []))
        return self.top(ranked, limit)

    def score_pair(self, a: Person, candidate: Candidate, now: datetime) -> RankedMatch:
        match = self.weighted(a, candidate.person, candidate.similarity, now)
        self._learned(a, [match], [candidate], now)
        return match

    def rank_for_prompt(
        self,
        query: PromptQuery,
        requester: Person | None,
        candidates: list[Candidate],
        limit: int,
        now: datetime,
    ) -> list[RankedMatch]:
        norm = prompt_terms.normalise(query.text)
        out = []
        for c in candidates:
            similarity = max(0.0, min(1.0, c.similarity))
            if requester is not None:
                asked = prompt_terms.mentioned(c.person.interests, norm)
                match = self.weighted(requester, c.person, c.affinity, now, asked)
                compat = match.sort_key
                if self.model is not None:  # and by P(they like the searcher back)
                    p_ab, p_ba = self.model.predict_both(requester, [c.person], [c.affinity], now)
                    compat = (compat * float(p_ba[0])) ** 0.5
                    version = self.model.algorithm_version
                    with_probabilities(match, float(p_ab[0]), float(p_ba[0]), version)
            else:
                match = self._for_prompt(query, norm, c.person, similarity, now)
                compat = match.sort_key
            theirs = person_terms(c.person)
            named = sum(all(part in theirs for part in group) for group in query.named)
            match.prompt_similarity = round(similarity, 4)
            match.sort_key = 2 * named + PROMPT_WEIGHT * similarity + (1 - PROMPT_WEIGHT) * compat
            out.append(match)
        return self.top(out, limit)

    def top(self, ranked: list[RankedMatch], limit: int) -> list[RankedMatch]:
        kept = [m for m in ranked if m.compatibility_score >= self.threshold]
        kept.sort(key=lambda m: (-m.sort_key, m.user_id))
        return kept[:limit]

    def _learned(
        self, a: Person, ranked: list[RankedMatch], candidates: list[Candidate], now: datetime
    ) -> None:
        if self.model is None or not ranked:
            return
        people, sims = [c.person for c in candidates], [c.similarity for c in candidates]
        p_ab, p_ba = self.model.predict_both(a, people, sims, now)
        for match, mine, theirs in zip(ranked, p_ab, p_ba, strict=True):
            with_probabilities(match, float(mine), float(theirs), self.model.algorithm_version)

    def _damped(self, match: RankedMatch) -> float:
        """The sort key over b's relative exposure (smoothed swipes received over the mean
        of everyone the model has stats for) ** damping."""
        assert self.model is not None
        stats = self.model.stats
        counts = [c[3] for c in stats.counts.values()]
        mean = sum(counts) / len(counts) if counts else 0.0
        k = stats.prior_strength
        received = stats.get(UUID(match.user_id)).swipes_received
        exposure = min(max((k + received) / (k + mean), EXPOSURE_MIN), EXPOSURE_MAX)
        return match.sort_key / exposure**self.damping

    def weighted(
        self,
        a: Person,
        b: Person,
        similarity: float,
        now: datetime,
        asked: frozenset[str] = frozenset(),
    ) -> RankedMatch:
        km = self.default_distance_km
        ours = directed_score(a, b, similarity, now, self.weights, km)
        theirs = directed_score(b, a, similarity, now, self.weights, km)
        score = harmonic_mean(ours.score, theirs.score)
        reasons = _reasons(
            sorted(((a.interests | a.prefs.interests) & b.interests) | asked),
            person_distance_km(a, b),
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
            algorithm_version=self.version,
            sort_key=score,
        )

    def _for_prompt(
        self, q: PromptQuery, norm: str, b: Person, similarity: float, now: datetime
    ) -> RankedMatch:
        shared = prompt_terms.mentioned(b.interests, norm)
        distance = None
        if q.latitude is not None and q.longitude is not None and b.has_location:
            distance = distance_between(q.latitude, q.longitude, b)
        radius = q.radius_km or self.default_distance_km
        industry = bool(b.industry and prompt_terms.mentioned(frozenset({b.industry}), norm))
        factors = {
            "profile_similarity": similarity,
            "interest_overlap": min(1.0, len(shared) / max(1, min(3, len(b.interests)))),
            "location_proximity": proximity(distance, radius),
            "industry_alignment": 1.0 if industry else 0.0,
            "activity_compatibility": activity_level(b, now),
        }
        weights = effective_weights(self.weights, b)
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
            algorithm_version=self.version,
            sort_key=score,
        )
