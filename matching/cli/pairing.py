"""`matching pairing run --pool P` and `matching pairing reconcile`: what the pairing RayJob
(k8s/pairing.yaml) runs, by hand or on its schedule (k8s/raycronjobs.yaml)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

from matching.cli.common import Subparsers, require_database, settings
from matching.core.cache.client import create_client
from matching.core.settings import Settings
from matching.core.storage.db import create_pool
from matching.core.storage.migrate import migrate
from matching.pairing.plan import Planner, local_plan
from matching.pairing.runner import CycleReport, Runner
from matching.pairing.storage import audit

EXIT_BUSY = 3  # another runner holds the pool's lease: nothing was done, nothing is wrong
EXIT_STALE = 4  # this runner lost its lease mid-cycle; the next run reconciles


async def _with_runner(
    current: Settings, planner: Planner, body: Callable[[Runner], Awaitable[list[CycleReport]]]
) -> list[CycleReport]:
    redis = create_client(current.redis)
    if redis is None:
        raise SystemExit("matching pairing: REDIS_URL is not set (the runner's lease needs it)")
    db = await create_pool(current.database)
    try:
        async with db.acquire() as conn:
            await migrate(conn)
        return await body(Runner(current, db, redis, planner))
    finally:
        await db.close()
        await redis.aclose()


def _planner(args: argparse.Namespace) -> Planner:
    if not args.ray:
        return local_plan
    from matching.pairing.scale import ray_plan
    from training.jobs import init_ray  # the jobs' own: local Ray, or RAY_ADDRESS

    init_ray()
    return ray_plan


def _report(reports: list[CycleReport]) -> int:
    code = 0
    for report in reports:
        print(json.dumps(report.as_dict(), sort_keys=True, default=str))
        if report.status == "busy":
            holder = report.extra.get("holder_token")
            print(f"matching pairing: pool {report.pool} is being run by another runner "
                  f"(token {holder}); exiting", file=sys.stderr)  # fmt: skip
            code = max(code, EXIT_BUSY)
        elif report.status == "stale":
            print(f"matching pairing: lost the lease of pool {report.pool}; stopped",
                  file=sys.stderr)  # fmt: skip
            code = max(code, EXIT_STALE)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    """One cycle of a pool (after finishing what earlier runs left)."""
    current = settings()
    require_database(current)

    async def body(runner: Runner) -> list[CycleReport]:
        return [await runner.run(args.pool)]

    return _report(asyncio.run(_with_runner(current, _planner(args), body)))


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Finish every incomplete pair of earlier cycles (of one pool, or of all)."""
    current = settings()
    require_database(current)

    async def body(runner: Runner) -> list[CycleReport]:
        if args.pool:
            names = [args.pool]
        else:
            async with runner.db.acquire() as conn:
                names = await audit.pools_to_reconcile(conn)
        return [await runner.reconcile(name) for name in names]

    return _report(asyncio.run(_with_runner(current, local_plan, body)))


def register(sub: Subparsers) -> None:
    """Add `pairing run` and `pairing reconcile`."""
    pairing = sub.add_parser("pairing", help="batch pairing cycles (one runner per pool)")
    commands = pairing.add_subparsers(dest="pairing_command", required=True)
    run = commands.add_parser("run", help="run one cycle of a pool")
    run.add_argument("--pool", required=True)
    run.add_argument(
        "--ray", action="store_true", help="search and match on Ray (local, or RAY_ADDRESS)"
    )
    run.set_defaults(fn=cmd_run)
    reconcile = commands.add_parser("reconcile", help="finish incomplete pairs of past cycles")
    reconcile.add_argument("--pool", help="one pool (default: every pool with work left)")
    reconcile.set_defaults(fn=cmd_reconcile)
