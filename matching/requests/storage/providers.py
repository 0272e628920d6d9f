"""Providers in PostgreSQL, and their change log (every write appends to it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import asyncpg
import numpy as np

from matching.core.storage import change_log
from matching.requests.catalogue import Provider
from matching.requests.schemas import ProviderUpsert

_COLUMNS = "provider_id, body, embedding, skill_embeddings, updated_at"


def _provider(row: asyncpg.Record) -> Provider:
    vector = np.frombuffer(row["embedding"], dtype=np.float32)
    skills = row["skill_embeddings"]
    return Provider(
        provider_id=row["provider_id"],
        body=ProviderUpsert.model_validate(row["body"]),
        vector=vector,
        updated_at=row["updated_at"],
        skill_vectors=None
        if skills is None
        else np.frombuffer(skills, dtype=np.float32).reshape(-1, vector.size),
    )


_INSERT = (
    "INSERT INTO providers (provider_id, body, embedding, skill_embeddings, model_version, "
    "active) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider_id) "
)


def _values(
    provider_id: UUID,
    body: ProviderUpsert,
    vector: np.ndarray,
    skill_vectors: np.ndarray,
    model_version: str,
) -> tuple[object, ...]:
    """`_INSERT`'s parameters; the skill vectors one row per skill of `body`, in its order
    (what `_provider` reads back)."""
    skills = np.asarray(skill_vectors, dtype="<f4")
    if skills.shape[0] != len(body.skills):
        raise ValueError(f"{len(body.skills)} skills but {skills.shape[0]} skill vectors")
    text = np.asarray(vector, dtype="<f4").tobytes()
    dumped = body.model_dump(mode="json")
    return (provider_id, dumped, text, skills.tobytes(), model_version, body.active)


async def _log(conn: asyncpg.Connection, provider_id: UUID) -> None:
    await conn.execute("INSERT INTO provider_changes (provider_id) VALUES ($1)", provider_id)


async def upsert(
    conn: asyncpg.Connection,
    provider_id: UUID,
    body: ProviderUpsert,
    vector: np.ndarray,
    skill_vectors: np.ndarray,
    model_version: str,
) -> Provider:
    """Write the provider (its text's vector and one per skill) and its change-log row in
    one transaction."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"{_INSERT} DO UPDATE SET "
            "body = EXCLUDED.body, embedding = EXCLUDED.embedding, "
            "skill_embeddings = EXCLUDED.skill_embeddings, "
            "model_version = EXCLUDED.model_version, active = EXCLUDED.active, "
            f"updated_at = now() RETURNING {_COLUMNS}",
            *_values(provider_id, body, vector, skill_vectors, model_version),
        )
        await _log(conn, provider_id)
    assert row is not None
    return _provider(row)


async def insert_many(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[UUID, ProviderUpsert, np.ndarray, np.ndarray]],
    model_version: str,
) -> None:
    """Insert (provider_id, body, text vector, skill vectors) rows and their change-log rows
    in one transaction; providers already stored are kept as they are (demo and bench)."""
    async with conn.transaction():
        await conn.executemany(
            f"{_INSERT} DO NOTHING", [_values(*row, model_version) for row in rows]
        )
        await conn.executemany(
            "INSERT INTO provider_changes (provider_id) VALUES ($1)", [(r[0],) for r in rows]
        )


async def get(conn: asyncpg.Connection, provider_id: UUID) -> Provider | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM providers WHERE provider_id = $1", provider_id
    )
    return None if row is None else _provider(row)


async def delete(conn: asyncpg.Connection, provider_id: UUID) -> bool:
    """Delete the provider (and log it) in the caller's transaction; False: no such one."""
    status = await conn.execute("DELETE FROM providers WHERE provider_id = $1", provider_id)
    if status.endswith(" 0"):
        return False
    await _log(conn, provider_id)
    return True


async def listed(
    conn: asyncpg.Connection,
    *,
    skill: str | None,
    session_type: str | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> list[Provider]:
    """A page by id, filtered on a skill name (case-insensitive), a session type, active."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM providers WHERE ($1::text IS NULL OR EXISTS ("
        "  SELECT 1 FROM jsonb_array_elements(body->'skills') s"
        "  WHERE lower(s->>'name') = lower($1))) "
        "AND ($2::text IS NULL OR body->'session_types' ? $2) "
        "AND ($3::boolean IS NULL OR active = $3) "
        "ORDER BY provider_id LIMIT $4 OFFSET $5",
        skill,
        session_type,
        active,
        limit,
        offset,
    )
    return [_provider(r) for r in rows]


async def fetch(
    conn: asyncpg.Connection, model_version: str, ids: Sequence[UUID] | None = None
) -> list[Provider]:
    """Every provider embedded by `model_version` (or only those of `ids`)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM providers WHERE model_version = $1 "
        "AND ($2::uuid[] IS NULL OR provider_id = ANY($2::uuid[]))",
        model_version,
        None if ids is None else list(ids),
    )
    return [_provider(r) for r in rows]


_LAST_SEQ = f"SELECT {change_log.last_seq_sql(change_log.PROVIDER_CHANGES)}"


async def last_change(conn: asyncpg.Connection) -> int:
    """The position a reader that has every provider stands at (pruned or not)."""
    return int(
        await conn.fetchval(f"SELECT {change_log.last_seq_sql(change_log.PROVIDER_CHANGES)}")
    )


# One statement, so the horizon and the rows come from one snapshot (a prune commits both).
_CHANGES = """
SELECT h.pruned_through, c.seq, c.provider_id
FROM provider_changes_horizon h LEFT JOIN LATERAL (
    SELECT seq, provider_id FROM provider_changes WHERE seq > $1 ORDER BY seq
) c ON true
ORDER BY c.seq
"""


class Pruned(Exception):
    """The log was pruned past the reader's position: it must reload."""


async def changes_since(conn: asyncpg.Connection, seq: int) -> tuple[int, list[UUID]]:
    """(the newest position, the providers changed after `seq`); raises `Pruned` when
    changes after `seq` are no longer in the log."""
    rows = await conn.fetch(_CHANGES, seq)
    if seq < int(rows[0]["pruned_through"]):
        raise Pruned(seq)
    changed = [r for r in rows if r["seq"] is not None]
    if not changed:
        return seq, []
    return int(changed[-1]["seq"]), list(dict.fromkeys(r["provider_id"] for r in changed))


async def prune_changes(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Forget provider changes older than `older_than` (indexes further behind reload)."""
    return await change_log.prune(conn, change_log.PROVIDER_CHANGES, older_than)
