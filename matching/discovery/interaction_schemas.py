"""HTTP schemas for swipes, matches and analytics."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from matching.discovery.storage.matches import MatchStatus
from matching.discovery.storage.swipes import SwipeAction

AnalyticsEventType = Literal[
    "match_liked",
    "match_passed",
    "match_super_liked",
    "profile_viewed",
    "conversation_started",
    "message_sent",
    "meeting_scheduled",
    "match_reported",
]
_MAX_CONTEXT_KEYS = 20


class SwipeContext(BaseModel):
    """Where the swipe happened; extra keys are kept (at most 20)."""

    model_config = ConfigDict(extra="allow")

    source: str | None = Field(default=None, max_length=64)
    position_in_stack: int | None = Field(default=None, ge=0, le=10_000)
    event_id: str | None = Field(default=None, max_length=128)


class SwipeCreate(BaseModel):
    """Body of POST /v1/swipes."""

    model_config = ConfigDict(extra="forbid")

    swiper_id: UUID
    swiped_id: UUID
    action: SwipeAction
    context: SwipeContext | None = None

    @field_validator("swiped_id")
    @classmethod
    def _not_self(cls, v: UUID, info: Any) -> UUID:
        if info.data.get("swiper_id") == v:
            raise ValueError("a person cannot swipe on themselves")
        return v

    @field_validator("context")
    @classmethod
    def _small(cls, v: SwipeContext | None) -> SwipeContext | None:
        if v is not None and len(v.model_dump()) > _MAX_CONTEXT_KEYS:
            raise ValueError(f"at most {_MAX_CONTEXT_KEYS} keys")
        return v


class MatchPublic(BaseModel):
    match_id: UUID
    user1_id: UUID
    user2_id: UUID
    status: MatchStatus
    compatibility_score: float | None
    match_reason: dict[str, Any]
    algorithm_version: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None


class SwipeResult(BaseModel):
    swiper_id: UUID
    swiped_id: UUID
    action: SwipeAction
    changed: bool = Field(description="False when the same swipe was already recorded")
    mutual: bool
    match: MatchPublic | None = None


class MatchPage(BaseModel):
    matches: list[MatchPublic]
    next_cursor: str | None


class MatchUpdate(BaseModel):
    """Body of PATCH /v1/matches/{match_id}."""

    model_config = ConfigDict(extra="forbid")

    status: MatchStatus
    # From the token for a user; required from an internal API key (who acts for a member).
    updated_by: UUID | None = None


class AnalyticsEventIn(BaseModel):
    """Body of POST /v1/analytics."""

    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    event_type: AnalyticsEventType
    target_user_id: UUID | None = None
    algorithm_version: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("payload")
    @classmethod
    def _small(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > _MAX_CONTEXT_KEYS:
            raise ValueError(f"at most {_MAX_CONTEXT_KEYS} keys")
        return v


class Accepted(BaseModel):
    status: Literal["recorded"] = "recorded"
