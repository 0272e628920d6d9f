"""Bounded retention of the rows that name people after they are gone: published events,
the index change log and the erasure records. Run by the periodic maintenance."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from matching.core.settings import RetentionSettings
from matching.core.storage.erasure import prune_records
from matching.core.storage.outbox import prune_published
from matching.core.storage.profiles import prune_changes


async def prune(conn: asyncpg.Connection, retention: RetentionSettings) -> dict[str, int]:
    """Delete what outlived its retention; how many rows went, per table."""
    return {
        "event_outbox": await prune_published(conn, timedelta(hours=retention.outbox_hours)),
        "index_changes": await prune_changes(conn, timedelta(hours=retention.change_log_hours)),
        "erasures": await prune_records(conn, timedelta(days=retention.erasure_days)),
    }
