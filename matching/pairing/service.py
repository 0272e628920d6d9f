"""Pools and seekers over the shared resources; the cycles run in runner.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from matching.core.api.errors import NotFound
from matching.core.api.resources import Resources
from matching.core.storage.errors import UnknownUser
from matching.pairing.schemas import (
    CyclePublic,
    PairingHistory,
    PairingPublic,
    PoolCycles,
    PoolPublic,
    PoolStatus,
    RecentCycles,
    SeekerCreate,
    SeekerCriteria,
    SeekerPublic,
    YourWait,
)
from matching.pairing.storage import audit, cycles, pools
from matching.pairing.storage.pools import UnknownPool

HISTORY_LIMIT = 100


class PairingService:
    """What the routes call; authorization is decided by the routes (core.auth.rules)."""

    def __init__(self, resources: Resources) -> None:
        self._r = resources

    async def open_pool(self, pool: str) -> PoolPublic:
        async with self._r.connection() as conn:
            return PoolPublic(pool=pool, created=await pools.open_pool(conn, pool))

    async def opt_in(self, pool: str, user_id: UUID, body: SeekerCreate) -> SeekerPublic:
        criteria = body.criteria.model_dump(exclude_none=True)
        async with self._r.connection() as conn:
            try:
                row = await pools.add_seeker(conn, pool, user_id, criteria)
            except UnknownPool as exc:
                raise NotFound("pool", f"pool: no pool {pool!r} (open it first)") from exc
            except UnknownUser as exc:
                raise NotFound("user_id", f"user_id: no profile {user_id}") from exc
        return _seeker(row)

    async def opt_out(self, pool: str, user_id: UUID) -> None:
        async with self._r.connection() as conn:
            if not await pools.remove_seeker(conn, pool, user_id):
                raise NotFound("user_id", f"user_id: {user_id} is not waiting in {pool!r}")

    async def status(self, pool: str, user_id: UUID | None) -> PoolStatus:
        s = self._r.settings.pairing
        async with self._r.connection() as conn:
            try:
                row = await pools.pool_summary(conn, pool)
            except UnknownPool as exc:
                raise NotFound("pool", f"pool: no pool {pool!r}") from exc
            mine = None if user_id is None else await pools.seeker(conn, pool, user_id)
        last = row["started_at"]
        next_at = None if last is None else last + timedelta(seconds=s.cycle_interval_s)
        you = None
        if user_id is not None:
            you = _your_wait(mine, row, s.max_wait_cycles)
        return PoolStatus(
            pool=pool, size=row["size"], next_cycle_at=next_at,
            last_cycle_id=row["cycle_id"], you=you,
        )  # fmt: skip

    async def recent_cycles(self, pool: str | None, per_pool: int) -> RecentCycles:
        async with self._r.connection() as conn:
            rows = await cycles.recent(conn, pool, per_pool)
        by_pool: dict[str, list[CyclePublic]] = {}
        for r in rows:
            by_pool.setdefault(r["pool"], []).append(_cycle(r))
        return RecentCycles(pools=[PoolCycles(pool=p, cycles=c) for p, c in by_pool.items()])

    async def history(self, user_id: UUID) -> PairingHistory:
        async with self._r.connection() as conn:
            rows = await audit.history(conn, user_id, HISTORY_LIMIT)
        return PairingHistory(user_id=user_id, pairings=[PairingPublic(**dict(r)) for r in rows])


def _cycle(row: Any) -> CyclePublic:
    return CyclePublic(
        cycle_id=row["id"], status=row["status"],
        started_at=row["started_at"], finished_at=row["finished_at"],
        seekers=row["seekers"], pairs=row["pairs"],
        optimal_total=row["optimal_total"], greedy_total=row["greedy_total"],
    )  # fmt: skip


def _seeker(row: Any) -> SeekerPublic:
    return SeekerPublic(
        pool=row["pool"], user_id=row["user_id"],
        criteria=SeekerCriteria(**row["criteria"]),
        cycles_waited=row["cycles_waited"], joined_at=row["joined_at"],
    )  # fmt: skip


def _your_wait(mine: Any, summary: Any, max_wait: int) -> YourWait:
    if mine is None:
        return YourWait(waiting=False)
    waited = int(mine["cycles_waited"])
    prioritised = waited >= max_wait
    chance = None
    if summary["seekers"]:
        share = 2 * summary["pairs"] / summary["seekers"]
        chance = 1.0 if prioritised and share > 0 else round(share, 3)
    return YourWait(
        waiting=True, cycles_waited=waited, prioritised=prioritised, estimated_chance=chance
    )
