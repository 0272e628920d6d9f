"""The dev subcommands of `matching` (up, seed, simulate, token), added through the
`matching.commands` entry point so that the production CLI never imports devtools."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid

from matching.cli.common import Subparsers, require_database, settings


def cmd_up(args: argparse.Namespace) -> int:
    """Start everything locally, with a demo population."""
    from matching.devtools.up import run_up

    return run_up(args)


def cmd_seed(args: argparse.Namespace) -> int:
    """Load the deterministic demo population."""
    from matching.devtools.seed import seed

    current = settings()
    require_database(current)
    report = asyncio.run(seed(current, args.users, seed=args.seed))
    print(
        f"seeded {report.inserted} new people ({report.skipped} already there) "
        f"in {report.seconds:.1f}s"
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Play out a two-sided market with hidden tastes (see docs/simulator.md)."""
    from dataclasses import asdict

    from matching.devtools.simulate import simulate

    current = settings()
    if args.target is None:
        require_database(current)
    report = asyncio.run(
        simulate(
            current,
            args.users,
            args.days,
            seed=args.seed,
            sessions_per_day=args.sessions_per_day,
            target=args.target,
        )
    )
    print(json.dumps(asdict(report), indent=2, default=str))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Print a development token signed with AUTH_ACCESS_SECRET (e.g. from .matching/env)."""
    from matching.core.auth.tokens import mint_token
    from matching.core.settings import SettingsError

    try:
        token = mint_token(settings().auth, args.sub, frozenset(args.scope), args.ttl_s)
    except SettingsError as exc:
        raise SystemExit(f"matching: {exc}") from exc
    print(token)
    return 0


def register(sub: Subparsers) -> None:
    """Add up, seed, simulate and token (the `matching.commands` entry point of this package)."""
    seed = sub.add_parser("seed", help="load the deterministic demo population")
    seed.add_argument("--users", type=int, default=2000)
    seed.add_argument("--seed", type=int, default=42)
    seed.set_defaults(fn=cmd_seed)

    up = sub.add_parser("up", help="start everything locally, with a demo population")
    up.add_argument("--users", type=int, default=2000, help="demo population size")
    up.add_argument(
        "--home", default=None, help="data folder (default $MATCHING_HOME or .matching)"
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--composition", choices=["auto", "pipeline", "single"], default="auto")
    up.set_defaults(fn=cmd_up)

    sim = sub.add_parser("simulate", help="simulate a two-sided market with hidden tastes")
    sim.add_argument("--users", type=int, default=1000)
    sim.add_argument("--days", type=int, default=14)
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--sessions-per-day", type=float, default=0.3)
    sim.add_argument(
        "--target", default=None, help="base URL of a running service (else in-process)"
    )
    sim.set_defaults(fn=cmd_simulate)

    token = sub.add_parser("token", help="mint a development token (AUTH_ACCESS_SECRET)")
    token.add_argument("--sub", type=uuid.UUID, required=True, help="the user's id (UUID)")
    token.add_argument(
        "--scope", action="append", default=[], help="a scope, e.g. admin (repeatable)"
    )
    token.add_argument("--ttl-s", type=int, default=3600, help="seconds until it expires")
    token.set_defaults(fn=cmd_token)
