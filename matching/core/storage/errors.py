"""Errors of the shared storage layer (the API maps them to 4xx answers)."""

from __future__ import annotations

from uuid import UUID


class StorageError(Exception):
    """Base of the storage layer's domain errors."""


class UnknownUser(StorageError, LookupError):
    """A user id that has no profile (404)."""

    def __init__(self, user_id: UUID | None) -> None:
        super().__init__(f"unknown user {user_id}" if user_id else "unknown user")
        self.user_id = user_id
