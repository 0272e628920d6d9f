"""HTTP schemas of the shared resources, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from matching.core.domain.profile import (
    CompanySize,
    Gender,
    JobLevel,
    Preferences,
    ProfileFields,
    ProfileIn,
)


class ProfileUpsert(ProfileIn):
    """Body of PUT /v1/profiles/{user_id}."""


class ProfilePublic(ProfileFields):
    """The whole stored profile: for its owner and the platform's services."""

    user_id: UUID
    preferences: Preferences
    active: bool
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime


class ProfilePublicView(BaseModel):
    """Someone else's profile as another user sees it: no coordinates, no preferences, no
    activity times, and none of the fields in MATCHING_PRIVATE_PROFILE_FIELDS (absent)."""

    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    name: str | None = None
    headline: str | None = None
    bio: str | None = None
    industry: str | None = None
    job_title: str | None = None
    job_level: JobLevel | None = None
    company: str | None = None
    company_size: CompanySize | None = None
    skills: list[str] | None = None
    interests: list[str] | None = None
    networking_goals: list[str] | None = None
    languages: list[str] | None = None
    age: int | None = None
    gender: Gender | None = None
    photo_url: str | None = None  # the platform's public photo
    active: bool | None = None


# Never shown to another user, whatever the platform's setting.
ALWAYS_PRIVATE = frozenset({"latitude", "longitude"})


DependencyState = Literal["up", "down", "not configured"]


class HealthReport(BaseModel):
    status: Literal["ok", "degraded", "starting"]
    service: str
    version: str
    dependencies: dict[str, DependencyState]
    ml_models: dict[str, Any]
    counts: dict[str, int]
    background: dict[str, Any] | None = None
    caches: dict[str, Any] | None = None
    auth: Literal["on", "disabled"] = "on"
