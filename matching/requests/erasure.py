"""Request matching's part of erasing a person: their provider entry (out of every replica's
index through the change log), their requests and outcomes, and their place in others'
stored results."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from matching.requests.storage import providers, requests


class RequestsErasure:
    """An `ErasureStep`; stateless."""

    async def lock(self, conn: asyncpg.Connection, user_id: UUID) -> None:
        """Nothing to lock ahead of the profile row: these rows are keyed by the person."""

    async def erase(
        self,
        conn: asyncpg.Connection,
        user_id: UUID,
        topic: str,  # noqa: ARG002 (no notices: nobody else's state changes)
    ) -> dict[str, Any]:
        erased = await requests.erase(conn, user_id)
        return {"provider_erased": await providers.delete(conn, user_id), **erased}
