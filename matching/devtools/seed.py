"""`matching seed`: bulk-load a deterministic demo population with batch embeddings."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from matching.core.domain.features import profile_completeness
from matching.core.domain.text import profile_text, text_hash
from matching.core.ml.embedding import ModelEncoder, TextEncoder
from matching.core.settings import Settings
from matching.core.storage.db import connect
from matching.core.storage.migrate import migrate
from matching.core.storage.profiles import PREFERENCE_FIELDS, PROFILE_FIELDS, log_changes
from matching.devtools.demo_pairing import seed_pairing
from matching.devtools.population import SeedPerson, generate_population

log = logging.getLogger(__name__)
CHUNK = 2048


@dataclass(frozen=True, slots=True)
class SeedReport:
    requested: int
    inserted: int
    skipped: int
    seconds: float


def _chunks(people: Iterator[SeedPerson], size: int) -> Iterator[list[SeedPerson]]:
    while chunk := list(itertools.islice(people, size)):
        yield chunk


def _profile_record(p: SeedPerson) -> tuple[object, ...]:
    values = p.profile.model_dump(mode="python")
    return (
        p.id,
        *(values[f] for f in PROFILE_FIELDS),
        p.created_at,
        p.created_at,
        p.last_active_at,
    )


def _prefs_record(p: SeedPerson) -> tuple[object, ...]:
    values = p.profile.preferences.model_dump(mode="json")
    return (p.id, *(values[f] for f in PREFERENCE_FIELDS))


async def insert_people(
    conn: asyncpg.Connection, people: list[SeedPerson], encoder: TextEncoder
) -> None:
    """Embed and insert people (profiles, preferences, embeddings, change log) in one
    transaction, with COPY; none of them may exist yet."""
    texts = [profile_text(p.profile) for p in people]
    vectors = await asyncio.to_thread(encoder.encode, texts)
    hashes, version = [text_hash(t) for t in texts], encoder.model_version
    async with conn.transaction():
        await conn.copy_records_to_table(
            "profiles",
            records=[_profile_record(p) for p in people],
            columns=["id", *PROFILE_FIELDS, "created_at", "updated_at", "last_active_at"],
        )
        await conn.copy_records_to_table(
            "matching_preferences",
            records=[_prefs_record(p) for p in people],
            columns=["user_id", *PREFERENCE_FIELDS],
        )
        features = [
            (p.id, v.astype("<f4").tobytes(), len(v), version, h, profile_completeness(p.profile))
            for p, v, h in zip(people, vectors, hashes, strict=True)
        ]
        await conn.copy_records_to_table(
            "user_features",
            records=features,
            columns=[
                "user_id",
                "embedding",
                "embedding_dim",
                "model_version",
                "text_hash",
                "profile_completeness",
            ],
        )
        await log_changes(conn, [p.id for p in people], "upsert")


async def seed(
    settings: Settings, users: int, seed: int = 42, encoder: TextEncoder | None = None
) -> SeedReport:
    """Insert the first `users` people of the population; people already there are kept.
    `encoder` embeds them (default: the settings' model, loaded here)."""
    started = time.perf_counter()
    if encoder is None:
        encoder = await asyncio.to_thread(ModelEncoder, settings.model)
    conn = await connect(settings.database)
    inserted = skipped = 0
    try:
        await migrate(conn)
        now = datetime.now(UTC)  # activity is relative to today; ids stay deterministic
        for chunk in _chunks(generate_population(users, seed=seed, now=now), CHUNK):
            existing: set[UUID] = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM profiles WHERE id = ANY($1::uuid[])", [p.id for p in chunk]
                )
            }
            fresh = [p for p in chunk if p.id not in existing]
            skipped += len(chunk) - len(fresh)
            if fresh:
                await insert_people(conn, fresh, encoder)
                inserted += len(fresh)
            log.info("seeded %d/%d", inserted + skipped, users)
        log.info("pairing demo pool: %d opted in", await seed_pairing(conn))
    finally:
        await conn.close()
    return SeedReport(users, inserted, skipped, time.perf_counter() - started)
