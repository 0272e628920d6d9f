"""Profiles, preferences, embeddings and the index change log, as plain parameterised SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple
from uuid import UUID

import asyncpg
import numpy as np

from matching.core.domain.features import profile_completeness
from matching.core.domain.person import Person, PreferenceView, casefold
from matching.core.domain.profile import AlgorithmWeights, Preferences, Profile, ProfileIn
from matching.core.domain.text import profile_text, text_hash
from matching.core.storage import change_log
from matching.core.storage.locks import Lock, lock_for_transaction

PROFILE_FIELDS = (
    "name", "headline", "bio", "industry", "job_title", "job_level", "company", "company_size",
    "skills", "interests", "networking_goals", "languages", "latitude", "longitude", "age",
    "gender", "photo_url",
)  # fmt: skip
PREFERENCE_FIELDS = (
    "age_min", "age_max", "distance_km", "industries", "job_levels", "company_sizes",
    "interests", "networking_goals", "languages", "exclude_colleagues", "exclude_competitors",
    "algorithm_weights", "show_me",
)  # fmt: skip
_UPSERT_PROFILE = f"""
INSERT INTO profiles (id, {", ".join(PROFILE_FIELDS)})
VALUES ($1, {", ".join(f"${i + 2}" for i in range(len(PROFILE_FIELDS)))})
ON CONFLICT (id) DO UPDATE SET {", ".join(f"{f} = EXCLUDED.{f}" for f in PROFILE_FIELDS)},
    active = true, updated_at = now(), last_active_at = now()
RETURNING id, active, created_at, updated_at, last_active_at, (xmax = 0) AS inserted
"""
_UPSERT_PREFS = f"""
INSERT INTO matching_preferences (user_id, {", ".join(PREFERENCE_FIELDS)})
VALUES ($1, {", ".join(f"${i + 2}" for i in range(len(PREFERENCE_FIELDS)))})
ON CONFLICT (user_id) DO UPDATE SET
    {", ".join(f"{f} = EXCLUDED.{f}" for f in PREFERENCE_FIELDS)}, updated_at = now()
"""
_UPSERT_FEATURES = """
INSERT INTO user_features (user_id, embedding, embedding_dim, model_version, text_hash,
                           profile_completeness, activity_score, computed_at)
VALUES ($1, $2, $3, $4, $5, $6, 1.0, now())
ON CONFLICT (user_id) DO UPDATE SET embedding = EXCLUDED.embedding,
    embedding_dim = EXCLUDED.embedding_dim, model_version = EXCLUDED.model_version,
    text_hash = EXCLUDED.text_hash, profile_completeness = EXCLUDED.profile_completeness,
    activity_score = 1.0, computed_at = now()
"""
_COLUMNS = f"""p.id, p.active, p.created_at, p.updated_at, p.last_active_at,
       {", ".join(f"p.{f}" for f in PROFILE_FIELDS)},
       {", ".join(f"m.{f} AS pref_{f}" for f in PREFERENCE_FIELDS)}"""
_FROM = "FROM profiles p LEFT JOIN matching_preferences m ON m.user_id = p.id"
_SELECT_PROFILE = f"SELECT {_COLUMNS} {_FROM}"
_SELECT_PEOPLE = (
    f"SELECT f.embedding, {_COLUMNS} {_FROM} JOIN user_features f ON f.user_id = p.id "
    "WHERE p.active AND f.model_version = $1 AND f.embedding IS NOT NULL"
)


def _prefs_args(prefs: Preferences) -> list[Any]:
    values = prefs.model_dump(mode="json")
    return [values[f] for f in PREFERENCE_FIELDS]


async def upsert_profile(
    conn: asyncpg.Connection,
    user_id: UUID,
    profile: ProfileIn,
    embedding: np.ndarray,
    model_version: str,
) -> tuple[Profile, bool]:
    """Write a profile, its preferences, its embedding and a change-log row atomically.

    `embedding` must be the vector of `profile_text(profile)`: its hash is stored with it."""
    values = profile.model_dump(mode="json")
    vector = np.ascontiguousarray(embedding, dtype="<f4")
    async with conn.transaction():
        row = await conn.fetchrow(_UPSERT_PROFILE, user_id, *(values[f] for f in PROFILE_FIELDS))
        assert row is not None
        await conn.execute(_UPSERT_PREFS, user_id, *_prefs_args(profile.preferences))
        await conn.execute(
            _UPSERT_FEATURES,
            user_id,
            vector.tobytes(),
            int(vector.shape[0]),
            model_version,
            text_hash(profile_text(profile)),
            profile_completeness(profile),
        )
        await log_change(conn, user_id, "upsert")
    stored = Profile(
        id=user_id,
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_active_at=row["last_active_at"],
        **profile.model_dump(),
    )
    return stored, bool(row["inserted"])


async def log_change(conn: asyncpg.Connection, user_id: UUID, op: str) -> None:
    await log_changes(conn, [user_id], op)


async def log_changes(conn: asyncpg.Connection, user_ids: Sequence[UUID], op: str) -> None:
    """Append to the change log; call last in the writing transaction (the lock is held
    until commit)."""
    # Serialises writers of index_changes so that seq order is commit order: a replica that
    # has read up to seq N can never later see a smaller seq commit.
    await lock_for_transaction(conn, Lock.CHANGE_LOG)
    await conn.execute(
        "INSERT INTO index_changes (user_id, op) SELECT unnest($1::uuid[]), $2",
        list(user_ids),
        op,
    )


async def get_profile(conn: asyncpg.Connection, user_id: UUID) -> Profile | None:
    row = await conn.fetchrow(_SELECT_PROFILE + " WHERE p.id = $1", user_id)
    return None if row is None else profile_from_row(row)


async def exists(conn: asyncpg.Connection, user_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM profiles WHERE id = $1", user_id))


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM profiles"))


async def delete_profile(conn: asyncpg.Connection, user_id: UUID) -> bool:
    """Delete the profile (preferences, features and history cascade) and log it."""
    async with conn.transaction():
        deleted = await conn.fetchval("DELETE FROM profiles WHERE id = $1 RETURNING id", user_id)
        if deleted is None:
            return False
        await log_change(conn, user_id, "delete")
    return True


class StoredVector(NamedTuple):
    """A person's stored embedding and the model version that made it."""

    embedding: bytes | None
    model_version: str | None


_VECTOR = "SELECT embedding, model_version FROM user_features WHERE user_id = $1"


async def stored_vector(conn: asyncpg.Connection, user_id: UUID) -> StoredVector | None:
    row = await conn.fetchrow(_VECTOR, user_id)
    return None if row is None else StoredVector(row["embedding"], row["model_version"])


async def lock_profile(conn: asyncpg.Connection, user_id: UUID) -> bool:
    """Lock the profile row until the transaction ends; False: no such profile."""
    # Rows that reference the profile (a new match, a swipe) wait for this lock, then fail.
    found = await conn.fetchval("SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE", user_id)
    return found is not None


async def lock_person(
    conn: asyncpg.Connection, user_id: UUID
) -> tuple[Profile, StoredVector | None] | None:
    """Lock the person's rows in the order upsert_profile writes them and read them as
    locked (until the transaction ends); None: no such profile."""
    if not await lock_profile(conn, user_id):
        return None
    await conn.execute("SELECT 1 FROM matching_preferences WHERE user_id = $1 FOR UPDATE", user_id)
    row = await conn.fetchrow(_VECTOR + " FOR UPDATE", user_id)
    profile = await get_profile(conn, user_id)
    assert profile is not None  # its row is locked
    vector = None if row is None else StoredVector(row["embedding"], row["model_version"])
    return profile, vector


def _preferences_from_row(row: asyncpg.Record) -> Preferences:
    values = {f: row[f"pref_{f}"] for f in PREFERENCE_FIELDS}
    if values["industries"] is None:  # no preferences row (NOT NULL column)
        return Preferences()
    weights = values.pop("algorithm_weights")
    return Preferences.model_construct(
        **values, algorithm_weights=AlgorithmWeights(**weights) if weights else None
    )


def profile_from_row(row: asyncpg.Record) -> Profile:
    fields = {f: row[f] for f in PROFILE_FIELDS}
    return Profile.model_construct(
        id=row["id"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_active_at=row["last_active_at"],
        preferences=_preferences_from_row(row),
        **fields,
    )


def person_from_row(row: asyncpg.Record) -> Person:
    prefs = _preferences_from_row(row)
    return Person(
        user_id=row["id"],
        name=row["name"],
        headline=row["headline"],
        industry=casefold(row["industry"]),
        company=casefold(row["company"]),
        job_level=row["job_level"],
        company_size=row["company_size"],
        interests=frozenset(row["interests"]),
        networking_goals=frozenset(row["networking_goals"]),
        languages=frozenset(row["languages"]),
        latitude=row["latitude"],
        longitude=row["longitude"],
        age=row["age"],
        last_active_at=row["last_active_at"],
        prefs=PreferenceView.from_preferences(prefs),
        gender=row["gender"],
        skills=frozenset(row["skills"]),
        job_title=row["job_title"],
    )


@dataclass(frozen=True, slots=True)
class IndexedPerson:
    person: Person
    embedding: np.ndarray


async def fetch_people(
    conn: asyncpg.Connection, model_version: str, user_ids: Sequence[UUID] | None = None
) -> list[IndexedPerson]:
    """Active people with an embedding of `model_version` (all, or just `user_ids`)."""
    if user_ids is None:
        rows = await conn.fetch(_SELECT_PEOPLE, model_version)
    else:
        sql = _SELECT_PEOPLE + " AND p.id = ANY($2::uuid[])"
        rows = await conn.fetch(sql, model_version, list(user_ids))
    return [
        IndexedPerson(person_from_row(r), np.frombuffer(r["embedding"], dtype="<f4")) for r in rows
    ]


async def active_since(
    conn: asyncpg.Connection, since: datetime | None
) -> tuple[datetime, list[tuple[UUID, datetime]]]:
    """(the database's clock, (id, last_active_at) of active people active after `since`);
    None: the clock alone. Activity is not in the change log (see swipes.py)."""
    row = await conn.fetchrow(
        "SELECT now() AS db_now, coalesce(array_agg(id), '{}') AS ids, "
        "coalesce(array_agg(last_active_at), '{}') AS ats FROM profiles "
        "WHERE active AND $1::timestamptz IS NOT NULL AND last_active_at > $1",
        since,
    )
    assert row is not None
    return row["db_now"], list(zip(row["ids"], row["ats"], strict=True))


# One statement, so the horizon and the rows come from one snapshot (a prune commits both).
_CHANGES = """
SELECT h.pruned_through, c.seq, c.user_id, c.op
FROM index_changes_horizon h LEFT JOIN LATERAL (
    SELECT seq, user_id, op FROM index_changes WHERE seq > $1 ORDER BY seq LIMIT $2
) c ON true
ORDER BY c.seq
"""


async def changes_since(
    conn: asyncpg.Connection, seq: int, limit: int = 5000
) -> tuple[int, list[Any]]:
    """(the last seq pruned from the log, the changes after `seq` in order); a reader whose
    `seq` is below the first has missed pruned changes and must reload instead."""
    rows = await conn.fetch(_CHANGES, seq, limit)
    return int(rows[0]["pruned_through"]), [r for r in rows if r["seq"] is not None]


# The log position a reader that has everything stands at (pruned or not): an expression,
# so a request can read it in the statement it already makes (discovery's context).
LAST_SEQ_SQL: Final = change_log.last_seq_sql(change_log.INDEX_CHANGES)


async def last_change_seq(conn: asyncpg.Connection) -> int:
    """The log position a reader that has everything stands at (pruned or not)."""
    return int(await conn.fetchval(f"SELECT {LAST_SEQ_SQL}"))


async def prune_changes(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Forget changes older than `older_than` (replicas further behind reload); how many."""
    return await change_log.prune(conn, change_log.INDEX_CHANGES, older_than)
