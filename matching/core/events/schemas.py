"""The consumed events this service applies: their type names and their models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matching.core.domain.profile import Tags
from matching.core.events.consumer import Rejected

USER_UPDATED = "user.updated"
USER_DELETED = "user.deleted"
REGISTRATION_CREATED = "event.registration.created"

M = TypeVar("M", bound="_Event")


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UserUpdated(_Event):
    user_id: UUID
    updated_fields: list[str] | None = None  # default: the keys of new_values
    new_values: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        """The profile fields this update sets."""
        return list(self.new_values) if self.updated_fields is None else self.updated_fields


class UserDeleted(_Event):
    user_id: UUID


class RegistrationCreated(_Event):
    event_id: str = Field(min_length=1, max_length=200)  # the event registered for
    user_id: UUID
    event_category: str | None = Field(default=None, max_length=100)
    event_tags: Tags = Field(default_factory=list)
    registered_at: datetime | None = None
    timestamp: datetime | None = None


def parse(model: type[M], event: Mapping[str, Any]) -> M:
    """`event` as `model`; Rejected (missing_field or invalid_value) if it does not fit."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        raise Rejected("missing_field" if missing else "invalid_value", str(exc)) from exc
