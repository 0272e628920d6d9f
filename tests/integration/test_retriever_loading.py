"""The Retriever loads an index snapshot only once its files match the sha256 its manifest
recorded: a tampered version is refused and the index it has keeps serving; a replica that
starts on a tampered newest snapshot builds its index from the database instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deployments.retriever import SNAPSHOT_FILES, Retriever
from matching.core.ml.embedding import model_path, model_version
from matching.core.retrieval.candidates import CandidateIndex
from matching.core.settings import Settings
from tests.integration.test_erasure_after import people
from tests.support import connect
from training.build_index import build_index


async def test_a_tampered_index_snapshot_is_refused_and_the_old_one_serves(
    settings: Settings,
) -> None:
    conn = await connect(str(settings.database.url))
    try:
        ids = await people(conn, 4, model_version(model_path(settings.model)))
    finally:
        await conn.close()
    good, _ = await build_index(settings)
    bad, _ = await build_index(settings)
    ids_file = bad / "user_ids.npy"  # someone else's row under a known id
    rows = np.load(ids_file)
    rows[[0, 1]] = rows[[1, 0]]
    np.save(ids_file, rows)

    retriever = Retriever(settings)
    await retriever.reconfigure({"index_version": good.name})
    await retriever.start()
    try:
        assert retriever.index.version == good.name and "refused" not in retriever.info()
        await retriever.reconfigure({"index_version": bad.name})
        info = retriever.info()
        assert info["index_version"] == good.name and retriever.index.version == good.name
        assert info["refused"] == {
            "index_version": bad.name,
            "reason": f"{bad.name}: user_ids.npy does not match its sha256",
        }
        found = await retriever.pair(ids[0], ids[1])  # still answering from the good one
        assert found.requester is not None and found.requester.user_id == ids[0]
    finally:
        await retriever.close()

    newest = Retriever(settings)  # no version pinned: the newest snapshot, the bad one
    await newest.start()
    try:
        assert newest.index.version not in (good.name, bad.name)  # built from the database
        assert newest.info()["refused"]["index_version"] == bad.name
        assert {p for p in ids if newest.person(p) is not None} == set(ids)
    finally:
        await newest.close()


def test_snapshot_files_are_what_from_snapshot_reads(settings: Settings, tmp_path: Path) -> None:
    """Every file CandidateIndex.save writes is one the Retriever requires a checksum for."""
    index = CandidateIndex.build([], 384, settings.index, "v1")
    folder = index.save(tmp_path, {})
    written = {p.name for p in folder.iterdir() if p.name != "manifest.json"}
    assert written == set(SNAPSHOT_FILES)
