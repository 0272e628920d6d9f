"""The profile and preference model shared by the HTTP API, the seeder and the jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

FACTORS = (
    "profile_similarity",
    "interest_overlap",
    "location_proximity",
    "industry_alignment",
    "activity_compatibility",
)
Factor = Literal[
    "profile_similarity",
    "interest_overlap",
    "location_proximity",
    "industry_alignment",
    "activity_compatibility",
]
JobLevel = Literal[
    "intern", "entry", "mid", "senior", "lead", "manager", "director", "vp", "executive", "founder"
]
CompanySize = Literal["1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+"]
JOB_LEVELS: tuple[JobLevel, ...] = get_args(JobLevel)  # the CHECK order in 0001_profiles.sql
COMPANY_SIZES: tuple[CompanySize, ...] = get_args(CompanySize)  # smallest first
Gender = Literal["female", "male", "non_binary", "other", "prefer_not_to_say"]
GENDERS: tuple[Gender, ...] = get_args(Gender)
# The platform's company-size words, each a set of the stored bands (a partition: every band
# belongs to exactly one word). Documented in docs/search.md and the README.
CompanySizeName = Literal["startup", "small", "medium", "large", "enterprise"]
COMPANY_SIZE_BANDS: dict[CompanySizeName, tuple[CompanySize, ...]] = {
    "startup": ("1-10",),
    "small": ("11-50",),
    "medium": ("51-200",),
    "large": ("201-1000", "1001-5000"),
    "enterprise": ("5001+",),
}
# The platform's job levels (entry, mid, senior, executive, founder) are stored levels
# themselves; the finer ones (intern, lead, manager, director, vp) stay accepted too.
PLATFORM_JOB_LEVELS: tuple[JobLevel, ...] = ("entry", "mid", "senior", "executive", "founder")

MAX_TAGS = 50


def both_coordinates(
    cls: type,  # noqa: ARG001 (pydantic recognises validators by this signature)
    longitude: float | None,
    info: ValidationInfo,
) -> float | None:
    """Reported at `longitude`: a location is both coordinates or neither."""
    if "latitude" in info.data and (info.data["latitude"] is None) != (longitude is None):
        raise ValueError("latitude and longitude must be given together")
    return longitude


def company_size_bands(value: str) -> tuple[str, ...]:
    """The stored bands a company size means: a band itself, or a platform word's bands."""
    if value in COMPANY_SIZES:
        return (value,)
    return COMPANY_SIZE_BANDS.get(value, (value,))  # type: ignore[call-overload]


def _expand_sizes(values: object) -> object:
    """Platform words become their bands before validation; anything else is left to it."""
    if not isinstance(values, list):
        return values
    out: dict[object, None] = {}
    for value in values:
        for band in company_size_bands(value) if isinstance(value, str) else (value,):
            out.setdefault(band, None)
    return list(out)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _normalise_tags(values: list[str]) -> list[str]:
    """Lower-case, trim and de-duplicate, keeping first-seen order (overlaps compare these)."""
    seen: dict[str, None] = {}
    for value in values:
        tag = " ".join(value.split()).lower()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


Tag = Annotated[str, Field(min_length=1, max_length=60)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_normalise_tags)]
CompanySizes = Annotated[
    list[CompanySize],
    Field(max_length=MAX_TAGS),
    BeforeValidator(_expand_sizes, json_schema_input_type=list[CompanySize | CompanySizeName]),
]
ShowMe = Annotated[list[Gender], Field(max_length=len(GENDERS)), AfterValidator(_unique)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
# The photo itself lives with the platform; the service keeps its address (has_photo).
PhotoUrl = Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")]


class AlgorithmWeights(BaseModel):
    """Per-user weights of the five factors; any subset, each in [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    profile_similarity: float | None = Field(default=None, ge=0, le=1)
    interest_overlap: float | None = Field(default=None, ge=0, le=1)
    location_proximity: float | None = Field(default=None, ge=0, le=1)
    industry_alignment: float | None = Field(default=None, ge=0, le=1)
    activity_compatibility: float | None = Field(default=None, ge=0, le=1)

    def given(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Preferences(BaseModel):
    """Who a person wants to meet. Age, distance, languages, industries, job levels,
    company sizes, show_me and the two exclusions are hard filters; interests and goals are
    soft. Company sizes accept the platform's words (COMPANY_SIZE_BANDS)."""

    model_config = ConfigDict(extra="forbid")

    age_min: int | None = Field(default=None, ge=16, le=120)
    age_max: int | None = Field(default=None, ge=16, le=120)
    distance_km: float | None = Field(default=None, gt=0, le=20_000)
    industries: Tags = Field(default_factory=list)
    job_levels: list[JobLevel] = Field(default_factory=list, max_length=MAX_TAGS)
    company_sizes: CompanySizes = Field(default_factory=list)
    interests: Tags = Field(default_factory=list)
    networking_goals: Tags = Field(default_factory=list)
    languages: Tags = Field(default_factory=list)
    exclude_colleagues: bool = False
    exclude_competitors: bool = False
    show_me: ShowMe = Field(
        default_factory=list, description="Genders this person wants to see; empty: everyone"
    )
    algorithm_weights: AlgorithmWeights | None = None

    @field_validator("age_max")
    @classmethod
    def _age_range(cls, v: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("age_min")
        if v is not None and low is not None and low > v:
            raise ValueError(f"age_max ({v}) must not be less than age_min ({low})")
        return v


class ProfileFields(BaseModel):
    """The editable part of a profile."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText
    headline: str | None = Field(default=None, max_length=300)
    bio: str | None = Field(default=None, max_length=4000)
    industry: str | None = Field(default=None, min_length=1, max_length=100)
    job_title: str | None = Field(default=None, min_length=1, max_length=200)
    job_level: JobLevel | None = None
    company: str | None = Field(default=None, min_length=1, max_length=200)
    company_size: CompanySize | None = None
    skills: Tags = Field(default_factory=list)
    interests: Tags = Field(default_factory=list)
    networking_goals: Tags = Field(default_factory=list)
    languages: Tags = Field(default_factory=list)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    age: int | None = Field(default=None, ge=16, le=120)
    gender: Gender | None = None
    photo_url: PhotoUrl | None = None

    _both_coordinates = field_validator("longitude")(both_coordinates)


class ProfileIn(ProfileFields):
    """A profile with its preferences, as written by a client or the seeder."""

    preferences: Preferences = Field(default_factory=Preferences)


class Profile(ProfileIn):
    """A stored profile."""

    id: UUID
    active: bool = True
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime
