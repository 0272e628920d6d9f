"""`matching jobs embed` on a local Ray against a real PostgreSQL and the real model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deployments.embedder import Embedder
from matching.core.domain.profile import ProfileIn
from matching.core.domain.text import profile_text, text_hash
from matching.core.ml import artifacts
from matching.core.settings import Settings
from matching.core.storage.profiles import get_profile, upsert_profile
from matching.devtools.seed import seed
from tests.support import connect, profile_body
from training import embed
from training.jobs import JobError, init_ray, load_config

PEOPLE = 30


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    import ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture
def seeded(settings: Settings) -> list[UUID]:
    """PEOPLE seeded people, their vectors and text hashes written by the seeder."""
    asyncio.run(seed(settings, PEOPLE))
    rows = asyncio.run(_fetch(settings, "SELECT id FROM profiles ORDER BY id"))
    return [r["id"] for r in rows]


async def _fetch(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await connect(str(settings.database.url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _run(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return embed.run(settings, {**load_config("embed"), **overrides})


def _vector(settings: Settings, user_id: UUID) -> np.ndarray:
    rows = asyncio.run(
        _fetch(settings, "SELECT embedding FROM user_features WHERE user_id = $1", user_id)
    )
    return np.frombuffer(rows[0]["embedding"], dtype="<f4")


async def _expected(settings: Settings, embedder: Embedder, user_id: UUID) -> np.ndarray:
    conn = await connect(str(settings.database.url))
    try:
        profile = await get_profile(conn, user_id)
    finally:
        await conn.close()
    assert profile is not None
    return await embedder.embed(profile_text(profile))


def test_nothing_to_do_when_every_vector_is_current(settings: Settings, seeded: list[UUID]) -> None:
    summary = _run(settings)
    assert summary["read"] == len(seeded) == PEOPLE
    assert (summary["changed"], summary["embedded"], summary["written"]) == (0, 0, 0)
    assert summary["parquet"] is None


def test_a_changed_bio_is_embedded_again_and_replayed(
    settings: Settings, seeded: list[UUID], embedder: Embedder
) -> None:
    user = seeded[7]
    before = asyncio.run(_fetch(settings, "SELECT coalesce(max(seq), 0) AS s FROM index_changes"))
    asyncio.run(
        _fetch(settings, "UPDATE profiles SET bio = 'Now I only bake bread.' WHERE id = $1", user)
    )
    summary = _run(settings)
    assert (summary["changed"], summary["embedded"], summary["written"]) == (1, 1, 1)
    assert summary["model_version"] == embedder.model_version
    expected = asyncio.run(_expected(settings, embedder, user))
    assert np.allclose(_vector(settings, user), expected, atol=1e-5)

    changes = asyncio.run(
        _fetch(settings, "SELECT user_id, op FROM index_changes WHERE seq > $1", before[0]["s"])
    )
    assert [(r["user_id"], r["op"]) for r in changes] == [(user, "upsert")]

    folder = Path(summary["parquet"])
    assert folder.parent == settings.index.artifacts_dir / embed.KIND
    assert artifacts.read_manifest(folder)["rows"] == 1
    table = pq.read_table(folder / embed.FILE)
    assert table.schema.field("embedding").type == pa.list_(pa.float32())
    assert table.column("user_id").to_pylist() == [str(user)]
    assert table.column("model_version").to_pylist() == [embedder.model_version]
    assert np.allclose(np.array(table.column("embedding")[0].as_py()), expected, atol=1e-5)

    assert _run(settings)["changed"] == 0  # the stored hash now matches the text


def test_other_model_versions_and_missing_vectors_are_embedded(
    settings: Settings, seeded: list[UUID], embedder: Embedder
) -> None:
    old, missing = seeded[3], seeded[11]
    asyncio.run(
        _fetch(settings, "UPDATE user_features SET model_version = 'old@1' WHERE user_id = $1", old)
    )
    asyncio.run(_fetch(settings, "DELETE FROM user_features WHERE user_id = $1", missing))
    summary = _run(settings)
    assert (summary["changed"], summary["written"]) == (2, 2)
    rows = asyncio.run(
        _fetch(
            settings,
            "SELECT user_id, model_version, text_hash FROM user_features "
            "WHERE user_id = ANY($1::uuid[])",
            [old, missing],
        )
    )
    assert {r["model_version"] for r in rows} == {embedder.model_version}
    for user in (old, missing):
        assert np.allclose(
            _vector(settings, user), asyncio.run(_expected(settings, embedder, user)), atol=1e-5
        )


def test_selection_reasons_and_force() -> None:
    fields = {"name": "Ada", "headline": "Compilers", "bio": None, "industry": None}
    lists = {"skills": [], "interests": ["chess"], "networking_goals": []}
    current = text_hash("Compilers Interests: chess.")
    rows: list[dict[str, Any]] = [
        {"user_id": "current", "model_version": "v", "text_hash": current, "embedded": True},
        {"user_id": "text", "model_version": "v", "text_hash": "other", "embedded": True},
        {"user_id": "model", "model_version": "u", "text_hash": current, "embedded": True},
        {"user_id": "vector", "model_version": "v", "text_hash": current, "embedded": False},
        {"user_id": "row", "model_version": None, "text_hash": None, "embedded": False},
    ]
    table = pa.Table.from_pylist([{**r, **fields, **lists} for r in rows])
    picked = embed.select_changed(table, "v", force=False)
    assert picked.column("user_id").to_pylist() == ["text", "model", "vector", "row"]
    assert set(picked.column("text").to_pylist()) == {"Compilers Interests: chess."}
    assert picked.column("old_hash").to_pylist() == ["other", current, current, None]
    assert embed.select_changed(table, "v", force=True).num_rows == len(rows)


def test_the_online_writer_stores_the_hash_of_the_embedded_text(
    settings: Settings, embedder: Embedder
) -> None:
    profile = ProfileIn(**profile_body("Ada", bio="I write compilers."))

    async def scenario() -> str:
        conn = await connect(str(settings.database.url))
        try:
            user, vector = uuid4(), await embedder.embed(profile_text(profile))
            await upsert_profile(conn, user, profile, vector, embedder.model_version)
            digest: str = await conn.fetchval(
                "SELECT text_hash FROM user_features WHERE user_id = $1", user
            )
            return digest
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == text_hash(profile_text(profile))


def test_a_vector_rewritten_since_it_was_read_is_kept(settings: Settings) -> None:
    async def scenario() -> tuple[int, str]:
        conn = await connect(str(settings.database.url))
        try:
            user = await conn.fetchval(
                "INSERT INTO profiles (id, name) VALUES (gen_random_uuid(), 'a') RETURNING id"
            )
            await conn.execute(
                "INSERT INTO user_features (user_id, embedding, embedding_dim, model_version, "
                "text_hash) VALUES ($1, $2, 2, 'v', 'newer')",
                user,
                np.ones(2, "<f4").tobytes(),
            )
            batch = pa.table(
                {
                    "user_id": [str(user)],
                    "text_hash": [text_hash("a")],
                    "old_hash": ["older"],  # what the job read before the online write
                    "old_version": ["v"],
                    "embedding": embed.vectors_column(np.zeros((1, 2), np.float32)),
                }
            )
            kept = await embed.write_batch(conn, batch, "v")
            return kept.num_rows, await conn.fetchval(
                "SELECT text_hash FROM user_features WHERE user_id = $1", user
            )
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == (0, "newer")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"actors": [2, 1]}, "actors"), ({"threads": 0}, "threads"), ({"colour": 1}, "colour")],
)
def test_bad_config_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(JobError, match=field):
        embed.parse_config({**load_config("embed"), **overrides})


def test_cuda_without_gpus_is_refused(settings: Settings) -> None:
    import ray

    if ray.cluster_resources().get("GPU"):  # type: ignore[no-untyped-call, unused-ignore]
        pytest.skip("this machine has a GPU")
    with pytest.raises(JobError, match="no GPUs"):
        _run(settings, device="cuda")


def test_an_unmigrated_database_is_refused(settings: Settings) -> None:
    asyncio.run(_fetch(settings, "ALTER TABLE user_features DROP COLUMN text_hash"))
    with pytest.raises(JobError, match="matching migrate"):
        _run(settings)


def test_no_database_is_refused() -> None:
    with pytest.raises(JobError, match="DATABASE_URL"):
        embed.run(Settings.from_env({}), load_config("embed"))
