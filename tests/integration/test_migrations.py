from __future__ import annotations

import asyncio

import asyncpg

from matching.core.storage.migrate import migrate, migration_files


async def test_migrations_are_idempotent_and_safe_concurrently(fresh_database: str) -> None:
    # fresh_database is already migrated once; run twice more, concurrently.
    conns = [await asyncpg.connect(fresh_database) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert results == [[], []]
        rows = await conns[0].fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [(r["version"], r["name"]) for r in rows] == [
            (v, n) for v, n, _ in migration_files()
        ]
    finally:
        for c in conns:
            await c.close()


async def test_first_migration_from_two_processes_at_once(fresh_database: str) -> None:
    admin = await asyncpg.connect(fresh_database)
    try:
        await admin.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await admin.close()
    conns = [await asyncpg.connect(fresh_database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(migration_files())]
        tables = {
            r["tablename"]
            for r in await conns[0].fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        assert {
            "profiles",
            "matching_preferences",
            "user_features",
            "user_matches",
            "swipe_history",
            "matching_analytics",
            "index_changes",
        } <= tables
    finally:
        for c in conns:
            await c.close()
