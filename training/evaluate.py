"""Evaluate a compatibility model on its held-out window and write a report beside it.

Like prediction (AUC, log-loss, calibration), mutual-match ranking against the weighted
score (precision@10, recall@10 among the people each requester swiped on in the window),
coverage and exposure concentration. The serving model (the registry's live version) is
scored on the same window as the `baseline`, so the promotion gate (`matching.core.ml.gate`)
compares like with like.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from uuid import UUID

from sklearn.metrics import roc_auc_score, roc_curve

from deployments.reranker import Reranker
from matching.core.ml import artifacts
from matching.core.ml.gate import K, better_than, fair_exposure, promotion_check
from matching.core.ml.model import KIND, CompatibilityModel
from matching.core.ml.registry import EVALUATION, Registry
from matching.core.settings import Settings
from matching.core.storage.db import connect
from training.collab_twin import compare_collab, load_model, load_twin
from training.eval_ranking import (
    calibration_table,
    exposure_counts,
    exposure_curve,
    gini,
    ranking,
    score_window,
    top_share,
)
from training.eval_report import write_report
from training.pairs_data import History, Swipe, Window, load_history, load_impressions
from training.train import InsufficientHistory, like_metrics

LIVE = "live"  # config `baseline: live`: the registry's live model, when there is one


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """training/configs/evaluate.yaml; unknown keys are an error."""

    model: str | None = None  # artifact folder; None: the newest model
    baseline: str | None = LIVE  # "live", a model folder, or None: scored on the same window
    calibration_bins: int = 10
    embedding_model_version: str | None = None  # None: the one the model was trained with

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> EvalConfig:
        given = dict(config or {})
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown evaluate config keys: {unknown}")
        bins = int(given.pop("calibration_bins", 10))
        if bins < 2:
            raise ValueError("calibration_bins: must be at least 2")
        return cls(
            **{k: None if v in (None, "") else str(v) for k, v in given.items()},
            calibration_bins=bins,
        )


def load_metrics(folder: Path) -> dict[str, Any] | None:
    """A model's latest metrics: its evaluation's, else the training manifest's."""
    evaluated = folder / EVALUATION
    if evaluated.is_file():
        data: dict[str, Any] = json.loads(evaluated.read_text())["metrics"]
        return data
    if (folder / artifacts.MANIFEST).is_file():
        return dict(artifacts.read_manifest(folder).get("metrics") or {}) or None
    return None


def evaluate_window(
    model: CompatibilityModel,
    history: History,
    test: Sequence[Swipe],
    impressions: Sequence[tuple[UUID, UUID]],
    reranker: Reranker,
    bins: int = 10,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, curves for the plots) of `model` on the held-out swipes `test`, against
    `reranker`'s weighted ranking (the serving one: live weights, threshold, event boost)."""
    sc = score_window(model, history, test, reranker)
    metrics: dict[str, Any] = like_metrics(sc.liked, sc.p_ab)
    metrics["weighted_like_auc"] = round(float(roc_auc_score(sc.liked, sc.weighted_ab)), 6)
    table = calibration_table(sc.liked, sc.p_ab, bins)
    metrics["like_ece"] = round(
        sum(b["count"] * abs(b["observed"] - b["mean_predicted"]) for b in table) / len(test), 6
    )
    p, r, top = ranking(sc, sc.learned, reranker)
    wp, wr, wtop = ranking(sc, sc.weighted, reranker)
    exposure = {
        "impressions": exposure_counts([t for _, t in impressions], history.people),
        "top10": exposure_counts(top, history.people),
        "weighted_top10": exposure_counts(wtop, history.people),
    }
    metrics.update(
        {
            f"mutual_precision_at_{K}": p,
            f"mutual_recall_at_{K}": r,
            f"weighted_mutual_precision_at_{K}": wp,
            f"weighted_mutual_recall_at_{K}": wr,
            "mutual_precision_lift": round(p / wp, 4) if wp else None,
            "requesters": len(sc.requesters),
            "requesters_with_mutual": sum(1 for idx in sc.requesters if sc.mutual[idx].any()),
            "test_swipes": len(test),
            "test_mutual_likes": int(sc.mutual.sum()),
            "coverage_at_10": round(float((exposure["top10"] > 0).mean()), 6),
            "weighted_coverage_at_10": round(float((exposure["weighted_top10"] > 0).mean()), 6),
            "impressions": int(exposure["impressions"].sum()),
            "calibration": table,
        }
    )
    for name, counts in exposure.items():
        metrics[f"{name}_top1pct_share"] = round(top_share(counts), 6)
        metrics[f"{name}_gini"] = round(gini(counts), 6)
    metrics["exposure_damping"] = reranker.exposure_damping
    metrics["exposure_curve"] = exposure_curve(sc, history, reranker)
    metrics["fair_exposure"] = list(fair_exposure(metrics))  # as metrics.json has it
    curves = {
        "roc": {
            "learned": roc_curve(sc.liked, sc.p_ab)[:2],
            "weighted": roc_curve(sc.liked, sc.weighted_ab)[:2],
        },
        "calibration": table,
        "exposure": exposure,
        "exposure_curve": metrics["exposure_curve"],
        "weighted_point": (metrics["weighted_top10_gini"], wp),
    }
    return metrics, curves


def model_folder(settings: Settings, registry: Registry, given: str | None) -> Path:
    """The given folder, else the newest model here, else the registry's newest."""
    if given:
        return Path(given)
    found = artifacts.latest(settings.index.artifacts_dir, KIND)
    if found is not None:
        return found
    versions = registry.versions(KIND)
    if not versions:
        raise FileNotFoundError(
            f"no model under {settings.index.artifacts_dir / KIND} or in {registry.uri}: "
            "run `matching jobs train`"
        )
    return registry.local_copy(KIND, str(versions[-1]["version"]))


def baseline_folder(registry: Registry, given: str | None, model: str) -> Path | None:
    """`live`: the registry's live model unless there is none or it is `model` itself."""
    if not given or given.lower() == "none":
        return None
    if given != LIVE:
        return Path(given)
    live = registry.live()[KIND]
    if live is None or live == model:
        return None
    return registry.local_copy(KIND, str(live))


async def evaluate(settings: Settings, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate a model artifact on its held-out window against the weighted score and the
    baseline (the live model); writes `<model>/evaluation/` and pushes it to the registry."""
    cfg = EvalConfig.from_mapping(config)
    registry = Registry.from_settings(settings)
    folder = model_folder(settings, registry, cfg.model)
    model = load_model(settings, folder)
    window = Window.from_dict(model.manifest["window"])
    embedder = cfg.embedding_model_version or model.manifest["embedding_model_version"]
    conn = await connect(settings.database)
    try:
        history = await load_history(conn, embedder)
        impressions = await load_impressions(conn, window.cutoff, window.end)
    finally:
        await conn.close()
    _, test = window.split(history.swipes)
    if not test or len({s.liked for s in test}) < 2:
        raise InsufficientHistory(
            f"the held-out window of model {model.version} has {len(test)} swipes: "
            "need both likes and passes",
            {"test_swipes": len(test)},
        )
    args = (history, test, impressions, Reranker(settings), cfg.calibration_bins)
    metrics, curves = await asyncio.to_thread(evaluate_window, model, *args)
    result: dict[str, Any] = {"status": "evaluated", "model": model.version, "metrics": metrics}
    twin = load_twin(settings, model, folder)
    if twin is not None:
        twin_metrics, _ = await asyncio.to_thread(evaluate_window, twin, *args)
        result["collab"] = compare_collab(model, metrics, twin_metrics)
    base = baseline_folder(registry, cfg.baseline, model.version)
    if base is not None:
        baseline = load_model(settings, base)
        base_metrics, _ = await asyncio.to_thread(evaluate_window, baseline, *args)
        result["baseline"] = {"model": baseline.version, "metrics": base_metrics}
        result["better_than_baseline"] = better_than(metrics, base_metrics)
    live = registry.live()[KIND]
    live_metrics = None if live is None else registry.metrics(KIND, live)
    result["promotable"] = promotion_check(result, live, live_metrics)
    report = await asyncio.to_thread(write_report, folder, model, window, result, curves)
    registry.push(KIND, folder)
    return {**result, "folder": str(folder), "report": str(report)}


def run(settings: Settings, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`matching jobs evaluate`: the metrics, with the report's path."""
    return asyncio.run(evaluate(settings, config))
