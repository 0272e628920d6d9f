"""The cycle runner: under the pool's fenced lease, finish what earlier runners left, then
pair everyone waiting and carry out each pair's side effects through the outbox.

Every write carries the lease's token and PostgreSQL checks it against the pool's fence in
the same transaction, so a runner that lost its lease (a pause past the TTL) fails on its
next write instead of pairing anyone twice. Crash anywhere: the result is written in one
transaction (all pairs or none), and each side effect is marked done with its event, so the
next run's reconciliation does exactly what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis

from matching.core import metrics
from matching.core.cache.lease import Lease
from matching.core.settings import Settings
from matching.pairing.plan import Planner, local_plan
from matching.pairing.storage import audit, cycles, pools
from matching.pairing.storage.audit import AuditRow
from matching.pairing.storage.pools import StaleFence

log = logging.getLogger(__name__)
StepHook = Callable[[AuditRow, str], Awaitable[None]]


@dataclass
class CycleReport:
    """What one run did; `status` is completed, busy (another runner holds the lease) or
    stale (this runner lost its lease and wrote nothing more)."""

    pool: str
    status: str
    cycle_id: int | None = None
    seekers: int = 0
    pairs: int = 0
    optimal_total: float = 0.0
    greedy_total: float = 0.0
    reconciled_steps: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lease_name(pool: str) -> str:
    return f"pairing:{pool}"


def record_cycle(report: CycleReport) -> None:
    """A run's status; for a cycle that ran, its duration and both pairings' totals."""
    pool = report.pool
    metrics.inc("matching_pairing_cycles_total", pool=pool, status=report.status)
    if report.status != "completed":
        return
    metrics.observe("matching_pairing_cycle_seconds", report.seconds, pool=pool)
    for algorithm, total in (("optimal", report.optimal_total), ("greedy", report.greedy_total)):
        metrics.set_gauge("matching_pairing_total_weight", total, pool=pool, algorithm=algorithm)


class Runner:
    """Runs cycles and reconciliations of pools; `on_step` is called after each side effect
    (tests stop a runner there)."""

    def __init__(
        self,
        settings: Settings,
        db: asyncpg.Pool,
        redis: Redis,
        planner: Planner = local_plan,
        on_step: StepHook | None = None,
    ) -> None:
        self._settings, self.db, self._redis = settings, db, redis
        self._s = settings.pairing
        self._planner, self._on_step = planner, on_step

    async def run(self, pool: str) -> CycleReport:
        """One cycle of `pool` (reconciling earlier ones first), or busy; recorded in the
        cycle metrics, a cycle that raised as failed."""
        try:
            report = await self._leased(pool, self._cycle)
        except Exception:
            metrics.inc("matching_pairing_cycles_total", pool=pool, status="failed")
            raise
        record_cycle(report)
        return report

    async def reconcile(self, pool: str) -> CycleReport:
        """Only finish earlier cycles' incomplete pairs."""
        return await self._leased(pool, self._reconcile_only)

    async def _leased(
        self, pool: str, body: Callable[[str, int, Lease], Awaitable[CycleReport]]
    ) -> CycleReport:
        started = time.perf_counter()
        for _ in range(2):  # a second try only after raising a counter Redis lost
            lease = Lease(self._redis, lease_name(pool), self._s.lease_ttl_s, self._s.heartbeat_s)
            if not await lease.acquire():
                holder = await lease.holder()
                return CycleReport(pool, "busy", extra={"holder_token": holder})
            try:
                assert lease.token is not None
                async with self.db.acquire() as conn:
                    fence = await pools.advance_fence(conn, pool, lease.token)
                if fence is None:
                    report = await body(pool, lease.token, lease)
                    report.seconds = round(time.perf_counter() - started, 3)
                    return report
                log.warning("pool %s: fence %s ahead of token %s", pool, fence, lease.token)
                await lease.raise_counter(fence)
            except StaleFence as exc:
                log.warning("pool %s: lease lost, stopping (%s)", pool, exc)
                return CycleReport(pool, "stale", extra={"token": lease.token})
            finally:
                await lease.release()
        raise RuntimeError(f"pool {pool}: could not get a fresh fencing token")

    async def _reconcile_only(self, pool: str, token: int, _lease: Lease) -> CycleReport:
        return CycleReport(pool, "completed", reconciled_steps=await self._reconcile(pool, token))

    async def _reconcile(self, pool: str, token: int) -> int:
        """Finish what runners with smaller tokens left; returns the steps done now."""
        async with self.db.acquire() as conn:
            orphans = await cycles.orphaned_cycles(conn, pool, token)
            for row in orphans:
                if row["finished_at"] is None:  # died before its result: nobody was paired
                    await cycles.set_status(conn, row["id"], "failed")
            steps = await self._side_effects(conn, await audit.open_rows(conn, pool), token)
            left = {r.cycle_id for r in await audit.open_rows(conn, pool)}
            for row in orphans:
                if row["finished_at"] is not None and row["id"] not in left:
                    await cycles.set_status(conn, row["id"], "completed")
        return steps

    async def _cycle(self, pool: str, token: int, lease: Lease) -> CycleReport:
        reconciled = await self._reconcile(pool, token)
        async with self.db.acquire() as conn:
            cycle_id = await cycles.start_cycle(conn, pool, token)
            seekers = await cycles.load_seekers(conn, pool)
            window = timedelta(days=self._s.past_partner_days)
            excluded = await cycles.exclusions(conn, [x.user_id for x in seekers], window)
            # CPU-bound (or waiting on Ray): off the event loop so the heartbeat keeps beating.
            result = await asyncio.to_thread(self._planner, seekers, excluded, self._s)
            if lease.lost.is_set():
                raise StaleFence(pool, token, None)
            pairs = [
                cycles.make_pair(seekers[i].user_id, seekers[j].user_id, w)
                for i, j, w in result.pairs
            ]
            totals = cycles.Totals(len(seekers), result.optimal_total, result.greedy_total)
            topic = self._settings.kafka.matching_topic
            considered = [x.user_id for x in seekers]
            kept = await cycles.record_result(
                conn, (pool, cycle_id, token), pairs, considered, totals, topic
            )
            await self._side_effects(conn, await audit.open_rows(conn, pool, [cycle_id]), token)
            if not await audit.open_rows(conn, pool, [cycle_id]):
                await cycles.set_status(conn, cycle_id, "completed")
        return CycleReport(
            pool, "completed", cycle_id, len(seekers), len(kept),
            result.optimal_total, result.greedy_total, reconciled,
        )  # fmt: skip

    async def _side_effects(
        self, conn: asyncpg.Connection, rows: list[AuditRow], token: int
    ) -> int:
        """Every missing step of `rows`; a failing pair is counted and left for reconcile."""
        topic, done = self._settings.kafka.matching_topic, 0
        for row in rows:
            try:
                for step in audit.STEPS:
                    if step in row.done:
                        continue
                    if await audit.do_step(conn, row, step, token, topic):
                        done += 1
                    if self._on_step is not None:
                        await self._on_step(row, step)
            except StaleFence:
                raise
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("pair %s: side effect failed: %s", row.pair_key, exc)
                await audit.record_failure(conn, row, self._s.max_attempts)
        return done
