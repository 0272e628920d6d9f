"""Errors of the swipe/match storage layer (the API maps them to 404/403/409/400)."""

from __future__ import annotations

from uuid import UUID

from matching.core.storage.errors import StorageError, UnknownUser

__all__ = [
    "IllegalSwipeChange",
    "IllegalTransition",
    "InvalidCursor",
    "MatchNotFound",
    "NotAMember",
    "StorageError",
    "UnknownUser",
]


class IllegalSwipeChange(StorageError):
    """A swipe may only move up: pass -> like/super_like, like -> super_like (409)."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(f"a {old!r} swipe cannot be changed to {new!r}")
        self.old, self.new = old, new


class MatchNotFound(StorageError, LookupError):
    """No match with this id (404)."""

    def __init__(self, match_id: UUID) -> None:
        super().__init__(f"no match {match_id}")
        self.match_id = match_id


class NotAMember(StorageError, PermissionError):
    """The user is neither side of the match (403)."""

    def __init__(self, match_id: UUID, user_id: UUID) -> None:
        super().__init__(f"user {user_id} is not part of match {match_id}")
        self.match_id, self.user_id = match_id, user_id


class IllegalTransition(StorageError):
    """A status change the lifecycle does not allow (409)."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(f"a {old!r} match cannot become {new!r}")
        self.old, self.new = old, new


class InvalidCursor(StorageError, ValueError):
    """A pagination cursor this layer did not produce (400)."""
