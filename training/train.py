"""Train the compatibility model on swipe history and publish it as a versioned artifact.

Time-based: the most recent `test_days` are held out; everything the features know about
people's behaviour (selectivity, popularity) is counted from swipes before that cutoff only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import ThreadpoolController

from matching.core.ml import artifacts
from matching.core.ml.embedding import model_path, model_version
from matching.core.ml.model import KIND, TWIN_FILE, CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, StatsTable, without_collab
from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from matching.core.storage.db import connect
from training.collab_features import Published, load_published, out_of_fold, published_sides
from training.jobs import JobError
from training.pairs_data import History, PairRows, Window, build_rows, load_history, time_window

log = logging.getLogger(__name__)


class InsufficientHistory(JobError):  # a RuntimeError
    """Too little swipe history to train (or to evaluate) a model; `summary` has the counts."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = {"status": "insufficient_history", "reason": message, **summary}


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """training/configs/train.yaml; unknown keys are an error."""

    test_days: float = 7.0
    min_swipes: int = 1000  # in the training window
    min_positives: int = 100  # likes in the training window
    max_iter: int = 200
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    calibration_folds: int = 3
    mutual_weight: float = 2.0  # a like that became a mutual match counts this much
    prior_strength: float = 10.0  # swipes' worth of the population rate in each user's rates
    seed: int = 7
    threads: int = 1  # OpenMP threads while fitting (0: all cores; they spin-wait if shared)
    embedding_model_version: str | None = None  # None: the configured embedder's
    collab: bool = False  # serve with the like-graph features: they did not win (docs/learning.md)
    collab_version: str | None = None  # None: the newest (`matching jobs collab`)
    collab_folds: int = 3  # training rows read factors fitted without their own fold
    # `ray`: the pair dataset on Ray Data and XGBoost on Ray Train (training/train_ray.py);
    # `sklearn`: the history in this process and scikit-learn (train.yaml says ray).
    trainer: Literal["sklearn", "ray"] = "sklearn"
    workers: int = 2  # Ray Train workers (and featurising actors)
    cpus_per_worker: int = 1
    gpu: Literal["auto", "true", "false"] = "auto"  # auto: one per worker when Ray has GPUs
    shards: int = 2  # parallel PostgreSQL read tasks (hash shards of the swiper)
    batch_size: int = 4096  # swipes per featurising call
    dataset: str | None = None  # a written pair dataset folder: retrain from it, no database
    dataset_dir: str | None = None  # None: <MATCHING_ARTIFACTS_DIR>; versions under pairs/
    checkpoint_dir: str | None = None  # Ray Train storage (a URI on a cluster); None: local
    checkpoint_every: int = 50  # boosting rounds between checkpoints (and at the end)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> TrainConfig:
        given = dict(config or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown train config keys: {unknown}; known: {sorted(known)}")
        if given.get("calibration", "isotonic") not in ("isotonic", "sigmoid"):
            raise ValueError("calibration: must be 'isotonic' or 'sigmoid'")
        if given.get("trainer", "sklearn") not in ("sklearn", "ray"):
            raise ValueError("trainer: must be 'sklearn' or 'ray'")
        if "gpu" in given:  # YAML reads `gpu: true` as a bool
            given["gpu"] = str(given["gpu"]).lower()
            if given["gpu"] not in ("auto", "true", "false"):
                raise ValueError("gpu: must be auto, true or false")
        defaults = cls()
        values: dict[str, Any] = {}
        for name, value in given.items():
            default = getattr(defaults, name)
            kind = str if default is None else type(default)
            try:
                values[name] = None if value is None else _as(kind, value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: {value!r} is not a {kind.__name__}") from exc
        cfg = cls(**values)
        if cfg.test_days <= 0 or cfg.calibration_folds < 2 or cfg.collab_folds < 2:
            raise ValueError("test_days must be > 0, calibration_folds and collab_folds >= 2")
        if min(cfg.workers, cfg.cpus_per_worker, cfg.shards, cfg.batch_size) < 1:
            raise ValueError("workers, cpus_per_worker, shards and batch_size must be >= 1")
        if cfg.trainer == "ray" and cfg.collab:
            raise ValueError("collab: the ray trainer does not read collaborative features yet")
        return cfg


def _as(kind: type, value: Any) -> Any:
    """A config value as its field's type ("false" is a false bool, not a true string)."""
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError(value)
        return value.lower() == "true"
    return kind(value)


AUC_BINS = 1 << 18  # score bins of LikeTally's AUC: ties within 4e-6 of each other


def auc_from_histograms(positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC from the counts of positives and negatives per score bin (ascending): each
    positive beats the negatives of lower bins and ties those of its own, as
    `roc_auc_score` counts exact ties."""
    pos, neg = positives.astype(np.float64), negatives.astype(np.float64)
    below = np.cumsum(neg) - neg
    pairs = pos.sum() * neg.sum()
    return float(((pos * below).sum() + 0.5 * (pos * neg).sum()) / pairs) if pairs else 0.5


def _bins(scores: np.ndarray) -> np.ndarray:
    """Bins of scores in [0, 1] (clipped), AUC_BINS of them."""
    q = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    return np.minimum((q * AUC_BINS).astype(np.int64), AUC_BINS - 1)


class LikeTally:
    """How well P(like) predicts held-out swipes, added up batch by batch: sums and score
    histograms, so a window of any size is evaluated in constant memory (the Ray trainer
    streams its held-out window through one). `weighted`: also the AUC of another score in
    [0, 1] on the same swipes (the weighted score's `ab_score`)."""

    def __init__(self) -> None:
        self.n, self.positives, self.log_loss, self.brier = 0, 0, 0.0, 0.0
        self._hist: dict[str, np.ndarray] = {}

    def add(
        self, labels: np.ndarray, p_like: np.ndarray, weighted: np.ndarray | None = None
    ) -> LikeTally:
        y = np.asarray(labels).astype(bool)
        p = np.clip(np.asarray(p_like, dtype=np.float64), 1e-6, 1 - 1e-6)
        self.n += int(y.size)
        self.positives += int(y.sum())
        self.log_loss -= float(np.log(np.where(y, p, 1 - p)).sum())
        self.brier += float(((p - y) ** 2).sum())
        self._count("like", y, p)
        if weighted is not None:
            self._count("weighted", y, weighted)
        return self

    def _count(self, name: str, y: np.ndarray, scores: np.ndarray) -> None:
        hist = self._hist.setdefault(name, np.zeros((2, AUC_BINS), dtype=np.int64))
        bins = _bins(scores)
        hist[1] += np.bincount(bins[y], minlength=AUC_BINS)
        hist[0] += np.bincount(bins[~y], minlength=AUC_BINS)

    def metrics(self) -> dict[str, float]:
        if not self.n:
            raise ValueError("no swipes to evaluate")
        out = {
            "like_auc": round(auc_from_histograms(*self._hist["like"][::-1]), 6),
            "like_log_loss": round(self.log_loss / self.n, 6),
            "like_brier": round(self.brier / self.n, 6),
            "like_rate": round(self.positives / self.n, 6),
        }
        if "weighted" in self._hist:
            out["weighted_like_auc"] = round(auc_from_histograms(*self._hist["weighted"][::-1]), 6)
        return out


def like_metrics(labels: np.ndarray, p_like: np.ndarray) -> dict[str, float]:
    """How well P(like) predicts the held-out swipes (LikeTally over them at once)."""
    return LikeTally().add(labels, p_like).metrics()


def fit(rows: PairRows, cfg: TrainConfig) -> CalibratedClassifierCV:
    """Gradient-boosted trees, calibrated on folds of the training window."""
    boosted = HistGradientBoostingClassifier(
        learning_rate=cfg.learning_rate,
        max_iter=cfg.max_iter,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf,
        l2_regularization=cfg.l2_regularization,
        random_state=cfg.seed,
    )
    folds = StratifiedKFold(cfg.calibration_folds, shuffle=True, random_state=cfg.seed)
    # ensemble=False: one boosted model fitted on the whole window, calibrated on out-of-fold
    # predictions; serving then predicts with one model instead of one per fold.
    model = CalibratedClassifierCV(boosted, method=cfg.calibration, cv=folds, ensemble=False)
    threads = ThreadpoolController().limit(limits=cfg.threads or None, user_api="openmp")
    with threads:
        model.fit(rows.features, rows.labels, sample_weight=rows.weights)
    return model


def _counts(
    train: PairRows | None, test: PairRows | None, n: int, cfg: TrainConfig
) -> dict[str, Any]:
    return {
        "swipes": n,
        "train_swipes": 0 if train is None else len(train.labels),
        "train_positives": 0 if train is None else train.positives,
        "test_swipes": 0 if test is None else len(test.labels),
        "test_positives": 0 if test is None else test.positives,
        "min_swipes": cfg.min_swipes,
        "min_positives": cfg.min_positives,
        "test_days": cfg.test_days,
    }


def check_enough(train: PairRows, test: PairRows, n: int, cfg: TrainConfig) -> None:
    """Raise InsufficientHistory unless both windows can train and evaluate a model."""
    check_counts(_counts(train, test, n, cfg), cfg)


def check_counts(counts: dict[str, Any], cfg: TrainConfig) -> None:
    """`check_enough` on the counts alone (the Ray path counts its rows in Ray Data)."""
    train_n, train_pos = counts["train_swipes"], counts["train_positives"]
    test_n, test_pos = counts["test_swipes"], counts["test_positives"]
    problems = []
    if train_n < cfg.min_swipes:
        problems.append(f"{train_n} swipes before the cutoff, need {cfg.min_swipes}")
    if train_pos < cfg.min_positives:
        problems.append(f"{train_pos} likes before the cutoff, need {cfg.min_positives}")
    if train_n - train_pos < cfg.calibration_folds:
        problems.append(
            f"{train_n - train_pos} passes before the cutoff, need {cfg.calibration_folds}"
        )
    if test_pos == 0 or test_pos == test_n:
        problems.append(
            f"the held-out last {cfg.test_days:g} days have {test_n} swipes with "
            f"{test_pos} likes: need both likes and passes"
        )
    if problems:
        raise InsufficientHistory("too little history to train: " + "; ".join(problems), counts)


def _window(history: History, cfg: TrainConfig) -> Window:
    window = time_window(history.swipes, cfg.test_days)
    if window is None:
        msg = "too little history to train: no swipes between people with embeddings"
        raise InsufficientHistory(msg, _counts(None, None, 0, cfg))
    return window


def _datasets(
    history: History,
    cfg: TrainConfig,
    params: FeatureParams,
    window: Window,
    published: Published | None,
) -> tuple[StatsTable, PairRows, PairRows]:
    train_swipes, test_swipes = window.split(history.swipes)
    # Behaviour statistics from the past only: the held-out window must not leak into them,
    # and a training row sees only the swipes before it.
    triples = ((s.swiper, s.swiped, s.liked) for s in train_swipes)
    stats = StatsTable.from_swipes(triples, cfg.prior_strength)
    train = build_rows(
        history,
        train_swipes,
        stats,
        params,
        point_in_time=True,
        mutual_weight=cfg.mutual_weight,
        mutual_before=window.cutoff,
        collab=None
        if published is None
        else out_of_fold(train_swipes, published.params, cfg.collab_folds, cfg.seed),
    )
    held_out = None if published is None else published_sides(published.factors)
    test = build_rows(history, test_swipes, stats, params, point_in_time=False, collab=held_out)
    check_enough(train, test, len(history.swipes), cfg)
    return stats, train, test


def _plain(rows: PairRows) -> PairRows:
    return replace(rows, features=without_collab(rows.features))


def _fit_both(
    train: PairRows, cfg: TrainConfig, published: Published | None
) -> tuple[Any, Any | None, bool]:
    """(the model, its twin with the other choice of collaborative features or None, whether
    the model uses them): the evaluation compares the two on the held-out window."""
    if published is None:
        return fit(train, cfg), None, False
    if cfg.collab:
        return fit(train, cfg), fit(_plain(train), cfg), True
    return fit(_plain(train), cfg), fit(train, cfg), False


def _collab_manifest(published: Published | None, used: bool, cfg: TrainConfig) -> dict[str, Any]:
    if published is None:
        return {"collab_version": None, "collab": None}
    about = {"version": published.version, "cutoff": published.cutoff.isoformat()}
    return {
        "collab_version": published.version if used else None,
        "collab": {**about, "used": used, "folds": cfg.collab_folds},
        "twin": {"file": TWIN_FILE, "collab_version": None if used else published.version},
    }


def train_on(history: History, settings: Settings, cfg: TrainConfig, embedder: str) -> Path:
    """Fit on `history` and publish the artifact; returns its folder."""
    params = FeatureParams.from_settings(settings.matching)
    window = _window(history, cfg)
    published = load_published(settings, cfg.collab_version, window.cutoff)
    stats, train, test = _datasets(history, cfg, params, window, published)
    estimator, twin, used = _fit_both(train, cfg, published)
    served = test if used else _plain(test)
    metrics = like_metrics(test.labels, estimator.predict_proba(served.features)[:, 1])
    weighted = test.features[:, PAIR_FEATURES.index("ab_score")]
    metrics["weighted_like_auc"] = round(float(roc_auc_score(test.labels, weighted)), 6)
    about = {
        "estimator": f"CalibratedClassifierCV(HistGradientBoostingClassifier, {cfg.calibration})",
        "embedding_model_version": embedder,
        "window": window.to_dict(),
        "rows": {
            "train": len(train.labels),
            "train_positives": train.positives,
            "train_mutual": int((train.weights > 1).sum()),
            "test": len(test.labels),
            "test_positives": test.positives,
            "dropped_swipes": history.dropped_swipes,
            "users_with_stats": len(stats.counts),
        },
        "metrics": metrics,
        **_collab_manifest(published, used, cfg),
    }
    factors = published.factors if used and published is not None else None
    return publish(settings, cfg, estimator, stats, params, about, twin, factors)


def publish(
    settings: Settings,
    cfg: TrainConfig,
    estimator: Any,
    stats: StatsTable,
    params: FeatureParams,
    about: dict[str, Any],
    twin: Any | None = None,
    factors: Any | None = None,
) -> Path:
    """Save the model in today's artifact format and push it to the registry (either trainer);
    `about` is the trainer's part of the manifest (estimator, window, rows, metrics)."""
    version = artifacts.new_version()
    manifest = {
        "version": version,
        "kind": "compatibility",
        "algorithm_version": f"gbm-{version}",
        "sklearn_version": sklearn.__version__,
        "feature_count": len(PAIR_FEATURES),
        "feature_params": params.to_dict(),
        "config": asdict(cfg),
        **about,
    }
    model = CompatibilityModel(estimator, stats, params, manifest, factors)
    tmp = artifacts.staging(settings.index.artifacts_dir, KIND, version)
    model.save(tmp)
    if twin is not None:
        joblib.dump(twin, tmp / TWIN_FILE)
    folder = artifacts.publish(tmp, manifest)
    Registry.from_settings(settings).push(KIND, folder)
    return folder


async def train(settings: Settings, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read the history, train, publish; raises InsufficientHistory with too little."""
    cfg = TrainConfig.from_mapping(config)
    embedder = cfg.embedding_model_version or model_version(model_path(settings.model))
    conn = await connect(settings.database)
    try:
        history = await load_history(conn, embedder)
    finally:
        await conn.close()
    folder = await asyncio.to_thread(train_on, history, settings, cfg, embedder)
    manifest = artifacts.read_manifest(folder)
    log.info("model %s: %s", folder, manifest["metrics"])
    keys = ("version", "algorithm_version", "window", "rows", "metrics")
    return {"status": "trained", "folder": str(folder), **{k: manifest[k] for k in keys}}


def run(settings: Settings, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`matching jobs train`: the summary of the published model."""
    cfg = TrainConfig.from_mapping(config)
    if cfg.trainer == "ray":
        from training.train_ray import train_ray  # Ray Train only where it runs

        return train_ray(settings, cfg)
    return asyncio.run(train(settings, config))
