"""PostgreSQL as a Ray Data source: one read task per hash shard, each with its own connection.

`read_postgres(url, query, shards)` runs `query` once per shard with `{shard}` replaced by a
predicate that keeps that shard's rows (`mod(abs(hashtext(<key>::text)), n) = i`), so the
shards are disjoint, cover every row and are read in parallel on whatever nodes Ray picks.
Rows come back as Arrow tables; uuids become strings, arrays lists, bytea binary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
from ray.data import Dataset, read_datasource
from ray.data.block import Block, BlockMetadata
from ray.data.datasource import Datasource, ReadTask


def shard_predicate(key: str, shard: int, shards: int) -> str:
    """SQL that is true for exactly the rows of `shard` out of `shards`."""
    if shards == 1:
        return "true"
    # bigint first: abs() of hashtext's int4 minimum overflows
    return f"mod(abs(hashtext(({key})::text)::bigint), {shards}) = {shard}"


def _plain(value: Any) -> Any:
    """asyncpg values that Arrow does not take as they are."""
    if hasattr(value, "hex") and type(value).__name__ == "UUID":
        return str(value)
    return value


async def _fetch(url: str, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(sql, *args)
    finally:
        await conn.close()
    return [{k: _plain(v) for k, v in r.items()} for r in rows]


def fetch_rows(url: str, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A query's rows as plain dicts (from a worker thread or task without a loop)."""
    return asyncio.run(_fetch(url, sql, args))


def _table(rows: list[dict[str, Any]], schema: pa.Schema | None) -> pa.Table:
    if schema is not None:
        return pa.Table.from_pylist(rows, schema=schema)
    return pa.Table.from_pylist(rows)


class PostgresShards(Datasource):
    """`query` with a `{shard}` placeholder, read as `shards` disjoint parallel tasks."""

    def __init__(
        self,
        url: str,
        query: str,
        *,
        key: str,
        args: Sequence[Any] = (),
        schema: pa.Schema | None = None,
        name: str = "Postgres",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        if "{shard}" not in query:
            raise ValueError("query needs a {shard} placeholder in its WHERE clause")
        self._url, self._query, self._key = url, query, key
        self._args, self._schema, self._name = tuple(args), schema, name

    def get_name(self) -> str:
        return self._name

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,  # noqa: ARG002 (Datasource signature)
    ) -> list[ReadTask]:
        shards = max(1, parallelism)
        tasks = []
        for shard in range(shards):
            sql = self._query.replace("{shard}", shard_predicate(self._key, shard, shards))
            tasks.append(
                ReadTask(
                    _reader(self._url, sql, self._args, self._schema),
                    BlockMetadata(
                        num_rows=None, size_bytes=None, input_files=None, exec_stats=None
                    ),
                    schema=self._schema,
                    per_task_row_limit=per_task_row_limit,
                )
            )
        return tasks


def _reader(
    url: str, sql: str, args: Sequence[Any], schema: pa.Schema | None
) -> Callable[[], Iterable[Block]]:
    def read() -> Iterable[Block]:
        yield _table(fetch_rows(url, sql, args), schema)

    return read


def read_postgres(
    url: str,
    query: str,
    *,
    key: str,
    shards: int,
    args: Sequence[Any] = (),
    schema: pa.Schema | None = None,
    name: str = "Postgres",
) -> Dataset:
    """A Dataset of `query`'s rows, read in `shards` parallel tasks (see module doc)."""
    source = PostgresShards(url, query, key=key, args=args, schema=schema, name=name)
    dataset: Dataset = read_datasource(source, override_num_blocks=shards)
    return dataset
