"""`matching jobs collab` on a local Ray over a real PostgreSQL holding the simulator's market:
the factors know only swipes before the held-out window (a like taken after the cutoff counts
as the pass it was), go to the registry, and flow through train (with a twin without them) and
evaluate (with and without, the exposure curve) into a Reranker that loads them with the
model and refuses tampered factors."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from matching.core.ml import artifacts, collab
from matching.core.ml.registry import Registry
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from matching.core.storage.profiles import fetch_people
from matching.devtools.seed import seed
from matching.devtools.simulate import simulate
from tests.integration.conftest import _create_database, _drop_database, make_settings
from tests.support import connect
from training import collab as collab_job
from training import evaluate, jobs, train
from training.eval_ranking import DAMPINGS

USERS, DAYS, SEED = 160, 10, 5
TEST_DAYS = 3
TRAIN = {"test_days": TEST_DAYS, "min_swipes": 300, "min_positives": 30, "max_iter": 40}


@dataclass(frozen=True)
class Market:
    settings: Settings
    late_like: tuple[uuid.UUID, uuid.UUID]  # a pass before the cutoff, a like after it


async def _pass_then_like_late(url: str, test_days: float) -> tuple[uuid.UUID, uuid.UUID]:
    """Turn one pre-cutoff pass into a like taken inside the held-out window."""
    conn = await connect(url)
    try:
        end = await conn.fetchval("SELECT max(created_at) FROM swipe_history")
        cutoff = end - timedelta(days=test_days)
        row = await conn.fetchrow(
            "SELECT swiper_id, swiped_id FROM swipe_history WHERE action = 'pass' "
            "AND created_at < $1 ORDER BY created_at LIMIT 1",
            cutoff - timedelta(days=1),
        )
        await conn.execute(
            "UPDATE swipe_history SET action = 'like', updated_at = $3 "
            "WHERE swiper_id = $1 AND swiped_id = $2",
            row["swiper_id"],
            row["swiped_id"],
            cutoff + timedelta(hours=1),
        )
        return row["swiper_id"], row["swiped_id"]
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def market(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    import ray

    name = f"matching_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_database(name))
    settings = make_settings(url, tmp_path_factory.mktemp("artifacts"))
    jobs.init_ray(num_cpus=2)
    try:
        asyncio.run(seed(settings, USERS, seed=SEED, encoder=embedder))
        asyncio.run(
            simulate(settings, USERS, DAYS, seed=SEED, sessions_per_day=0.5, encoder=embedder)
        )
        late = asyncio.run(_pass_then_like_late(url, TEST_DAYS))
        yield Market(settings, late)
    finally:
        ray.shutdown()
        asyncio.run(_drop_database(name))


@pytest.fixture(scope="module")
def built(market: Market) -> dict[str, Any]:
    return collab_job.run(market.settings, {"test_days": TEST_DAYS, "rank": 8})


async def _counts(url: str, cutoff: datetime) -> tuple[int, int, int]:
    conn = await connect(url)
    try:
        swipes = await conn.fetchval(
            "SELECT count(*) FROM swipe_history WHERE created_at < $1", cutoff
        )
        likes = await conn.fetchval(
            "SELECT count(*) FROM swipe_history WHERE created_at < $1 "
            "AND action IN ('like', 'super_like') AND updated_at < $1",
            cutoff,
        )
        after = await conn.fetchval(
            "SELECT count(*) FROM swipe_history WHERE created_at >= $1", cutoff
        )
        return swipes, likes, after
    finally:
        await conn.close()


def test_the_factors_know_only_the_swipes_before_the_held_out_window(
    market: Market, built: dict[str, Any]
) -> None:
    cutoff = datetime.fromisoformat(built["cutoff"])
    swipes, likes, after = asyncio.run(_counts(str(market.settings.database.url), cutoff))
    assert after > 0 and swipes > 1000  # there is a held-out window, and history before it
    assert (built["swipes"], built["likes"]) == (swipes, likes)  # the late like is a pass
    registry = Registry.from_settings(market.settings)
    assert [v["version"] for v in registry.versions(collab.KIND)] == [built["version"]]
    factors = collab.load(Path(built["folder"]))
    assert factors.rank == 8 and len(factors.index) == built["people"] > USERS // 2
    assert np.isfinite(factors.taste).all() and np.abs(factors.appeal).sum() > 0


@pytest.fixture(scope="module")
def trained(market: Market, built: dict[str, Any]) -> dict[str, Any]:
    assert built["status"] == "built"  # train picks up the newest factors
    return train.run(market.settings, {**TRAIN, "collab": True})


def test_train_uses_the_factors_and_keeps_a_twin(
    built: dict[str, Any], trained: dict[str, Any]
) -> None:
    manifest = artifacts.read_manifest(Path(trained["folder"]))
    assert manifest["collab_version"] == built["version"]
    assert manifest["collab"]["used"] and manifest["collab"]["cutoff"] == built["cutoff"]
    assert manifest["twin"]["collab_version"] is None
    assert (Path(trained["folder"]) / "twin.joblib").is_file()


def test_evaluation_reports_with_and_without_and_the_exposure_curve(
    market: Market, trained: dict[str, Any]
) -> None:
    result = evaluate.run(market.settings, {"baseline": "none"})
    compared = result["collab"]
    assert compared["served_with_collab"] is True
    assert set(compared["with"]) == set(compared["without"]) >= {"like_auc"}
    assert compared["with"] != compared["without"]  # two models, scored on one window
    curve = result["metrics"]["exposure_curve"]
    assert [c["damping"] for c in curve] == list(DAMPINGS)
    undamped = curve[0]
    assert undamped["mutual_precision_at_10"] == pytest.approx(
        evaluate_undamped(market, trained), abs=1e-9
    )
    report = Path(result["report"]).read_text()
    assert "## Fair exposure: exposure damping" in report
    assert "## Collaborative signals (who likes whom)" in report
    png = Path(result["report"]).parent / "exposure_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((png.parent / "metrics.json").read_text())
    assert saved["collab"]["collab_wins"][0] == compared["collab_wins"][0]


def evaluate_undamped(market: Market, trained: dict[str, Any]) -> float:
    """The served precision when the damping setting is 0: the curve's first point."""
    root = market.settings.index.artifacts_dir
    plain = Settings.from_env(
        {
            "DATABASE_URL": str(market.settings.database.url),
            "MATCHING_ARTIFACTS_DIR": str(root),
            "MATCHING_EXPOSURE_DAMPING": "0",
        }
    )
    again = evaluate.run(plain, {"model": trained["folder"], "baseline": "none"})
    return float(again["metrics"]["mutual_precision_at_10"])


async def _people(settings: Settings, model_version: str) -> list[Any]:
    conn = await connect(str(settings.database.url))
    try:
        return [indexed.person for indexed in await fetch_people(conn, model_version)]
    finally:
        await conn.close()


def test_the_reranker_loads_the_factors_with_the_model_and_refuses_tampered_ones(
    market: Market, built: dict[str, Any], trained: dict[str, Any]
) -> None:
    reranker = Reranker(market.settings)
    reranker.reconfigure({"model_version": trained["version"]})
    assert reranker.info()["kind"] == "learned"
    manifest = artifacts.read_manifest(Path(trained["folder"]))
    people = asyncio.run(_people(market.settings, manifest["embedding_model_version"]))
    ranked = reranker.rank(people[0], [Candidate(p, 0.5, 0.5) for p in people[1:60]], 10)
    assert len(ranked) == 10 and all(m.mutual and "p_mutual" in m.mutual for m in ranked)
    factors = Path(built["folder"]) / collab.FACTORS_FILE
    factors.write_bytes(factors.read_bytes()[:-8] + b"tampered")
    fresh = Reranker(market.settings)
    fresh.reconfigure({"model_version": trained["version"]})
    assert fresh.info()["kind"] == "weighted"
    assert fresh.info()["refused"]["model_version"] == trained["version"]
