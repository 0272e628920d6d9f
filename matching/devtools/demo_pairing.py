"""Demo data for pairing: a weekly pool with the demo population opted in, so
`matching pairing run --pool demo-weekly` has someone to pair right after `matching up`."""

from __future__ import annotations

import asyncpg

from matching.pairing.storage.pools import open_pool

DEMO_POOL = "demo-weekly"


async def seed_pairing(conn: asyncpg.Connection) -> int:
    """Open the demo pool and opt in every active person not yet in it; returns how many."""
    await open_pool(conn, DEMO_POOL)
    status = await conn.execute(
        "INSERT INTO pairing_seekers (pool, user_id) "
        "SELECT $1, id FROM profiles WHERE active ON CONFLICT DO NOTHING",
        DEMO_POOL,
    )
    return int(status.split()[-1])
