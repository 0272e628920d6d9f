"""HTTP schemas of the shared resources, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from matching.core.domain.profile import Preferences, ProfileFields, ProfileIn


class ProfileUpsert(ProfileIn):
    """Body of PUT /v1/profiles/{user_id}."""


class ProfilePublic(ProfileFields):
    user_id: UUID
    preferences: Preferences
    active: bool
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime


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
