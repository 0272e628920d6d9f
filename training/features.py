"""`matching jobs features`: every active user's features, recomputed with Ray Data.

Reads profiles with their swipe, match and event-attendance counts from PostgreSQL in hash
shards (one read task each), computes each row with `core.domain.features.user_features` (the
function the online `GET /v1/profiles/{id}/features` uses), writes `user_features` and a
versioned Parquet snapshot (`<artifacts>/features/<version>/`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pyarrow as pa

from matching.core.domain.features import FEATURE_NAMES, user_features
from matching.core.ml import artifacts
from matching.core.settings import Settings
from matching.core.storage.db import connect
from matching.core.storage.features import INPUTS_SQL, save_features
from training.jobs import JobError
from training.pgdata import read_postgres

log = logging.getLogger(__name__)
KIND = "features"

SCHEMA = pa.schema([("user_id", pa.string())] + [(name, pa.float32()) for name in FEATURE_NAMES])


def compute(batch: pa.Table, now: datetime) -> pa.Table:
    """INPUTS_SQL rows -> user_id plus one float column per feature."""
    rows = batch.to_pylist()
    columns: dict[str, list[Any]] = {"user_id": [str(r["user_id"]) for r in rows]}
    vectors = [user_features(r, now) for r in rows]
    for name in FEATURE_NAMES:
        columns[name] = [v[name] for v in vectors]
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class _Writer:
    """Writes feature batches to user_features; one connection per batch."""

    def __init__(self, settings: Settings, computed_at: datetime) -> None:
        self._settings, self._at = settings, computed_at

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids = [UUID(u) for u in batch.column("user_id").to_pylist()]
        matrix = [batch.column(n).to_pylist() for n in FEATURE_NAMES]
        rows = [(uid, [col[i] for col in matrix]) for i, uid in enumerate(ids)]

        async def write() -> int:
            conn = await connect(self._settings.database)
            try:
                async with conn.transaction():
                    return await save_features(conn, rows, self._at)
            finally:
                await conn.close()

        written = asyncio.run(write())
        return pa.table({"written": [written]})


def run(settings: Settings, config: Mapping[str, Any]) -> dict[str, Any]:
    url = settings.database.url
    if not url:
        raise JobError("DATABASE_URL is not set")
    shards = int(config.get("shards", 4))
    batch_size = int(config.get("batch_size", 2048))
    now = datetime.now(UTC)
    version = artifacts.new_version(now)

    source = read_postgres(
        url, INPUTS_SQL.format(where="{shard}"), key="p.id", shards=shards, name="Profiles"
    )
    features = source.map_batches(
        functools.partial(compute, now=now), batch_format="pyarrow", batch_size=batch_size
    ).materialize()
    rows = features.count()
    log.info("features: read %d active profiles from PostgreSQL in %d shards", rows, shards)

    written = (
        features.map_batches(
            _Writer,
            fn_constructor_args=(settings, now),
            batch_format="pyarrow",
            batch_size=batch_size,
            concurrency=1,
        ).sum("written")
        if rows
        else 0
    )
    log.info("features: wrote %d rows to user_features", written or 0)

    root = settings.index.artifacts_dir
    tmp = artifacts.staging(root, KIND, version)
    if rows:
        features.write_parquet(str(tmp / "data"))
    folder = artifacts.publish(
        tmp,
        {
            "version": version,
            "kind": KIND,
            "as_of": now.isoformat(),
            "row_count": rows,
            "feature_names": list(FEATURE_NAMES),
        },
    )
    log.info("features: wrote the Parquet snapshot %s", folder)
    return {
        "read": rows,
        "written": int(written or 0),
        "parquet": str(folder),
        "version": version,
        "as_of": now.isoformat(),
    }
