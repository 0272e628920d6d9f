"""`matching jobs train` with `trainer: ray`: the pair dataset on Ray Data, XGBoost on Ray Train.

1. The pair dataset (training/pair_dataset.py) is built from PostgreSQL in parallel shards and
   written to versioned Parquet, or read from a written one (`dataset: <folder>`).
2. XGBoost fits data-parallel on `workers` Ray Train workers (`XGBoostTrainer`, a
   `ScalingConfig` from the config, a GPU each when Ray has them), checkpointing every
   `checkpoint_every` rounds under `checkpoint_dir`; a rerun of the same run name resumes.
3. Calibration (isotonic or sigmoid) is fitted on fold 0 of the training window, which the
   booster did not see (on at most CALIBRATION_ROWS of it, a sample fixed by each row's
   features). Both are scored on Ray Data; the held-out window's scores stream through
   `train.LikeTally` a batch at a time, so the driver's memory does not grow with the history.
4. The calibrated booster (`matching.core.ml.boosted.BoostedClassifier`) is published in
   today's artifact format (`train.publish`): serving and the promotion gate take it as they
   take the scikit-learn model.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import xgboost

from matching.core.ml import artifacts
from matching.core.ml.boosted import BoostedClassifier, calibrate, fit_calibrator
from matching.core.ml.embedding import model_path, model_version
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams
from matching.core.settings import Settings
from matching.core.storage.db import connect
from training import pair_dataset
from training.jobs import init_ray
from training.pair_dataset import LABEL, WEIGHT, Featurize, PairContext, PairDataset
from training.pairs_data import Window, load_people
from training.pgdata import read_postgres
from training.train import InsufficientHistory, LikeTally, TrainConfig, check_counts, publish

log = logging.getLogger(__name__)
CALIBRATION_FOLD = 0
# The calibrator (one score in, P(like) out) is fitted on this many rows of its fold at most:
# a curve of one variable needs no more, and the driver holds them.
CALIBRATION_ROWS = 500_000
_COLUMNS = [*PAIR_FEATURES, LABEL, WEIGHT]
_STREAM_ROWS = 65_536  # held-out rows per batch through the driver's tally


async def _people(settings: Settings, embedder: str) -> Any:
    conn = await connect(settings.database)
    try:
        return await load_people(conn, embedder)
    finally:
        await conn.close()


def build_dataset(
    settings: Settings, cfg: TrainConfig, params: FeatureParams, embedder: str
) -> PairDataset:
    """Read the swipes in shards, featurise them on Ray workers, write Parquet."""
    url = str(settings.database.url)
    span = pair_dataset.read_span(url, embedder)
    if not span["kept"]:
        raise InsufficientHistory(
            "too little history to train: no swipes between people with embeddings",
            {"swipes": 0, "test_days": cfg.test_days},
        )
    window = Window.ending(span["start"], span["end"], cfg.test_days)
    stats = pair_dataset.read_stats(url, embedder, window.cutoff, cfg.prior_strength)
    people, embeddings = asyncio.run(_people(settings, embedder))
    context = PairContext(
        people, embeddings, stats, params, window.cutoff, cfg.mutual_weight, cfg.calibration_folds
    )
    source = read_postgres(
        url,
        pair_dataset.PAIRS_SQL,
        key="swiper_id",
        shards=cfg.shards,
        args=(embedder, window.cutoff),
        name="Swipes",
    )
    featurised = source.map_batches(
        Featurize,
        fn_constructor_args=(ray.put(context),),
        batch_format="pyarrow",
        batch_size=cfg.batch_size,
        # from one actor: a full pool would starve the reads of CPUs on a small machine
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cfg.workers),
    )
    root = cfg.dataset_dir or settings.index.artifacts_dir  # a path, or an object-store URI
    version = artifacts.new_version()
    manifest = {
        "version": version,
        "kind": pair_dataset.KIND,
        "embedding_model_version": embedder,
        "feature_params": params.to_dict(),
        "window": window.to_dict(),
        "swipes": int(span["kept"]),
        "dropped_swipes": int(span["total"]) - int(span["kept"]),
        "people": len(people),
        "mutual_weight": cfg.mutual_weight,
        "folds": cfg.calibration_folds,
    }
    written = pair_dataset.write(root, version, featurised, stats, manifest)
    log.info("train: wrote the pair dataset %s (%d swipes)", written.folder, span["kept"])
    return written


def select(batch: pa.Table, train: bool, calibration: bool | None = None) -> pa.Table:
    """The training (or held-out) rows of a batch; calibration True/False: only fold 0 / not."""
    keep = pc.equal(batch.column("train"), train)
    if calibration is not None:
        in_fold = pc.equal(batch.column("fold"), CALIBRATION_FOLD)
        keep = pc.and_(keep, in_fold if calibration else pc.invert(in_fold))
    return batch.filter(keep)


def _rows(dataset: PairDataset, **where: Any) -> ray.data.Dataset:
    ds = ray.data.read_parquet(dataset.data, columns=[*_COLUMNS, "train", "fold"])
    chosen = functools.partial(select, **where)
    return ds.map_batches(chosen, batch_format="pyarrow").select_columns(_COLUMNS)


def _tally(batch: pa.Table) -> pa.Table:
    train = batch.column("train").to_numpy(zero_copy_only=False).astype(bool)
    labels = batch.column(LABEL).to_numpy()
    sums = [train.sum(), labels[train].sum(), (~train).sum(), labels[~train].sum()]
    return pa.table({name: [int(v)] for name, v in zip(_TALLY, sums, strict=True)})


_TALLY = ("train_swipes", "train_positives", "test_swipes", "test_positives")


def counts(dataset: PairDataset) -> dict[str, Any]:
    """Rows and likes in each window: one row of sums per block on Ray Data, added here."""
    ds = ray.data.read_parquet(dataset.data, columns=["train", LABEL])
    parts = ds.map_batches(_tally, batch_format="pyarrow", batch_size=None).take_all()
    found = {name: sum(int(p[name]) for p in parts) for name in _TALLY}
    return {"swipes": dataset.manifest["swipes"], **found}


def xgboost_params(cfg: TrainConfig, gpu: bool) -> dict[str, Any]:
    """The scikit-learn trainer's settings in XGBoost's terms (leaf-wise histogram trees)."""
    return {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "auc"],
        "tree_method": "hist",
        "device": "cuda" if gpu else "cpu",
        "grow_policy": "lossguide",
        "max_depth": 0,
        "max_leaves": cfg.max_leaf_nodes,
        "eta": cfg.learning_rate,
        "lambda": cfg.l2_regularization,
        # a leaf's hessian, p(1-p) per row: about min_samples_leaf rows at a 20% like rate
        "min_child_weight": cfg.min_samples_leaf * 0.16,
        "nthread": cfg.cpus_per_worker,
        "seed": cfg.seed,
    }


def _train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard as a DMatrix, boosting in step with the others."""
    import ray.train
    from ray.train.xgboost import RayTrainReportCallback

    frame = ray.train.get_dataset_shard("train").materialize().to_pandas()
    dtrain = xgboost.DMatrix(
        frame[list(PAIR_FEATURES)].to_numpy(np.float64),
        label=frame[LABEL].to_numpy(),
        weight=frame[WEIGHT].to_numpy(),
        feature_names=list(PAIR_FEATURES),
    )
    start, rounds = None, int(config["rounds"])
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:  # resumed: continue from the last checkpointed round
        start = RayTrainReportCallback.get_model(checkpoint)
        rounds -= start.num_boosted_rounds()
    xgboost.train(
        config["params"],
        dtrain,
        num_boost_round=max(rounds, 0),
        xgb_model=start,
        evals=[(dtrain, "train")],
        verbose_eval=False,
        callbacks=[RayTrainReportCallback(frequency=int(config["every"]), checkpoint_at_end=True)],
    )


def _use_gpu(cfg: TrainConfig) -> bool:
    if cfg.gpu == "auto":
        return bool(ray.cluster_resources().get("GPU", 0))
    return cfg.gpu == "true"


def fit_booster(ds: ray.data.Dataset, cfg: TrainConfig, storage: str, name: str) -> bytes:
    """XGBoost on Ray Train, data-parallel over `cfg.workers`; the booster as UBJSON."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    gpu = _use_gpu(cfg)
    trainer = XGBoostTrainer(
        _train_loop,
        train_loop_config={
            "params": xgboost_params(cfg, gpu),
            "rounds": cfg.max_iter,
            "every": cfg.checkpoint_every,
        },
        scaling_config=ScalingConfig(
            num_workers=cfg.workers,
            use_gpu=gpu,
            resources_per_worker={"CPU": cfg.cpus_per_worker, **({"GPU": 1} if gpu else {})},
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            # a lost worker (a preempted pod) restarts the group from the last checkpoint
            failure_config=FailureConfig(max_failures=2),
        ),
        # In the object store, not streamed: streaming would need CPUs the workers hold.
        datasets={"train": ds.materialize()},
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {name} ended without a checkpoint")
    booster = RayTrainReportCallback.get_model(result.checkpoint)
    return bytes(booster.save_raw("ubj"))


def _raw_scores(batch: pa.Table, model: BoostedClassifier) -> dict[str, Any]:
    rows = np.column_stack([batch.column(n).to_numpy() for n in PAIR_FEATURES])
    return {
        "raw": model.raw_proba(rows),
        "train": batch.column("train").to_numpy(zero_copy_only=False),
        LABEL: batch.column(LABEL).to_numpy(),
        WEIGHT: batch.column(WEIGHT).to_numpy(),
        "ab_score": batch.column("ab_score").to_numpy(),
    }


# odd multipliers of row_fraction's hash, one per column
_ODD = np.random.default_rng(0).integers(1, 1 << 62, size=len(PAIR_FEATURES) + 2, dtype=np.uint64)
_ODD |= np.uint64(1)


def row_fraction(rows: np.ndarray) -> np.ndarray:
    """A number in [0, 1) per row from its values alone (a hash), so a sample taken by it is
    the same rows whatever the blocks and their order."""
    u = np.ascontiguousarray(rows, dtype=np.float64).view(np.uint64)
    h = np.bitwise_xor.reduce(u * _ODD[: u.shape[1]], axis=1)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    out: np.ndarray = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out


def _calibration_sample(batch: pa.Table, fraction: float) -> pa.Table:
    fold = batch.filter(
        pc.and_(batch.column("train"), pc.equal(batch.column("fold"), CALIBRATION_FOLD))
    )
    if fraction >= 1.0 or fold.num_rows == 0:
        return fold
    rows = np.column_stack([fold.column(n).to_numpy() for n in PAIR_FEATURES])
    return fold.filter(pa.array(row_fraction(rows) < fraction))


def _held_out(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.invert(batch.column("train")))


def _scored(dataset: PairDataset, model: BoostedClassifier, pick: Any) -> ray.data.Dataset:
    """The booster's raw P(like) (with label, weight and the weighted score) of the rows
    `pick` keeps, predicted on Ray workers."""
    ds = ray.data.read_parquet(dataset.data, columns=[*_COLUMNS, "train", "fold"])
    scores = functools.partial(_raw_scores, model=model)
    return ds.map_batches(pick, batch_format="pyarrow").map_batches(scores, batch_format="pyarrow")


def calibration_rows(dataset: PairDataset, model: BoostedClassifier, fold_rows: int) -> Any:
    """The calibration fold's scored rows, CALIBRATION_ROWS of them at most (expected)."""
    fraction = min(1.0, CALIBRATION_ROWS / max(fold_rows, 1))
    pick = functools.partial(_calibration_sample, fraction=fraction)
    return _scored(dataset, model, pick).to_pandas()


def held_out_metrics(dataset: PairDataset, model: BoostedClassifier, calibrator: Any) -> Any:
    """`LikeTally` over the held-out window, streamed: one batch in the driver at a time."""
    tally = LikeTally()
    batches = _scored(dataset, model, _held_out).iter_batches(
        batch_size=_STREAM_ROWS, batch_format="numpy"
    )
    for b in batches:
        tally.add(b[LABEL], calibrate(calibrator, b["raw"]), b["ab_score"])
    return tally.metrics()


def train_ray(settings: Settings, cfg: TrainConfig) -> dict[str, Any]:
    """Build (or read) the pair dataset, fit, calibrate, evaluate and publish the model."""
    init_ray()
    if cfg.dataset:
        dataset = PairDataset.load(cfg.dataset)
    else:
        embedder = cfg.embedding_model_version or model_version(model_path(settings.model))
        params = FeatureParams.from_settings(settings.matching)
        dataset = build_dataset(settings, cfg, params, embedder)
    params = FeatureParams.from_dict(dataset.manifest["feature_params"])
    found = counts(dataset)
    limits = {"min_swipes": cfg.min_swipes, "min_positives": cfg.min_positives}
    check_counts({**found, **limits, "test_days": cfg.test_days}, cfg)
    storage = cfg.checkpoint_dir or str((settings.index.artifacts_dir / "ray_train").resolve())
    name = f"train-{dataset.manifest['version']}"
    raw = fit_booster(_rows(dataset, train=True, calibration=False), cfg, storage, name)
    booster = BoostedClassifier(raw, None, len(PAIR_FEATURES))
    fold = calibration_rows(dataset, booster, found["train_swipes"] // cfg.calibration_folds)
    calibrator = fit_calibrator(
        cfg.calibration, fold["raw"].to_numpy(), fold[LABEL].to_numpy(), fold[WEIGHT].to_numpy()
    )
    estimator = BoostedClassifier(raw, calibrator, len(PAIR_FEATURES))
    metrics = held_out_metrics(dataset, booster, calibrator)  # estimator.predict_proba's
    about = {
        "estimator": f"XGBoost on Ray Train ({cfg.workers} workers), {cfg.calibration} "
        f"calibration on fold {CALIBRATION_FOLD} of {cfg.calibration_folds}",
        "trainer": "ray",
        "xgboost_version": xgboost.__version__,
        "embedding_model_version": dataset.manifest["embedding_model_version"],
        "window": dataset.window.to_dict(),
        "pair_dataset": str(dataset.folder),
        "rows": {
            "train": found["train_swipes"],  # of which the booster saw all but calibration
            "calibration": len(fold),
            "train_positives": found["train_positives"],
            "test": found["test_swipes"],
            "test_positives": found["test_positives"],
            "dropped_swipes": dataset.manifest["dropped_swipes"],
            "users_with_stats": len(dataset.stats.counts),
        },
        "metrics": metrics,
        "collab_version": None,
        "collab": None,
    }
    folder = publish(settings, cfg, estimator, dataset.stats, params, about)
    manifest = artifacts.read_manifest(folder)
    log.info("model %s: %s", folder, manifest["metrics"])
    keys = ("version", "algorithm_version", "window", "rows", "metrics")
    return {"status": "trained", "folder": str(folder), **{k: manifest[k] for k in keys}}
