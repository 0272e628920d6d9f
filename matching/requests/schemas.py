"""HTTP and Kafka schemas of request matching, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Level = Literal["beginner", "intermediate", "advanced", "expert"]
LEVELS: tuple[Level, ...] = ("beginner", "intermediate", "advanced", "expert")
SessionType = Literal["one_on_one", "group", "workshop", "mentoring", "consultation", "review"]
SESSION_TYPES: tuple[SessionType, ...] = (
    "one_on_one",
    "group",
    "workshop",
    "mentoring",
    "consultation",
    "review",
)
RequestStatus = Literal["pending", "completed", "failed"]
OutcomeKind = Literal["contacted", "booked", "declined", "completed"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Language = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=35)]
# "HH:MM" on a 24-hour clock; an end may be "24:00" (midnight at the end of the day).
Clock = Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
Zone = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")]
RequestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]


def minutes(clock: str) -> int:
    """Minutes since midnight of an "HH:MM" clock."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def _zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except Exception:  # ZoneInfoNotFoundError, or ValueError for a path-like key
        raise ValueError("not an IANA time zone name (e.g. Europe/Berlin)") from None
    return v


def _one_on_one() -> list[SessionType]:
    return ["one_on_one"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkillIn(_Strict):
    name: Name
    level: Level = "intermediate"
    years: float = Field(0.0, ge=0, le=70)
    certified: bool = False


class Slot(_Strict):
    """A weekly slot in the provider's own zone; day_of_week 0 is Monday."""

    day_of_week: int = Field(ge=0, le=6)
    start: Clock
    end: Clock
    timezone: Zone

    _tz = field_validator("timezone")(_zone)

    @field_validator("end")
    @classmethod
    def _after_start(cls, v: str, info: Any) -> str:
        start = info.data.get("start")
        if start is not None and minutes(v) <= minutes(start):
            raise ValueError("must be after start")
        return v


class ProviderUpsert(_Strict):
    """Body of PUT /v1/providers/{provider_id}."""

    name: str = Field(min_length=1, max_length=200)
    title: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    bio: str | None = Field(None, max_length=5000)
    skills: list[SkillIn] = Field(default_factory=list, max_length=50)
    languages: list[Language] = Field(default_factory=list, max_length=20)
    session_types: list[SessionType] = Field(default_factory=_one_on_one, min_length=1)
    max_participants: int = Field(1, ge=1, le=1000)
    hourly_rate: float = Field(ge=0, le=100_000)
    currency: Currency = "USD"
    availability: list[Slot] = Field(default_factory=list, max_length=100)
    rating_average: float = Field(0.0, ge=0, le=5)
    rating_count: int = Field(0, ge=0, le=10_000_000)
    sessions_completed: int = Field(0, ge=0, le=10_000_000)
    success_rate: float = Field(0.0, ge=0, le=1)
    active: bool = True


class ProviderPublic(ProviderUpsert):
    provider_id: UUID
    updated_at: datetime


class ProviderList(BaseModel):
    count: int
    providers: list[ProviderPublic]


class SkillNeed(_Strict):
    name: Name
    level: Level = "beginner"
    weight: float = Field(1.0, gt=0, le=1)
    mandatory: bool = False


class Budget(_Strict):
    max_hourly_rate: float = Field(gt=0, le=100_000)
    currency: Currency = "USD"


class TimeSlot(_Strict):
    start: Clock
    end: Clock

    @field_validator("end")
    @classmethod
    def _after_start(cls, v: str, info: Any) -> str:
        start = info.data.get("start")
        if start is not None and minutes(v) <= minutes(start):
            raise ValueError("must be after start")
        return v


class Availability(_Strict):
    """When the client can meet, in their own zone; days_of_week 0 is Monday."""

    days_of_week: list[Annotated[int, Field(ge=0, le=6)]] = Field(min_length=1, max_length=7)
    time_slots: list[TimeSlot] = Field(min_length=1, max_length=10)
    timezone: Zone

    _tz = field_validator("timezone")(_zone)


class MatchRequest(_Strict):
    """Body of POST /v1/requests (and of a Kafka request, without its envelope)."""

    request_id: RequestId | None = None
    requester_id: UUID | None = Field(
        None, description="Whose request: a user's own id (default); a service may name one"
    )
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    session_type: SessionType
    skills_required: list[SkillNeed] = Field(default_factory=list, max_length=20)
    budget: Budget
    availability: Availability
    participants_count: int = Field(1, ge=1, le=1000)
    total_sessions: int = Field(1, ge=1, le=1000)
    languages: list[Language] | None = Field(None, max_length=10)
    limit: int | None = Field(None, ge=1, le=100)


class Factors(BaseModel):
    skill_match: float
    experience: float
    rating: float
    availability: float
    price: float


class ProviderMatch(BaseModel):
    provider_id: UUID
    name: str
    title: str | None
    hourly_rate: float
    currency: str
    match_score: float
    factors: Factors
    matching_skills: list[str]
    missing_skills: list[str]
    confidence_level: Literal["high", "medium", "low"]
    recommendation_reason: str


class Relaxation(BaseModel):
    filter: str
    adds: int = Field(description="Providers that pass every hard filter once this one is relaxed")
    suggestion: str


class MatchResult(BaseModel):
    request_id: str
    status: Literal["completed"] = "completed"
    matches: list[ProviderMatch]
    total_providers: int
    filtered_out: dict[str, int] = Field(
        description="Providers each hard filter removed, in the order they apply"
    )
    relaxations: list[Relaxation]
    weights: dict[str, float]
    ranked_at: datetime


class RequestState(BaseModel):
    """GET /v1/requests/{request_id}, and the 202 of an async request."""

    request_id: str
    status: RequestStatus
    result: MatchResult | None = None
    error: dict[str, str] | None = None
    created_at: datetime | None = None


class RequestHistory(BaseModel):
    count: int
    requests: list[RequestState]


class OutcomeIn(_Strict):
    provider_id: UUID
    outcome: OutcomeKind
    rating: float | None = Field(None, ge=1, le=5)


class OutcomeRecorded(BaseModel):
    request_id: str
    provider_id: UUID
    outcome: OutcomeKind
    rank: int | None = Field(description="The provider's 1-based rank in the stored result")
