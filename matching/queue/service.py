"""The queue's operations for the routes: tickets, confirmation, sessions and figures.
Every change is one atomic script of the live queue; this maps its outcomes to the API."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from uuid import UUID, uuid4

from redis.exceptions import RedisError

from matching.core.api.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
)
from matching.core.api.resources import Resources
from matching.core.auth import rules
from matching.core.auth.identity import Identity
from matching.queue.definition import QueueDefinition
from matching.queue.schemas import (
    MatchPublic,
    QueueStats,
    SessionPublic,
    TicketCreate,
    TicketPublic,
)
from matching.queue.storage import stats as stats_store
from matching.queue.storage import views
from matching.queue.storage.live import LiveQueue

P = ParamSpec("P")
R = TypeVar("R")


def redis_guarded(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A lost or slow Redis is a 503 naming it (the queue's live state is there)."""

    @wraps(fn)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            raise DependencyUnavailable("redis", str(exc) or type(exc).__name__) from exc

    return inner


class QueueService:
    """One per replica; stateless apart from the live queue's client."""

    def __init__(self, resources: Resources, live: LiveQueue, definition: QueueDefinition) -> None:
        self._r, self.live, self.definition = resources, live, definition

    @redis_guarded
    async def enqueue(self, user: UUID, body: TicketCreate) -> tuple[TicketPublic, bool]:
        """The new ticket and True, or the one `client_request_id` already made and False."""
        problem = self.definition.problem(body.criteria)
        if problem:
            raise InvalidInput(*problem)
        ckey = self.definition.key(body.criteria)
        outcome, value, new = await self.live.enqueue(
            user, uuid4(), body.client_request_id, ckey, body.criteria
        )
        if new is not None:
            raw, place = new
            where = {"position": place.position, "estimated_wait_s": place.estimated_wait_s}
            return views.ticket(UUID(value), raw).model_copy(update=where), True
        if outcome == "existing":
            return await self.ticket(UUID(value), None), False
        if outcome == "conflict":
            raise Conflict("user_id", f"user_id: already has an open ticket ({value})")
        if outcome == "in_session":
            raise Conflict("user_id", f"user_id: in an active session ({value}); leave it first")
        wait_s = math.ceil(int(value) / 1000)
        raise Conflict("user_id", f"user_id: cooling down after a missed match; retry in {wait_s}s")

    @redis_guarded
    async def ticket(self, ticket_id: UUID, caller: Identity | None) -> TicketPublic:
        """The ticket (its place and estimated wait while pending); 404, or 403 for others."""
        raw = await self.live.ticket(ticket_id)
        if raw:
            found = views.ticket(ticket_id, raw)
        else:
            async with self._r.connection() as conn:
                row = await stats_store.ticket(conn, ticket_id)
            if row is None:
                raise NotFound("ticket_id", "ticket_id: no such ticket")
            found = views.ticket_row(row)
        if caller is not None:
            rules.require_self(caller, found.user_id, "ticket_id")
        if found.status == "pending" and raw:
            position, estimate = await self.live.position(ticket_id, raw["ckey"])
            found = found.model_copy(update={"position": position, "estimated_wait_s": estimate})
        return found

    @redis_guarded
    async def cancel(self, ticket_id: UUID, caller: Identity) -> TicketPublic:
        """Cancel a waiting ticket, or leave a match still being confirmed (the partner goes
        back to the queue); 409 once the ticket is final."""
        user = "" if caller.is_service else str(caller.subject)
        outcome = await self.live.run("CANCEL", str(ticket_id), user, "cancelled")
        if outcome[0] == "not_found":
            raise NotFound("ticket_id", "ticket_id: no such open ticket")
        if outcome[0] == "forbidden":
            raise Forbidden("ticket_id", "ticket_id: a user may only cancel their own tickets")
        if outcome[0] == "final":
            raise Conflict("ticket_id", f"ticket_id: the ticket is already {outcome[1]}")
        return await self.ticket(ticket_id, None)

    @redis_guarded
    async def confirm(self, user: UUID, match_id: UUID, confirmed: bool) -> MatchPublic:
        """Confirm or decline; the second confirmation starts the session."""
        raw = await self.live.match(match_id)
        if not raw:
            raise NotFound("match_id", "match_id: no such match")
        item = self.definition.item_for(
            views.match(match_id, raw, None).criteria, random.randrange(1 << 30)
        )
        outcome = await self.live.run(
            "CONFIRM", str(match_id), str(user), "1" if confirmed else "0", str(uuid4()), item or ""
        )
        if outcome[0] == "forbidden":
            raise Forbidden("match_id", "match_id: only its members may confirm a match")
        if outcome[0] == "closed":
            raise Conflict("match_id", f"match_id: the match is already {outcome[1]}")
        return await self.match(match_id, None)

    @redis_guarded
    async def match(self, match_id: UUID, caller: Identity | None) -> MatchPublic:
        raw = await self.live.match(match_id)
        if not raw:
            raise NotFound("match_id", "match_id: no such match")
        if caller is not None:
            members = (UUID(raw["ua"]), UUID(raw["ub"]))
            rules.require_member(caller, members, "match_id")
        session = await self.live.session(raw["session"]) if raw.get("session") else None
        return views.match(match_id, raw, views.session(session) if session else None)

    @redis_guarded
    async def active_session(self, user: UUID) -> SessionPublic:
        sid = await self.live.active_session_id(user)
        raw = await self.live.session(sid) if sid else None
        if not raw:
            raise NotFound("user_id", "user_id: no active session")
        return views.session(raw)

    @redis_guarded
    async def leave(self, user: UUID, session_id: UUID | None) -> SessionPublic:
        """End the session; the partner is told `partner_left`."""
        outcome = await self.live.run(
            "LEAVE", str(user), "" if session_id is None else str(session_id)
        )
        if outcome[0] == "not_found":
            raise NotFound("session_id", "session_id: no such active session")
        if outcome[0] == "forbidden":
            raise Forbidden("session_id", "session_id: only its members may leave a session")
        if outcome[0] == "final":
            raise Conflict("session_id", f"session_id: the session is already {outcome[1]}")
        return views.session(await self.live.session(outcome[1]))

    @redis_guarded
    async def stats(self) -> QueueStats:
        depth = await self.live.depths(self.definition.all_keys())
        async with self._r.connection() as conn:
            figures: dict[str, Any] = await stats_store.figures(conn)
        return QueueStats(
            depth={k: n for k, n in depth.items() if n}, waiting=sum(depth.values()), **figures
        )
