"""The `matching` command: migrate, seed, build-index, expire-matches, up, jobs, simulate,
models."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from matching.core.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"matching: {exc}") from exc


def _require_database(settings: Settings) -> str:
    if not settings.database.url:
        raise SystemExit("matching: DATABASE_URL is not set (or use `matching up`)")
    return settings.database.url


def cmd_migrate(_: argparse.Namespace) -> int:
    from matching.core.storage.migrate import migrate_url

    applied = asyncio.run(migrate_url(_require_database(_settings())))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from matching.devtools.seed import seed

    settings = _settings()
    _require_database(settings)
    report = asyncio.run(seed(settings, args.users, seed=args.seed))
    print(
        f"seeded {report.inserted} new people ({report.skipped} already there) "
        f"in {report.seconds:.1f}s"
    )
    return 0


def cmd_build_index(_: argparse.Namespace) -> int:
    from training.build_index import build_index

    settings = _settings()
    _require_database(settings)
    folder, manifest = asyncio.run(build_index(settings))
    print(f"index snapshot {folder}")
    print(json.dumps({k: manifest[k] for k in ("row_count", "params", "metrics")}, indent=2))
    return 0


def cmd_expire_matches(_: argparse.Namespace) -> int:
    """Expire matches past their expires_at; safe to run concurrently and repeatedly."""
    from datetime import UTC, datetime

    from matching.core.storage.db import connect
    from matching.discovery.storage.matches import expire_matches

    settings = _settings()
    _require_database(settings)

    async def run() -> int:
        conn = await connect(settings.database)
        try:
            return await expire_matches(conn, datetime.now(UTC), settings.kafka.matching_topic)
        finally:
            await conn.close()

    print(f"expired {asyncio.run(run())} match(es)")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from matching.devtools.up import run_up

    return run_up(args)


def cmd_jobs(args: argparse.Namespace) -> int:
    """Run one offline job (or `all` of them in order) on local Ray or RAY_ADDRESS."""
    from training import jobs

    settings = _settings()
    _require_database(settings)
    names = list(jobs.PIPELINE) if args.job == "all" else [args.job]
    try:
        if args.job == "all" and args.config:
            raise jobs.JobError("--config names one job's file; use --set JOB.KEY=VALUE")
        configs = {}
        for name in names:
            own = [s.partition(".")[2] for s in args.set if s.partition(".")[0] == name]
            plain = [] if args.job == "all" else [s for s in args.set if "." not in s]
            path = Path(args.config) if args.config else None
            configs[name] = jobs.load_config(name, path, own + plain)
        jobs.init_ray()
        summaries = jobs.run_pipeline(settings, configs, names)
    except Exception as exc:  # every failure: one clear line and a non-zero exit
        logging.getLogger("matching.jobs").debug("job failed", exc_info=True)
        print(f"matching jobs {args.job}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for summary in summaries:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Play out a two-sided market with hidden tastes (see docs/simulator.md)."""
    from dataclasses import asdict

    from matching.devtools.simulate import simulate

    settings = _settings()
    if args.target is None:
        _require_database(settings)
    report = asyncio.run(
        simulate(
            settings,
            args.users,
            args.days,
            seed=args.seed,
            sessions_per_day=args.sessions_per_day,
            target=args.target,
        )
    )
    print(json.dumps(asdict(report), indent=2, default=str))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List versions, promote one (gated by its evaluation unless --force), roll back."""
    from matching.core.ml.registry import PromotionRefused, Registry, RegistryError

    settings = _settings()
    registry = Registry.from_settings(settings)
    try:
        if args.action == "list":
            print(json.dumps(registry.describe(), indent=2, default=str))
            return 0
        if args.action == "promote":
            live = registry.promote(args.kind, args.version, force=args.force, by=args.by)
        else:
            live = registry.rollback(args.kind, by=args.by)
    except (PromotionRefused, RegistryError) as exc:
        print(f"matching models {args.action}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(live, indent=2, default=str))
    if not args.no_apply:
        from serve_app.deploy import apply_live

        applied = apply_live(registry)
        if applied:
            print(f"applied to running Serve applications: {', '.join(applied)}")
        else:
            print("no running Serve application found: replicas load it when they start")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="matching", description=__doc__)
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    seed = sub.add_parser("seed", help="load the deterministic demo population")
    seed.add_argument("--users", type=int, default=2000)
    seed.add_argument("--seed", type=int, default=42)
    seed.set_defaults(fn=cmd_seed)
    sub.add_parser("build-index", help="build and publish a FAISS index snapshot").set_defaults(
        fn=cmd_build_index
    )
    sub.add_parser(
        "expire-matches", help="expire matches older than MATCHING_MATCH_TTL_DAYS"
    ).set_defaults(fn=cmd_expire_matches)
    up = sub.add_parser("up", help="start everything locally, with a demo population")
    up.add_argument("--users", type=int, default=2000, help="demo population size")
    up.add_argument(
        "--home", default=None, help="data folder (default $MATCHING_HOME or .matching)"
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--composition", choices=["auto", "pipeline", "single"], default="auto")
    up.set_defaults(fn=cmd_up)

    from training.jobs import JOBS

    jobs = sub.add_parser("jobs", help="offline Ray Data jobs (local Ray or RAY_ADDRESS)")
    jobs.add_argument("job", choices=[*JOBS, "all"])
    jobs.add_argument("--config", help="config file (default configs/<job>.yaml)")
    jobs.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key (JOB.KEY=VALUE with `all`)",
    )
    jobs.set_defaults(fn=cmd_jobs)

    sim = sub.add_parser("simulate", help="simulate a two-sided market with hidden tastes")
    sim.add_argument("--users", type=int, default=1000)
    sim.add_argument("--days", type=int, default=14)
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--sessions-per-day", type=float, default=0.3)
    sim.add_argument(
        "--target", default=None, help="base URL of a running service (else in-process)"
    )
    sim.set_defaults(fn=cmd_simulate)

    models = sub.add_parser("models", help="the model registry: list, promote, rollback")
    models.add_argument("action", choices=["list", "promote", "rollback"])
    models.add_argument("version", nargs="?", help="version to promote, or latest")
    models.add_argument("--kind", choices=["models", "index"], default="models")
    models.add_argument("--force", action="store_true", help="promote even if metrics are worse")
    models.add_argument("--by", default="cli", help="who promotes (kept in the history)")
    models.add_argument(
        "--no-apply", action="store_true", help="only move the live pointer in the registry"
    )
    models.set_defaults(fn=cmd_models)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
