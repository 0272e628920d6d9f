"""HTTP schemas of discover and search, named by role."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import to_json

from matching.core.domain.profile import both_coordinates
from matching.core.domain.prompt import MAX_RADIUS_KM
from matching.core.domain.search_terms import SearchTerms


class ScoreBreakdown(BaseModel):
    profile_similarity: float
    interest_overlap: float
    location_proximity: float
    industry_alignment: float
    activity_compatibility: float


class MutualFit(BaseModel):
    your_fit: float = Field(description="How well they fit what you asked for")
    their_fit: float = Field(description="How well you fit what they asked for")
    p_you_like: float | None = Field(
        default=None, description="A learned model's P(you like them); null for the weighted score"
    )
    p_they_like: float | None = Field(default=None, description="P(they like you)")
    p_mutual: float | None = Field(
        default=None, description="P(you like them) x P(they like you): what discovery ranks by"
    )


class Reasons(BaseModel):
    shared_interests: list[str]
    distance_km: int | None = Field(
        ge=0,
        description="Whole km from you (or the search origin) to them, measured between "
        "~1 km grid cells and rounded down (0: under 1 km); null when a location is unknown",
    )
    distance_text: str | None = Field(
        default=None, description='The same for display: "< 1 km" or "12 km"'
    )
    industry_match: bool
    primary_factors: list[str]
    shared_events: list[str] = Field(default_factory=list)
    summary: str

    @field_validator("distance_km", mode="before")
    @classmethod
    def _whole_km(cls, v: object) -> object:
        return whole_km(v)


def whole_km(v: object) -> object:
    """Discover answers cached before distances were whole km: shown whole too."""
    return math.floor(v) if isinstance(v, float) and math.isfinite(v) else v


class MatchCandidate(BaseModel):
    user_id: UUID
    name: str
    headline: str | None
    compatibility_score: float = Field(ge=0, le=1)
    score_breakdown: ScoreBreakdown
    mutual: MutualFit | None = None
    reasons: Reasons
    algorithm_version: str
    prompt_similarity: float | None = None


class DiscoverResponse(BaseModel):
    user_id: UUID
    algorithm_version: str
    count: int
    candidates: list[MatchCandidate]


class AgeRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int = Field(ge=16, le=120)
    max: int = Field(ge=16, le=120)

    @field_validator("max")
    @classmethod
    def _ordered(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if low is not None and low > v:
            raise ValueError(f"max ({v}) must not be less than min ({low})")
        return v


class SearchRequest(BaseModel):
    """Body of POST /v1/search."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=500)
    user_id: UUID | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    max_distance_km: float | None = Field(default=None, gt=0, le=MAX_RADIUS_KM)
    age_range: AgeRange | None = None
    terms: SearchTerms | None = Field(
        default=None,
        description="What to read the prompt as (the `interpreted.terms` of an earlier answer, "
        "chips removed); when given, the prompt counts only for its meaning",
    )
    limit: int = Field(default=20, ge=1, le=100)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt must not be blank")
        return v.strip()

    _both_coordinates = field_validator("longitude")(both_coordinates)


class Chip(BaseModel):
    field: str = Field(description="The `terms` field this value came from")
    value: str


class SearchInterpretation(BaseModel):
    near_me: bool
    radius_km: float | None
    origin: dict[str, float] | None
    note: str | None = None
    terms: SearchTerms = Field(
        default_factory=SearchTerms,
        description="What was read from the prompt (or sent as `terms`), applied as filters "
        "(genders, ages, job levels, industries, languages) and ranked first (interests, "
        "networking goals, roles); send it back as `terms` to change it",
    )
    chips: list[Chip] = Field(default_factory=list, description="`terms`, one value each")


class SearchResponse(BaseModel):
    prompt: str
    algorithm_version: str
    interpreted: SearchInterpretation
    count: int
    candidates: list[MatchCandidate]


def candidate_body(m: Mapping[str, Any]) -> dict[str, Any]:
    """A ranked match (RankedMatch.as_dict, or as cached) as MatchCandidate serialises it.

    Discover and search build their answers with this instead of validating what the reranker
    built, twice (the route's models, then FastAPI's response_model): ~1 ms per answer of 20.
    tests/unit/test_discovery_answers.py pins it to the models' bytes.
    """
    mutual = m.get("mutual")
    reasons = m["reasons"]
    return {
        "user_id": str(m["user_id"]),
        "name": m["name"],
        "headline": m["headline"],
        "compatibility_score": float(m["compatibility_score"]),
        "score_breakdown": {k: float(m["score_breakdown"][k]) for k in _FACTORS},
        "mutual": None if mutual is None else {k: _num(mutual.get(k)) for k in _MUTUAL},
        "reasons": {
            "shared_interests": reasons["shared_interests"],
            "distance_km": whole_km(reasons["distance_km"]),
            "distance_text": reasons.get("distance_text"),
            "industry_match": reasons["industry_match"],
            "primary_factors": reasons["primary_factors"],
            "shared_events": reasons.get("shared_events", []),
            "summary": reasons["summary"],
        },
        "algorithm_version": m["algorithm_version"],
        "prompt_similarity": _num(m.get("prompt_similarity")),
    }


def answer_json(head: Mapping[str, Any], matches: Sequence[Mapping[str, Any]]) -> bytes:
    """A DiscoverResponse or SearchResponse body: `head`'s fields, then count and candidates."""
    return to_json(
        {**head, "count": len(matches), "candidates": [candidate_body(m) for m in matches]}
    )


def _num(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]


_FACTORS = tuple(ScoreBreakdown.model_fields)
_MUTUAL = tuple(MutualFit.model_fields)
