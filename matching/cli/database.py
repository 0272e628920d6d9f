"""`matching migrate` and `matching expire-matches`: the database's own upkeep."""

from __future__ import annotations

import argparse
import asyncio

from matching.cli.common import Subparsers, require_database, settings


def cmd_migrate(_: argparse.Namespace) -> int:
    """Apply pending migrations."""
    from matching.core.storage.migrate import migrate_url

    applied = asyncio.run(migrate_url(require_database(settings())))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def cmd_expire_matches(_: argparse.Namespace) -> int:
    """Expire matches past their expires_at; safe to run concurrently and repeatedly."""
    from datetime import UTC, datetime

    from matching.core.storage.db import connect
    from matching.discovery.storage.matches import expire_matches

    current = settings()
    require_database(current)

    async def run() -> int:
        conn = await connect(current.database)
        try:
            return await expire_matches(conn, datetime.now(UTC), current.kafka.matching_topic)
        finally:
            await conn.close()

    print(f"expired {asyncio.run(run())} match(es)")
    return 0


def register(sub: Subparsers) -> None:
    """Add migrate and expire-matches."""
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser(
        "expire-matches", help="expire matches older than MATCHING_MATCH_TTL_DAYS"
    ).set_defaults(fn=cmd_expire_matches)
