"""HTTP schemas of the queue: tickets, matches, sessions and the queue's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TicketStatus = Literal["pending", "matched", "confirmed", "expired", "cancelled"]
MatchStatus = Literal["pending", "confirmed", "declined", "expired", "cancelled"]
SessionStatus = Literal["active", "ended"]
_Name = Annotated[str, StringConstraints(min_length=1, max_length=32)]
_Value = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Criteria = dict[_Name, _Value]


class TicketCreate(BaseModel):
    """Body of POST /v1/queue/requests."""

    model_config = ConfigDict(extra="forbid")

    criteria: Criteria = Field(max_length=8)
    # A retry with the same id returns the same ticket instead of a 409.
    client_request_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"
    )
    # Only an internal API key names the user; a user's token is the user.
    user_id: UUID | None = None


class TicketPublic(BaseModel):
    """A ticket; `position` (from 1) and `estimated_wait_s` while it waits."""

    ticket_id: UUID
    user_id: UUID
    status: TicketStatus
    criteria: dict[str, str]
    match_id: UUID | None = None
    client_request_id: str | None = None
    created_at: datetime
    position: int | None = None
    estimated_wait_s: float | None = None


class ConfirmBody(BaseModel):
    """Body of POST /v1/queue/confirm."""

    model_config = ConfigDict(extra="forbid")

    match_id: UUID
    confirmed: bool
    user_id: UUID | None = None


class MatchMember(BaseModel):
    user_id: UUID
    ticket_id: UUID
    confirmed: bool


class SessionPublic(BaseModel):
    """A session: both users, the criteria and the item chosen for it."""

    session_id: UUID
    match_id: UUID
    user_ids: list[UUID]
    criteria: dict[str, str]
    item_id: str | None = None
    status: SessionStatus
    created_at: datetime
    ended_at: datetime | None = None
    left_by: UUID | None = None


class MatchPublic(BaseModel):
    """A match and who has confirmed it; `session` once both have."""

    match_id: UUID
    status: MatchStatus
    members: list[MatchMember]
    criteria: dict[str, str]
    relaxation: dict[str, str]
    deadline: datetime
    reason: str | None = None
    session: SessionPublic | None = None


class LeaveBody(BaseModel):
    """Body of POST /v1/queue/sessions/leave (default: the caller's active session)."""

    model_config = ConfigDict(extra="forbid")

    session_id: UUID | None = None
    user_id: UUID | None = None


class QueueStats(BaseModel):
    """Live depth per criteria and the history's figures."""

    depth: dict[str, int]
    waiting: int
    matches: int
    median_time_to_match_s: float | None
    confirm_rate: float | None
    sessions: int
