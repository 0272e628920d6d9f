"""What ranking one discover needs from the database, read in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from matching.core.storage.profiles import LAST_SEQ_SQL
from matching.core.storage.registrations import CO_ATTENDEES_SQL
from matching.discovery.storage.swipes import EXCLUDED_SQL

# Exclusions, the people going to the requester's events and the change log's position, in
# one snapshot: a write that returned before this statement ran is in all three. The
# co-attendees come as two arrays filled by one aggregation, so their elements pair up
# (3-4x cheaper to send and decode than a jsonb object of them).
_CONTEXT = f"""
WITH co AS ({CO_ATTENDEES_SQL})
SELECT ARRAY({EXCLUDED_SQL}) AS excluded, c.n AS co_rows, c.ids AS co_ids,
       c.events AS co_events, {LAST_SEQ_SQL} AS seq
FROM (SELECT count(*) AS n, array_agg(user_id) AS ids, array_agg(event_id) AS events
      FROM co) c
"""


@dataclass(frozen=True, slots=True)
class RankingContext:
    excluded: frozenset[UUID]  # swiped on (passes within the cooldown), blocked, matched
    shared: dict[str, list[str]]  # person going to the requester's events -> those events
    complete: bool  # False: more co-attendees than fetched; `shared` is only a part
    seq: int  # the change log's position when this was read


async def ranking_context(
    conn: asyncpg.Connection,
    user_id: UUID,
    pass_cooldown_days: float | None,
    co_attendees_max: int,
) -> RankingContext:
    """Read the context of `user_id`'s discover; up to `co_attendees_max` registrations of
    the people going to their events (past that, `complete` is False)."""
    row = await conn.fetchrow(_CONTEXT, user_id, pass_cooldown_days, co_attendees_max)
    assert row is not None  # an aggregate row always comes back
    shared: dict[str, list[str]] = {}
    for person, event in zip(row["co_ids"] or (), row["co_events"] or (), strict=True):
        shared.setdefault(str(person), []).append(event)
    for events in shared.values():
        events.sort()
    return RankingContext(
        excluded=frozenset(row["excluded"]),
        shared=shared,
        complete=row["co_rows"] <= co_attendees_max,
        seq=int(row["seq"]),
    )
