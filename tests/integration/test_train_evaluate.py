"""Train and evaluate the compatibility model on a small synthetic market in a real
PostgreSQL: likes follow hidden popularity, selectivity and shared interests, which the
learned two-sided model can see through the history and the weighted score cannot."""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matching.core.ml import artifacts
from matching.core.ml.gate import better_than
from matching.core.ml.model import CompatibilityModel, ModelArtifactError, mutual_probability
from matching.core.ml.pairs import PAIR_FEATURES, pair_matrix
from matching.core.ml.registry import PromotionRefused, Registry
from matching.core.settings import Settings
from tests.integration.conftest import _create_database, _drop_database
from tests.support import connect
from training import evaluate, train
from training.pairs_data import PairRows, Window, build_rows, load_history
from training.train import InsufficientHistory, TrainConfig, check_enough, like_metrics

EMBEDDER = "test-model@1"
DAYS = 14  # of history, the last 7 held out
NOW = datetime.now(UTC).replace(microsecond=0)
INTERESTS = [f"interest-{i}" for i in range(12)]
PROFILE_COLUMNS = [
    "id", "name", "industry", "job_level", "interests", "languages", "latitude", "longitude",
    "age", "last_active_at",
]  # fmt: skip
IMPRESSION_COLUMNS = [
    "user_id", "event_type", "target_user_id", "algorithm_version", "payload", "created_at",
]  # fmt: skip
TRAIN_CONFIG = {
    "test_days": 7,
    "min_swipes": 500,
    "min_positives": 50,
    "max_iter": 40,
    "learning_rate": 0.1,
    "embedding_model_version": EMBEDDER,
}


@dataclass(frozen=True)
class Market:
    settings: Settings
    swipes: int
    mutual: int


def _people(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    return [
        (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            f"p{i}",
            rng.choice(["software", "media", "energy", "fintech"]),
            rng.choice(["entry", "mid", "senior", "lead"]),
            rng.sample(INTERESTS, rng.randint(2, 4)),
            ["english"],
            52.5 + rng.uniform(-0.3, 0.3),
            13.4 + rng.uniform(-0.3, 0.3),
            rng.randint(22, 60),
            NOW - timedelta(days=rng.uniform(0, 3)),
        )
        for i in range(n)
    ]


def _history(
    rng: random.Random, people: list[tuple[Any, ...]], pairs: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Swipes over DAYS days: P(a likes b) rises with b's hidden popularity, a's hidden
    eagerness and their shared interests; pairs both sides liked become mutual matches."""
    popularity = {p[0]: rng.gauss(0, 1.2) for p in people}
    eagerness = {p[0]: rng.gauss(0, 1.0) for p in people}
    interests = {p[0]: set(p[4]) for p in people}
    swipes, matches, seen = [], [], set()
    for _ in range(pairs):
        a, b = (p[0] for p in rng.sample(people, 2))
        if (a, b) in seen or (b, a) in seen:
            continue
        seen.add((a, b))
        liked_at = {}
        for x, y in ((a, b), (b, a)):
            if rng.random() > 0.8:
                continue
            z = (
                -1.0
                + 1.5 * popularity[y]
                + 1.0 * eagerness[x]
                + 0.6 * len(interests[x] & interests[y])
            )
            liked = rng.random() < 1 / (1 + math.exp(-z))
            at = NOW - timedelta(days=rng.uniform(0.01, DAYS))
            swipes.append((x, y, "like" if liked else "pass", at, at))
            if liked:
                liked_at[x] = at
        if len(liked_at) == 2:
            u1, u2 = sorted((a, b))
            when = max(liked_at.values())
            match_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            matches.append((match_id, u1, u2, "mutual", when, when))
    return swipes, matches


async def _fill(url: str, seed: int, n: int, pairs: int) -> tuple[int, int]:
    rng = random.Random(seed)
    people = _people(rng, n)
    swipes, matches = _history(rng, people, pairs)
    vectors = np.random.default_rng(seed).standard_normal((n, 8)).astype("<f4")
    conn = await connect(url)
    try:
        await conn.copy_records_to_table(
            "profiles",
            records=people,
            columns=PROFILE_COLUMNS,
        )
        await conn.copy_records_to_table(
            "user_features",
            records=[
                (p[0], v.tobytes(), 8, EMBEDDER) for p, v in zip(people, vectors, strict=True)
            ],
            columns=["user_id", "embedding", "embedding_dim", "model_version"],
        )
        await conn.copy_records_to_table(
            "swipe_history",
            records=swipes,
            columns=["swiper_id", "swiped_id", "action", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "user_matches",
            records=matches,
            columns=["id", "user1_id", "user2_id", "status", "created_at", "updated_at"],
        )
        shown = [
            (s[0], "match_shown", s[1], "weighted-v1", {"position": 1, "score": 0.5}, s[3])
            for s in swipes
        ]
        await conn.copy_records_to_table(
            "matching_analytics",
            records=shown,
            columns=IMPRESSION_COLUMNS,
        )
    finally:
        await conn.close()
    return len(swipes), len(matches)


def _settings(url: str, root: Path) -> Settings:
    return Settings.from_env({"DATABASE_URL": url, "MATCHING_ARTIFACTS_DIR": str(root)})


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    from matching.core.storage.migrate import migrate_url

    name = f"matching_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_database(name))
    try:
        asyncio.run(migrate_url(url))
        swipes, mutual = asyncio.run(_fill(url, seed=11, n=250, pairs=9_000))
        yield Market(_settings(url, tmp_path_factory.mktemp("artifacts")), swipes, mutual)
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture(scope="module")
def trained(market: Market) -> dict[str, Any]:
    return train.run(market.settings, TRAIN_CONFIG)


@pytest.fixture(scope="module")
def evaluated(market: Market, trained: dict[str, Any]) -> dict[str, Any]:
    return evaluate.run(market.settings, {"baseline": trained["folder"]})


def test_train_publishes_a_versioned_artifact(market: Market, trained: dict[str, Any]) -> None:
    folder = Path(trained["folder"])
    assert trained["status"] == "trained"
    assert folder == artifacts.latest(market.settings.index.artifacts_dir, "models")
    assert {f.name for f in folder.iterdir()} >= {
        "manifest.json",
        "model.joblib",
        "features.json",
        "user_stats.npz",
    }
    manifest = artifacts.read_manifest(folder)
    assert manifest["algorithm_version"] == f"gbm-{manifest['version']}"
    assert json.loads((folder / "features.json").read_text()) == list(PAIR_FEATURES)
    rows = manifest["rows"]
    assert rows["train"] + rows["test"] == market.swipes
    assert 0.4 < rows["test"] / market.swipes < 0.6  # the last 7 of 14 days
    window = manifest["window"]
    assert window["test_start"] < window["test_end"] and window["test_days"] == 7
    metrics = manifest["metrics"]
    assert set(metrics) >= {"like_auc", "like_log_loss", "like_brier", "weighted_like_auc"}
    assert metrics["like_auc"] > 0.7 > metrics["weighted_like_auc"]


def test_stats_come_from_before_the_cutoff_only(trained: dict[str, Any]) -> None:
    model = CompatibilityModel.load(Path(trained["folder"]))
    total = sum(c[1] for c in model.stats.counts.values())
    assert total == trained["rows"]["train"]
    stranger = model.stats_for(uuid.uuid4())
    assert stranger.swipes_given == 0
    assert stranger.like_rate_given == pytest.approx(model.stats.prior_rate)


def test_the_loaded_artifact_predicts_what_was_measured_before_saving(
    market: Market, trained: dict[str, Any]
) -> None:
    model = CompatibilityModel.load(Path(trained["folder"]))

    async def history() -> Any:
        conn = await connect(str(market.settings.database.url))
        try:
            return await load_history(conn, EMBEDDER)
        finally:
            await conn.close()

    hist = asyncio.run(history())
    window = Window.from_dict(model.manifest["window"])
    _, test = window.split(hist.swipes)
    rows = build_rows(hist, test, model.stats, model.params, point_in_time=False)
    again = like_metrics(rows.labels, model.predict(rows.features))
    for key in ("like_auc", "like_log_loss", "like_brier"):
        assert again[key] == model.manifest["metrics"][key]
    # predict_both is the same model on pair_matrix rows, both ways
    a, group = test[0].swiper, [s for s in test if s.swiper == test[0].swiper]
    person, cands = hist.people[a], [hist.people[s.swiped] for s in group]
    sims = hist.similarities(a, [c.user_id for c in cands])
    p_ab, p_ba = model.predict_both(person, cands, sims, NOW)
    stats_b = [model.stats_for(c.user_id) for c in cands]
    args = (person, cands, sims, model.stats_for(a), stats_b, NOW, model.params)
    np.testing.assert_allclose(p_ab, model.predict(pair_matrix(*args)))
    np.testing.assert_allclose(p_ba, model.predict(pair_matrix(*args, reverse=True)))
    assert np.all(mutual_probability(p_ab, p_ba) <= np.minimum(p_ab, p_ba))


def test_evaluation_agrees_with_training_and_beats_the_weighted_score(
    trained: dict[str, Any], evaluated: dict[str, Any]
) -> None:
    m = evaluated["metrics"]
    # the same window and model; the two reports round differently
    assert m["like_auc"] == pytest.approx(trained["metrics"]["like_auc"], abs=1e-4)
    assert m["like_log_loss"] == pytest.approx(trained["metrics"]["like_log_loss"], abs=1e-4)
    assert m["requesters_with_mutual"] > 50
    assert m["mutual_precision_at_10"] > m["weighted_mutual_precision_at_10"] + 0.05
    assert m["mutual_recall_at_10"] >= m["weighted_mutual_recall_at_10"]
    assert m["mutual_precision_lift"] > 1.1
    assert 0 < m["coverage_at_10"] <= 1 and m["impressions"] > 0
    for name in ("impressions", "top10", "weighted_top10"):
        assert 0 <= m[f"{name}_gini"] < 1 and 0 < m[f"{name}_top1pct_share"] < 1
    assert sum(b["count"] for b in m["calibration"]) == m["test_swipes"]
    assert m["like_ece"] < 0.1  # calibrated
    assert evaluated["better_than_baseline"][0]  # itself, on the same window


def test_report_and_plots_are_written_beside_the_model(evaluated: dict[str, Any]) -> None:
    out = Path(evaluated["folder"]) / "evaluation"
    report = (out / "report.md").read_text()
    for png in ("roc.png", "calibration.png", "exposure.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({png})" in report
    assert "| mutual_precision_at_10 |" in report and "| impressions |" in report
    m = evaluated["metrics"]
    margin = m["mutual_precision_at_10"] - m["weighted_mutual_precision_at_10"]
    assert f"({margin:+.4f}, x{m['mutual_precision_lift']:.2f})" in report
    assert "This model may be promoted: against the weighted score on the same window" in report
    assert evaluate.load_metrics(out.parent) == evaluated["metrics"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_promotion_gate(evaluated: dict[str, Any], trained: dict[str, Any]) -> None:
    m = evaluated["metrics"]
    assert better_than(m, None)[0]
    assert better_than(m, m)[0]
    ok, why = better_than(m, {**m, "like_auc": m["like_auc"] + 0.01})
    assert not ok and "like_auc" in why
    ok, why = better_than(m, {**m, "mutual_precision_at_10": 1.0})
    assert not ok and "mutual_precision_at_10" in why
    ok, why = better_than(trained["metrics"], m)  # trained but never evaluated
    assert not ok and "evaluate" in why


def test_loading_checks_the_artifact(trained: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(trained["folder"], copy)
    (copy / "features.json").write_text(json.dumps([*PAIR_FEATURES[:-1], "shoe_size"]))
    with pytest.raises(ModelArtifactError, match="shoe_size"):
        CompatibilityModel.load(copy)

    class Narrow:
        n_features_in_ = 3

    model = CompatibilityModel.load(Path(trained["folder"]))
    with pytest.raises(ModelArtifactError, match="takes 3 features"):
        CompatibilityModel(Narrow(), model.stats, model.params, model.manifest)
    (copy / "user_stats.npz").unlink()
    with pytest.raises(ModelArtifactError, match=r"no user_stats\.npz"):
        CompatibilityModel.load(copy)


def test_unknown_config_keys_are_refused(market: Market) -> None:
    with pytest.raises(ValueError, match="test_dayz"):
        train.run(market.settings, {"test_dayz": 3})
    with pytest.raises(ValueError, match="calibration"):
        train.run(market.settings, {"calibration": "magic"})
    with pytest.raises(ValueError, match="max_iter: 'many'"):
        train.run(market.settings, {"max_iter": "many"})
    with pytest.raises(ValueError, match="test_days"):
        train.run(market.settings, {"test_days": 0})
    with pytest.raises(ValueError, match="modell"):
        evaluate.run(market.settings, {"modell": "x"})
    with pytest.raises(ValueError, match="calibration_bins"):
        evaluate.run(market.settings, {"calibration_bins": 1})


def _rows(labels: list[int]) -> PairRows:
    y = np.array(labels)
    return PairRows([], np.zeros((len(y), len(PAIR_FEATURES))), y, np.ones(len(y)))


def test_both_windows_need_likes_and_passes() -> None:
    cfg = TrainConfig(min_swipes=4, min_positives=2, calibration_folds=2)
    check_enough(_rows([1, 1, 0, 0]), _rows([1, 0]), 6, cfg)
    with pytest.raises(InsufficientHistory, match="held-out last 7 days have 2 swipes with 2"):
        check_enough(_rows([1, 1, 0, 0]), _rows([1, 1]), 6, cfg)
    with pytest.raises(InsufficientHistory, match="1 passes before the cutoff, need 2"):
        check_enough(_rows([1, 1, 1, 0]), _rows([1, 0]), 6, cfg)


def test_too_little_history_is_refused(settings: Settings, trained: dict[str, Any]) -> None:
    cfg = {**TRAIN_CONFIG, "min_swipes": 1000}
    with pytest.raises(InsufficientHistory, match="held-out window"):
        evaluate.run(settings, {"model": trained["folder"]})  # a database without swipes
    with pytest.raises(InsufficientHistory, match="no swipes") as empty:
        train.run(settings, cfg)
    assert empty.value.summary["status"] == "insufficient_history"
    asyncio.run(_fill(str(settings.database.url), seed=3, n=30, pairs=200))
    with pytest.raises(InsufficientHistory, match="need 1000") as few:
        train.run(settings, cfg)
    assert few.value.summary["train_swipes"] < 1000
    assert artifacts.latest(settings.index.artifacts_dir, "models") is None
    with pytest.raises(FileNotFoundError, match="matching jobs train"):
        evaluate.run(settings, {})


@pytest.mark.usefixtures("evaluated")
def test_the_live_model_is_the_baseline_on_the_same_window(
    market: Market, trained: dict[str, Any]
) -> None:
    """With a model live, evaluate scores it on the candidate's window, and the promotion
    gate compares the two there."""
    settings = market.settings
    registry = Registry.from_settings(settings)
    source = Path(trained["folder"])
    live = "00000000T000000000000Z"  # sorts before the candidate: "newest" stays the candidate
    copy = source.parent / live
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("evaluation"))
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": live}))
    try:
        with pytest.raises(PromotionRefused, match="never evaluated"):
            registry.promote("models", live)
        registry.promote("models", live, force=True)
        again = evaluate.run(settings, {})  # baseline: live
        assert again["model"] == trained["version"]
        assert again["baseline"]["model"] == live
        assert again["baseline"]["metrics"]["like_auc"] == again["metrics"]["like_auc"]
        ok, why = again["promotable"]
        assert ok and f"against live {live} on the same window" in why
        assert registry.promote("models", trained["version"])["models"] == trained["version"]
        report = (Path(again["folder"]) / "evaluation" / "report.md").read_text()
        assert f"## Against model {live} (live when evaluated)" in report
    finally:
        (Path(settings.index.artifacts_dir) / "live.json").unlink(missing_ok=True)
        shutil.rmtree(copy)
        evaluate.run(settings, {"baseline": trained["folder"]})  # as the other tests left it
