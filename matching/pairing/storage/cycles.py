"""A cycle's reads (seekers, exclusions) and its one atomic write of the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg

from matching.core.domain.filters import SearchFilters
from matching.core.domain.pairs import ordered_pair, pair_key
from matching.core.domain.person import Person
from matching.core.storage.outbox import enqueue
from matching.core.storage.profiles import fetch_people
from matching.pairing.graph import Seeker
from matching.pairing.storage.pools import check_fence

UNMATCHED = "pairing.unmatched"


@dataclass(frozen=True, slots=True)
class Pair:
    """Two seekers (user1 < user2, as stored) and their edge score."""

    user1_id: UUID
    user2_id: UUID
    score: float

    @property
    def key(self) -> str:
        return pair_key(self.user1_id, self.user2_id)


def make_pair(a: UUID, b: UUID, score: float) -> Pair:
    return Pair(*ordered_pair(a, b), score)


@dataclass(frozen=True, slots=True)
class Totals:
    seekers: int
    optimal: float
    greedy: float


async def start_cycle(conn: asyncpg.Connection, pool: str, token: int) -> int:
    async with conn.transaction():
        await check_fence(conn, pool, token)
        cycle_id: int = await conn.fetchval(
            "INSERT INTO pairing_cycles (pool, fence) VALUES ($1, $2) RETURNING id", pool, token
        )
    return cycle_id


async def load_seekers(conn: asyncpg.Connection, pool: str) -> list[Seeker]:
    """Active seekers with an embedding of the pool's most common model version (vectors of
    two models are not comparable; the others wait, their wait not counted)."""
    version = await conn.fetchval(
        "SELECT f.model_version FROM pairing_seekers s JOIN user_features f USING (user_id) "
        "WHERE s.pool = $1 AND f.embedding IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        pool,
    )
    if version is None:
        return []
    rows = await conn.fetch(
        "SELECT user_id, criteria, cycles_waited FROM pairing_seekers WHERE pool = $1", pool
    )
    waits = {r["user_id"]: (r["cycles_waited"], r["criteria"]) for r in rows}
    people = await fetch_people(conn, version, list(waits))
    out = []
    for p in sorted(people, key=lambda p: p.person.user_id):
        waited, criteria = waits[p.person.user_id]
        out.append(Seeker(p.person, p.embedding, waited, criteria_filters(criteria, p.person)))
    return out


def criteria_filters(criteria: dict[str, object], person: Person) -> SearchFilters:
    """A seeker's pool criteria as the search filters they apply to others."""
    return SearchFilters(
        latitude=person.latitude,
        longitude=person.longitude,
        max_distance_km=_num(criteria.get("max_distance_km")),
        age_min=_int(criteria.get("age_min")),
        age_max=_int(criteria.get("age_max")),
    )


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


async def exclusions(
    conn: asyncpg.Connection, user_ids: Sequence[UUID], window: timedelta
) -> list[tuple[UUID, UUID]]:
    """Blocks (either way) and pairs made within `window`, among `user_ids`."""
    rows = await conn.fetch(
        "SELECT blocker_id AS a, blocked_id AS b FROM user_blocks "
        "WHERE blocker_id = ANY($1::uuid[]) AND blocked_id = ANY($1::uuid[]) "
        "UNION SELECT user1_id, user2_id FROM pairing_audit "
        "WHERE created_at > now() - $2::interval "
        "AND user1_id = ANY($1::uuid[]) AND user2_id = ANY($1::uuid[])",
        list(user_ids),
        window,
    )
    return [(r["a"], r["b"]) for r in rows]


async def record_result(
    conn: asyncpg.Connection,
    cycle: tuple[str, int, int],
    pairs: Sequence[Pair],
    considered: Sequence[UUID],
    totals: Totals,
    topic: str,
) -> list[Pair]:
    """One transaction: the audit rows (every step pending), the paired seekers out of the
    pool, the unpaired ones' wait counted and told. Pairs with someone who left the pool
    meanwhile are dropped. `cycle` is (pool, cycle id, token); returns the pairs kept."""
    pool, cycle_id, token = cycle
    async with conn.transaction():
        await check_fence(conn, pool, token)
        present = {
            r["user_id"]
            for r in await conn.fetch(
                "SELECT user_id FROM pairing_seekers WHERE pool = $1 AND user_id = ANY($2) "
                "ORDER BY user_id FOR UPDATE",
                pool,
                list(considered),
            )
        }
        kept = [p for p in pairs if p.user1_id in present and p.user2_id in present]
        await conn.executemany(
            "INSERT INTO pairing_audit (cycle_id, pair_key, pool, user1_id, user2_id, score) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [(cycle_id, p.key, pool, p.user1_id, p.user2_id, p.score) for p in kept],
        )
        paired = [u for p in kept for u in (p.user1_id, p.user2_id)]
        await conn.execute(
            "DELETE FROM pairing_seekers WHERE pool = $1 AND user_id = ANY($2)", pool, paired
        )
        waiting = await conn.fetch(
            "UPDATE pairing_seekers SET cycles_waited = cycles_waited + 1 "
            "WHERE pool = $1 AND user_id = ANY($2) RETURNING user_id, cycles_waited",
            pool,
            sorted(present - set(paired)),
        )
        for row in waiting:
            payload = {"pool": pool, "cycle_id": cycle_id, "user_id": str(row["user_id"]),
                       "cycles_waited": row["cycles_waited"]}  # fmt: skip
            await enqueue(conn, topic, str(row["user_id"]), UNMATCHED, payload)
        await conn.execute(
            "UPDATE pairing_cycles SET finished_at = now(), seekers = $2, pairs = $3, "
            "optimal_total = $4, greedy_total = $5 WHERE id = $1",
            cycle_id, totals.seekers, len(kept), totals.optimal, totals.greedy,
        )  # fmt: skip
    return kept


async def set_status(conn: asyncpg.Connection, cycle_id: int, status: str) -> None:
    await conn.execute("UPDATE pairing_cycles SET status = $2 WHERE id = $1", cycle_id, status)


async def orphaned_cycles(conn: asyncpg.Connection, pool: str, token: int) -> list[asyncpg.Record]:
    """Cycles of earlier runners (smaller tokens) that never completed."""
    return list(
        await conn.fetch(
            "SELECT id, finished_at FROM pairing_cycles "
            "WHERE pool = $1 AND status = 'running' AND fence < $2 ORDER BY id",
            pool,
            token,
        )
    )


async def cycle(conn: asyncpg.Connection, cycle_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM pairing_cycles WHERE id = $1", cycle_id)


_RECENT = """
SELECT pool, id, status, started_at, finished_at, seekers, pairs, optimal_total, greedy_total
FROM (
    SELECT *, row_number() OVER (PARTITION BY pool ORDER BY id DESC) AS nth
    FROM pairing_cycles
    WHERE $1::text IS NULL OR pool = $1
) c
WHERE nth <= $2
ORDER BY pool, id DESC
"""


async def recent(conn: asyncpg.Connection, pool: str | None, per_pool: int) -> list[asyncpg.Record]:
    """The last `per_pool` cycles of each pool (of `pool` only, given one), newest first."""
    return list(await conn.fetch(_RECENT, pool, per_pool))
