"""`matching jobs embed`: re-embed the profiles whose text or model version changed.

Reads every profile's text fields with its stored `text_hash` and `model_version` in hash
shards, keeps those whose current `profile_text` hashes differently (or that have no vector
of the current model), and embeds them with Ray Data in a pool of actors that load the model
once each (one GPU each when the cluster has GPUs). The driver writes the vectors back in
batches, each one transaction: `user_features` and one `index_changes` row per user, which
the live retrievers replay. What was written also goes to a Parquet snapshot
(`<parquet_dir>/<version>/`: user_id, embedding list<float32>, model_version, text_hash).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ray.data import ActorPoolStrategy, Dataset

from matching.core.domain.profile import ProfileFields
from matching.core.domain.text import TEXT_FIELDS, profile_text, text_hash
from matching.core.ml import artifacts
from matching.core.ml.embedding import encode, load_model, model_path, model_version
from matching.core.settings import ModelSettings, Settings
from matching.core.storage.db import connect
from matching.core.storage.profiles import log_changes
from training.jobs import JobError
from training.pgdata import fetch_rows, read_postgres

log = logging.getLogger(__name__)
KIND = "embeddings"
FILE = "embeddings.parquet"
_LIST_FIELDS = frozenset({"skills", "interests", "networking_goals"})
_FIELDS = sorted(TEXT_FIELDS)

_CANDIDATES = f"""
SELECT p.id AS user_id, {", ".join(f"p.{f}" for f in _FIELDS)},
       f.model_version, f.text_hash, (f.embedding IS NOT NULL) AS embedded
FROM profiles p LEFT JOIN user_features f ON f.user_id = p.id
WHERE {{shard}}
"""
_CANDIDATE_SCHEMA = pa.schema(
    [("user_id", pa.string())]
    + [(f, pa.list_(pa.string()) if f in _LIST_FIELDS else pa.string()) for f in _FIELDS]
    + [("model_version", pa.string()), ("text_hash", pa.string()), ("embedded", pa.bool_())]
)
# What was read travels with each row (old_*): the write applies only where nobody has
# rewritten the vector since, so a profile saved online meanwhile keeps its newer vector.
_SELECTED_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("user_id", "text", "text_hash", "old_hash", "old_version")]
)
_WRITE = """
WITH batch AS (
    SELECT * FROM unnest($1::uuid[], $2::bytea[], $3::text[], $4::text[], $5::text[])
        AS b(user_id, embedding, text_hash, old_hash, old_version)
)
INSERT INTO user_features AS f (user_id, embedding, embedding_dim, model_version, text_hash,
                                computed_at)
SELECT b.user_id, b.embedding, $6, $7, b.text_hash, now()
FROM batch b JOIN profiles p ON p.id = b.user_id
ORDER BY b.user_id
ON CONFLICT (user_id) DO UPDATE SET embedding = EXCLUDED.embedding,
    embedding_dim = EXCLUDED.embedding_dim, model_version = EXCLUDED.model_version,
    text_hash = EXCLUDED.text_hash, computed_at = EXCLUDED.computed_at
WHERE EXISTS (SELECT 1 FROM batch b WHERE b.user_id = f.user_id
              AND b.old_hash IS NOT DISTINCT FROM f.text_hash
              AND b.old_version IS NOT DISTINCT FROM f.model_version)
RETURNING f.user_id
"""


class EmbedConfig(BaseModel):
    """training/configs/embed.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(default=128, ge=1, le=8192)
    rows_per_call: int = Field(default=1024, ge=1, le=65_536)
    actors: tuple[int, int] = (1, 1)
    threads: int = Field(default=2, ge=1, le=256)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    shards: int = Field(default=2, ge=1, le=1024)
    write_batch: int = Field(default=1000, ge=1, le=100_000)
    parquet_dir: Path | None = None
    force: bool = False

    @field_validator("actors", mode="before")
    @classmethod
    def _pool(cls, v: Any) -> Any:
        return (v, v) if isinstance(v, int) else v

    @field_validator("actors")
    @classmethod
    def _pool_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1]:
            raise ValueError(f"needs 1 <= min <= max, got {list(v)}")
        return v


def parse_config(config: Mapping[str, Any]) -> EmbedConfig:
    try:
        return EmbedConfig.model_validate(dict(config))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise JobError(f"embed config: {problems}") from exc


def select_changed(batch: pa.Table, model_version: str, force: bool) -> pa.Table:
    """Candidate rows -> (user_id, text, text_hash, old_*) of those to embed again."""
    keep: list[dict[str, Any]] = []
    for row in batch.to_pylist():
        text = profile_text(ProfileFields.model_construct(**{f: row[f] for f in _FIELDS}))
        digest = text_hash(text)
        stale = not row["embedded"] or row["model_version"] != model_version
        if force or stale or row["text_hash"] != digest:
            keep.append(
                {
                    "user_id": row["user_id"],
                    "text": text,
                    "text_hash": digest,
                    "old_hash": row["text_hash"],
                    "old_version": row["model_version"],
                }
            )
    return pa.Table.from_pylist(keep, schema=_SELECTED_SCHEMA)


def vectors_column(vectors: np.ndarray) -> pa.ListArray:
    """(n, dim) float32 -> list<float32> without copying the values."""
    n, dim = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1)))


class EmbedActor:
    """One per pool slot: loads the model once; replaces a batch's `text` with `embedding`."""

    def __init__(self, model: ModelSettings, batch_size: int) -> None:
        self._model = load_model(model)
        self._batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        vectors = encode(self._model, texts, batch_size=self._batch_size)
        rest = batch.drop_columns(["text"])
        return rest.append_column("embedding", vectors_column(vectors))


def embed_dataset(
    ds: Dataset,
    model: ModelSettings,
    cfg: EmbedConfig,
    gpus: int,
    actor: type[EmbedActor] = EmbedActor,
) -> Dataset:
    """`ds` (a `text` column) with an `embedding` column instead, from the actor pool."""
    device = "cuda" if gpus else "cpu"
    actor_model = model.model_copy(update={"device": device, "torch_threads": cfg.threads})
    return ds.map_batches(
        actor,
        fn_constructor_kwargs={"model": actor_model, "batch_size": cfg.batch_size},
        # model.encode sorts each call's texts by length before batching them: calls of
        # many batches pad as little as one encode over all texts (~15% faster than 128)
        batch_size=max(cfg.rows_per_call, cfg.batch_size),
        batch_format="pyarrow",
        compute=ActorPoolStrategy(min_size=cfg.actors[0], max_size=cfg.actors[1]),
        num_gpus=gpus,
        # a CPU actor really uses `threads` cores: reserve them so Ray packs no more actors
        num_cpus=1 if gpus else cfg.threads,
    )


def _gpus(device: str) -> int:
    """GPUs per actor: one where the cluster has any and the config allows it."""
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call, unused-ignore]
    has_gpus = resources.get("GPU", 0) > 0
    if device == "cuda" and not has_gpus:
        raise JobError("device: cuda, but the Ray cluster has no GPUs (use auto or cpu)")
    return 1 if has_gpus and device != "cpu" else 0


async def write_batch(conn: asyncpg.Connection, batch: pa.Table, version: str) -> pa.Table:
    """One transaction: the batch's vectors and their change-log rows; returns the rows
    written (those rewritten by someone else since they were read are left alone)."""
    ids = [UUID(u) for u in batch.column("user_id").to_pylist()]
    column = batch.column("embedding").combine_chunks()
    flat = column.flatten().to_numpy().astype("<f4", copy=False)
    dim = flat.size // max(1, len(ids))
    blobs = [row.tobytes() for row in flat.reshape(len(ids), dim)]
    args = [batch.column(c).to_pylist() for c in ("text_hash", "old_hash", "old_version")]
    async with conn.transaction():
        rows = await conn.fetch(_WRITE, ids, blobs, *args, dim, version)
        written = [r["user_id"] for r in rows]
        if written:
            await log_changes(conn, written, "upsert")
    keep = pa.array([str(u) for u in written], pa.string())
    return batch.filter(pc.is_in(batch.column("user_id"), value_set=keep))


def _snapshot_table(batch: pa.Table, version: str) -> pa.Table:
    return pa.table(
        {
            "user_id": batch.column("user_id"),
            "embedding": batch.column("embedding"),
            "model_version": pa.array([version] * batch.num_rows, pa.string()),
            "text_hash": batch.column("text_hash"),
        }
    )


def _write_stream(
    settings: Settings, cfg: EmbedConfig, embedded: Dataset, version: str, file: Path
) -> tuple[int, int]:
    """PostgreSQL batch by batch, and the rows written to `file`; (embedded, written)."""
    seen = written = 0
    writer: pq.ParquetWriter | None = None
    with asyncio.Runner() as runner:
        conn = runner.run(connect(settings.database))
        try:
            for batch in embedded.iter_batches(batch_size=cfg.write_batch, batch_format="pyarrow"):
                assert isinstance(batch, pa.Table)
                seen += batch.num_rows
                kept = _snapshot_table(runner.run(write_batch(conn, batch, version)), version)
                written += kept.num_rows
                writer = writer or pq.ParquetWriter(file, kept.schema)
                writer.write_table(kept)
        finally:
            runner.run(conn.close())
            if writer is not None:
                writer.close()
    return seen, written


def write_all(
    settings: Settings, cfg: EmbedConfig, embedded: Dataset, version: str
) -> tuple[int, int, Path | None]:
    """(embedded, written, the published snapshot folder or None when nothing was written)."""
    folder = cfg.parquet_dir or settings.index.artifacts_dir / KIND
    snapshot = artifacts.new_version()
    tmp = artifacts.staging(folder.parent, folder.name, snapshot)
    try:
        seen, written = _write_stream(settings, cfg, embedded, version, tmp / FILE)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the batches committed so far stay committed
        raise
    if not written:
        shutil.rmtree(tmp)
        return seen, 0, None
    manifest = {
        "version": snapshot,
        "kind": KIND,
        "model_version": version,
        "rows": written,
        "scope": "all" if cfg.force else "changed",
        "files": [FILE],
    }
    return seen, written, artifacts.publish(tmp, manifest)


def _check_schema(url: str) -> None:
    found = fetch_rows(
        url,
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'user_features' AND column_name = 'text_hash'",
    )
    if not found:
        raise JobError("user_features.text_hash does not exist: run `matching migrate` first")


def run(settings: Settings, config: Mapping[str, Any]) -> dict[str, Any]:
    """Embed what changed; {read, changed, embedded, written, parquet, model_version,
    rows_per_s} (rows_per_s: written rows per second of embedding and writing)."""
    cfg = parse_config(config)
    url = settings.database.url
    if not url:
        raise JobError("DATABASE_URL is not set")
    _check_schema(url)
    version = model_version(model_path(settings.model))
    gpus = _gpus(cfg.device)
    candidates = read_postgres(
        url, _CANDIDATES, key="p.id", shards=cfg.shards, schema=_CANDIDATE_SCHEMA, name="Profiles"
    ).materialize()
    selected = candidates.map_batches(
        select_changed,
        batch_format="pyarrow",
        fn_kwargs={"model_version": version, "force": cfg.force},
    ).materialize()
    read, changed = candidates.count(), selected.count()
    log.info("embed: %d profiles read, %d to embed with %s", read, changed, version)
    summary: dict[str, Any] = {"read": read, "changed": changed, "model_version": version}
    if not changed:
        return {**summary, "embedded": 0, "written": 0, "parquet": None, "rows_per_s": 0.0}
    started = time.perf_counter()
    embedded, written, folder = write_all(
        settings, cfg, embed_dataset(selected, settings.model, cfg, gpus), version
    )
    seconds = time.perf_counter() - started
    return {
        **summary,
        "embedded": embedded,
        "written": written,
        "parquet": str(folder) if folder else None,
        "rows_per_s": round(written / seconds, 1),
    }
