"""The verified caller of one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

ADMIN_SCOPE = "admin"


@dataclass(frozen=True, slots=True)
class Identity:
    """A user (a token's `sub` and scopes) or one of the platform's services (an API key)."""

    kind: Literal["user", "service"]
    subject: UUID | None = None  # the user's id; None for a service
    scopes: frozenset[str] = frozenset()
    key_id: str | None = None  # a short hash of the service's key, never the key

    @classmethod
    def user(cls, subject: UUID, scopes: frozenset[str] = frozenset()) -> Identity:
        return cls("user", subject=subject, scopes=scopes)

    @classmethod
    def service(cls, key_id: str) -> Identity:
        return cls("service", key_id=key_id)

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def is_admin(self) -> bool:
        """The platform's services and users holding the admin scope."""
        return self.is_service or ADMIN_SCOPE in self.scopes

    @property
    def rate_key(self) -> str:
        """Whose budget a request spends: the authenticated subject, never a chosen id."""
        return f"key:{self.key_id}" if self.is_service else f"user:{self.subject}"
