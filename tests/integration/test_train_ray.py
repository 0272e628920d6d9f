"""`matching jobs train` with the Ray trainer on a small seeded market in a real PostgreSQL and
a local Ray: the pair dataset built in shards equals the in-process one row for row, the model
it trains loads in the serving reranker, and it is as good as the scikit-learn model on the
same held-out window (both reported by the evaluation)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from deployments.reranker import Reranker
from matching.core.ml import artifacts
from matching.core.ml.boosted import BoostedClassifier
from matching.core.ml.model import CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from tests.integration.conftest import _create_database, _drop_database
from tests.integration.test_train_evaluate import EMBEDDER, TRAIN_CONFIG, _fill, _settings
from tests.support import connect
from training import evaluate, train
from training.pairs_data import Window, build_rows, load_history

AUC_TOLERANCE = 0.02  # the Ray model's held-out AUC may trail scikit-learn's by this much
RAY = ("trainer=ray", "workers=2", "cpus_per_worker=1", "shards=2", "checkpoint_every=10")


async def _analyze(url: str) -> None:
    conn = await connect(url)
    try:  # what autovacuum does after a bulk load: the planner's row counts
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, int]]:
    from matching.core.storage.migrate import migrate_url

    name = f"matching_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_database(name))
    try:
        asyncio.run(migrate_url(url))
        swipes, _ = asyncio.run(_fill(url, seed=11, n=250, pairs=9_000))
        asyncio.run(_analyze(url))
        yield _settings(url, tmp_path_factory.mktemp("artifacts")), swipes
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture(scope="module")
def trained(market: tuple[Settings, int]) -> dict[str, Any]:
    """`matching jobs train` (Ray trainer) in its own process, as a RayJob runs it."""
    settings, _ = market
    # the pair dataset under a URI, as on a cluster with an object store (file:// here: the
    # same pyarrow.fs path, manifest written last, no rename)
    store = f"file://{settings.index.artifacts_dir.parent / 'object-store'}"
    overrides = {**TRAIN_CONFIG, "max_iter": 40, "dataset_dir": store}
    sets = [f"{k}={v}" for k, v in overrides.items()] + list(RAY)
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database.url),
        "MATCHING_ARTIFACTS_DIR": str(settings.index.artifacts_dir),
    }
    env.pop("RAY_ADDRESS", None)
    args = [sys.executable, "-m", "matching.cli.main", "--log-level", "WARNING", "jobs", "train"]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    summary: dict[str, Any] = json.JSONDecoder().raw_decode(done.stdout[done.stdout.find("{") :])[0]
    return summary


@pytest.fixture(scope="module")
def baseline(market: tuple[Settings, int]) -> dict[str, Any]:
    """The scikit-learn model on the same history (trainer: sklearn)."""
    return train.run(market[0], {**TRAIN_CONFIG, "max_iter": 40, "trainer": "sklearn"})


def test_the_ray_model_is_published_in_todays_format(
    market: tuple[Settings, int], trained: dict[str, Any]
) -> None:
    settings, swipes = market
    folder = Path(trained["folder"])
    assert trained["status"] == "trained"
    manifest = artifacts.read_manifest(folder)
    assert manifest["trainer"] == "ray" and manifest["algorithm_version"].startswith("gbm-")
    assert manifest["rows"]["train"] + manifest["rows"]["test"] == swipes
    assert 0 < manifest["rows"]["calibration"] < manifest["rows"]["train"]
    model = CompatibilityModel.load(folder)
    assert isinstance(model._estimator, BoostedClassifier)
    assert sum(c[1] for c in model.stats.counts.values()) == manifest["rows"]["train"]
    checkpoints = list((settings.index.artifacts_dir / "ray_train").rglob("checkpoint_*"))
    assert checkpoints, "Ray Train kept no checkpoint"


def test_the_serving_reranker_loads_and_scores_it(
    market: tuple[Settings, int], trained: dict[str, Any]
) -> None:
    settings, _ = market
    reranker = Reranker(settings)
    reranker.reconfigure({"model_version": trained["version"]})
    assert reranker.info()["kind"] == "learned"
    hist = asyncio.run(_history(settings))
    people = list(hist.people.values())
    candidates = [
        Candidate(p, float(hist.similarities(people[0].user_id, [p.user_id])[0]))
        for p in people[1:30]
    ]
    ranked = reranker.rank(people[0], candidates, 10)
    assert len(ranked) == 10
    assert all(m.mutual is not None and 0 <= m.compatibility_score <= 1 for m in ranked)


def test_the_parquet_rows_are_the_in_process_rows(
    market: tuple[Settings, int], trained: dict[str, Any]
) -> None:
    settings, _ = market
    manifest = artifacts.read_manifest(Path(trained["folder"]))
    model = CompatibilityModel.load(Path(trained["folder"]))
    folder = manifest["pair_dataset"]
    assert folder.startswith("file://") and "/object-store/pairs/" in folder
    table = pq.read_table(f"{folder}/data").to_pylist()
    got = {(r["swiper"], r["swiped"]): r for r in table}
    hist = asyncio.run(_history(settings))
    window = Window.from_dict(manifest["window"])
    train_swipes, test_swipes = window.split(hist.swipes)
    for swipes, in_time in ((train_swipes, True), (test_swipes, False)):
        rows = build_rows(
            hist,
            swipes,
            model.stats,
            model.params,
            point_in_time=in_time,
            mutual_weight=TRAIN_CONFIG.get("mutual_weight", 2.0),
            mutual_before=window.cutoff,
        )
        for i, s in enumerate(rows.swipes):
            row = got[(str(s.swiper), str(s.swiped))]
            assert row["train"] is in_time and row["label"] == rows.labels[i]
            assert row["weight"] == rows.weights[i]
            mine = np.array([row[name] for name in PAIR_FEATURES])
            np.testing.assert_allclose(mine, rows.features[i], rtol=1e-9, atol=1e-9)
    assert len(got) == len(train_swipes) + len(test_swipes)


def test_as_good_as_scikit_learn_on_the_same_window(
    market: tuple[Settings, int], trained: dict[str, Any], baseline: dict[str, Any]
) -> None:
    assert trained["window"] == baseline["window"]
    ray_auc, sk_auc = trained["metrics"]["like_auc"], baseline["metrics"]["like_auc"]
    assert ray_auc >= sk_auc - AUC_TOLERANCE, (ray_auc, sk_auc)
    # The evaluation scores both on the held-out window: AUC and mutual precision@10.
    report = evaluate.run(market[0], {"model": trained["folder"], "baseline": baseline["folder"]})
    ours, theirs = report["metrics"], report["baseline"]["metrics"]
    assert ours["like_auc"] == pytest.approx(ray_auc, abs=1e-4)
    assert theirs["like_auc"] == pytest.approx(sk_auc, abs=1e-4)
    assert ours["mutual_precision_at_10"] > ours["weighted_mutual_precision_at_10"]
    assert ours["mutual_precision_at_10"] >= theirs["mutual_precision_at_10"] - 0.05


async def _history(settings: Settings) -> Any:
    conn = await connect(str(settings.database.url))
    try:
        return await load_history(conn, EMBEDDER)
    finally:
        await conn.close()
