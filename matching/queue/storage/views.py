"""Live Redis hashes and history rows as the API's public shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from matching.queue.schemas import MatchMember, MatchPublic, SessionPublic, TicketPublic


def _at(ms: str | None) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(float(ms) / 1000, UTC)


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


def ticket(tid: UUID, t: dict[str, str]) -> TicketPublic:
    created = _at(t["created"])
    assert created is not None
    return TicketPublic(
        ticket_id=tid,
        user_id=UUID(t["user"]),
        status=t["status"],  # type: ignore[arg-type]
        criteria=json.loads(t["criteria"]),
        match_id=_uuid(t.get("match")),
        client_request_id=t.get("crid") or None,
        created_at=created,
    )


def session(s: dict[str, str]) -> SessionPublic:
    created = _at(s["created"])
    assert created is not None
    return SessionPublic(
        session_id=UUID(s["id"]),
        match_id=UUID(s["match"]),
        user_ids=[UUID(s["ua"]), UUID(s["ub"])],
        criteria=json.loads(s["criteria"]),
        item_id=s.get("item") or None,
        status=s["status"],  # type: ignore[arg-type]
        created_at=created,
        ended_at=_at(s.get("ended")),
        left_by=_uuid(s.get("left_by")),
    )


def match(mid: UUID, m: dict[str, str], with_session: SessionPublic | None) -> MatchPublic:
    deadline = _at(m["deadline"])
    assert deadline is not None
    members = [
        MatchMember(
            user_id=UUID(m["u" + s]), ticket_id=UUID(m["t" + s]), confirmed=m["c" + s] == "1"
        )
        for s in ("a", "b")
    ]
    return MatchPublic(
        match_id=mid,
        status=m["status"],  # type: ignore[arg-type]
        members=members,
        criteria=json.loads(m["criteria"]),
        relaxation=json.loads(m["relaxation"]) or {},
        deadline=deadline,
        reason=m.get("reason") or None,
        session=with_session,
    )


def ticket_row(row: asyncpg.Record) -> TicketPublic:
    """A ticket from the history, once its live hash has expired."""
    return TicketPublic(
        ticket_id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        criteria=row["criteria"],
        match_id=row["match_id"],
        client_request_id=row["client_request_id"],
        created_at=row["created_at"],
    )
