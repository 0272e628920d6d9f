"""Build the FAISS index from the stored embeddings and publish a versioned snapshot."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from matching.core.ml import artifacts
from matching.core.ml.embedding import model_path, model_version
from matching.core.ml.registry import Registry
from matching.core.retrieval.candidates import KIND, CandidateIndex
from matching.core.retrieval.recall import recall_at_k
from matching.core.settings import Settings
from matching.core.storage import profiles
from matching.core.storage.db import connect
from training.jobs import JobError

log = logging.getLogger(__name__)


async def build_index(
    settings: Settings, recall_queries: int = 200, min_recall: float = 0.0
) -> tuple[Path, dict[str, Any]]:
    """Snapshot of every active person embedded by the configured model, with its recall@10,
    published to the registry; below `min_recall` nothing is published (JobError)."""
    version = model_version(model_path(settings.model))
    conn = await connect(settings.database)
    try:
        seq = await profiles.last_change_seq(conn)
        people = await profiles.fetch_people(conn, version)
    finally:
        await conn.close()
    started = time.perf_counter()
    dim = len(people[0].embedding) if people else 384
    cindex = CandidateIndex.build(people, dim, settings.index, artifacts.new_version())
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(7)
    sample = rng.choice(len(people), size=min(recall_queries, len(people)), replace=False)
    queries = np.stack([people[i].embedding for i in sample]) if len(sample) else np.zeros((0, dim))
    recall = recall_at_k(cindex.index, queries, k=10)
    if people and recall < min_recall:
        # Not published at all: replicas that serve "the newest snapshot" must not find it.
        raise JobError(
            f"index of {len(people)} people ({cindex.index.params.kind}): recall@10 "
            f"{recall:.4f} is below min_recall {min_recall}; nothing was published"
        )
    extra = {
        "model_version": version,
        "change_seq": seq,
        "build_seconds": round(build_s, 2),
        "metrics": {"recall_at_10": round(recall, 4), "recall_queries": len(sample)},
    }
    folder = cindex.save(settings.index.artifacts_dir, extra)
    Registry.from_settings(settings).push(KIND, folder)
    log.info(
        "index %s: %d people, %s, recall@10 %.4f",
        folder,
        len(people),
        cindex.index.params.kind,
        recall,
    )
    return folder, artifacts.read_manifest(folder)


def run(settings: Settings, config: Mapping[str, Any]) -> dict[str, Any]:
    """`matching jobs build-index`: the snapshot the registry serves as kind "index".

    Index type and parameters follow the size (exact below MATCHING_INDEX_EXACT_MAX,
    HNSW above) and are recorded in the manifest with recall@10 against exact search on a
    random sample of `recall_queries` people.
    """
    folder, manifest = asyncio.run(
        build_index(
            settings,
            recall_queries=int(config.get("recall_queries", 200)),
            min_recall=float(config.get("min_recall", 0.0)),
        )
    )
    recall = float(manifest["metrics"]["recall_at_10"])
    return {
        "read": manifest["row_count"],
        "index": str(folder),
        "version": manifest["version"],
        "params": manifest["params"],
        "recall_at_10": recall,
    }
