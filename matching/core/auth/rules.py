"""Who may do what: one function per rule, called by the routes and services.

A user acts only as themselves (the token's `sub`); an internal API key is the platform's
backend and may act for any user; admin routes need the admin scope or an internal key.
"""

from __future__ import annotations

from uuid import UUID

from matching.core.api.errors import Forbidden, InvalidInput
from matching.core.auth.identity import Identity


def require_self(caller: Identity, user_id: UUID, field: str) -> None:
    """403 naming `field` when a user names someone other than themselves."""
    if not caller.is_service and caller.subject != user_id:
        raise Forbidden(field, f"{field}: a user may only act as themselves (the token's sub)")


def require_admin(caller: Identity) -> None:
    """403 unless the caller holds the admin scope or an internal API key."""
    if not caller.is_admin:
        raise Forbidden("authorization", "authorization: needs the admin scope or an API key")


def require_member(caller: Identity, members: tuple[UUID, UUID], field: str) -> None:
    """403 naming `field` when a user is not one of the two people of a match."""
    if not caller.is_service and caller.subject not in members:
        raise Forbidden(field, f"{field}: only its members may see or change a match")


def acting_user(caller: Identity, claimed: UUID | None, field: str) -> UUID:
    """Who performs an action: a user is themselves (a different body value is 403); a
    service must name the user in the body (422 when it does not)."""
    if caller.is_service:
        if claimed is None:
            raise InvalidInput(field, f"{field}: required when an API key acts for a user")
        return claimed
    assert caller.subject is not None
    if claimed is not None and claimed != caller.subject:
        raise Forbidden(field, f"{field}: a user may only act as themselves (the token's sub)")
    return caller.subject


def sees_full_profile(caller: Identity, user_id: UUID) -> bool:
    """The owner and the platform's services; everyone else gets the public view."""
    return caller.is_service or caller.subject == user_id
