"""Change logs that replicas replay to keep an in-memory index in step with PostgreSQL
(`index_changes` for people, `provider_changes` for providers), and their pruning.

A log is a table of rows with an increasing `seq` and a `changed_at`, beside a one-row
horizon table holding the last seq pruned. Pruning deletes the longest prefix (in seq order)
of rows older than the retention and moves the horizon past it in one statement; a reader
whose position is below the horizon missed changes that replaying can no longer give it,
and reloads instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import asyncpg


@dataclass(frozen=True, slots=True)
class ChangeLog:
    table: str
    horizon: str


INDEX_CHANGES: Final = ChangeLog("index_changes", "index_changes_horizon")
PROVIDER_CHANGES: Final = ChangeLog("provider_changes", "provider_changes_horizon")

_PRUNE = """
WITH bound AS (
    SELECT coalesce(
        (SELECT min(seq) - 1 FROM {table} WHERE changed_at >= now() - $1::interval),
        (SELECT max(seq) FROM {table})) AS through
), gone AS (
    DELETE FROM {table} WHERE seq <= (SELECT through FROM bound) RETURNING seq
), moved AS (
    UPDATE {horizon}
    SET pruned_through = greatest(pruned_through, (SELECT max(seq) FROM gone))
)
SELECT count(*) FROM gone
"""


async def prune(conn: asyncpg.Connection, log: ChangeLog, older_than: timedelta) -> int:
    """Forget the log's changes older than `older_than`; how many rows went."""
    # the names are the constants above, never input
    sql = _PRUNE.format(table=log.table, horizon=log.horizon)
    return int(await conn.fetchval(sql, older_than))


def last_seq_sql(log: ChangeLog) -> str:
    """The position a reader that has everything stands at (pruned or not), as an
    expression a statement can embed."""
    return (
        f"greatest((SELECT coalesce(max(seq), 0) FROM {log.table}), "
        f"(SELECT pruned_through FROM {log.horizon}))"
    )
