"""The `matching` command: migrate, seed, build-index, expire-matches, up."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from matching.settings import Settings, SettingsError


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
    from matching.storage.migrate import migrate_url

    applied = asyncio.run(migrate_url(_require_database(_settings())))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from matching.seed import seed

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

    from matching.storage.db import connect
    from matching.storage.matches import expire_matches

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
    from matching.up import run_up

    return run_up(args)


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
    up.add_argument("--detach", action="store_true", help="exit once the service is ready")
    up.set_defaults(fn=cmd_up)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
