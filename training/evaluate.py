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
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from deployments.reranker import RankedMatch, Reranker, boost, with_probabilities
from matching.core.ml import artifacts
from matching.core.ml.gate import K, better_than, promotion_check
from matching.core.ml.model import KIND, CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES
from matching.core.ml.registry import EVALUATION, EVALUATION_DIR, Registry
from matching.core.settings import Settings
from matching.core.storage.db import connect
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


def gini(counts: np.ndarray) -> float:
    """0: everyone equally exposed; towards 1: everything goes to one profile."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0:
        return 0.0
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1) / n)


def top_share(counts: np.ndarray, share: float = 0.01) -> float:
    """Share of all exposure that goes to the most exposed `share` of profiles."""
    x = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    total = float(x.sum())
    return 0.0 if total == 0 else float(x[: max(1, math.ceil(share * len(x)))].sum() / total)


def calibration_table(labels: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, float]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for i in range(bins):
        mask = which == i
        if mask.any():
            out.append(
                {
                    "bin_lo": round(float(edges[i]), 3),
                    "bin_hi": round(float(edges[i + 1]), 3),
                    "count": int(mask.sum()),
                    "mean_predicted": round(float(p[mask].mean()), 4),
                    "observed": round(float(labels[mask].mean()), 4),
                }
            )
    return out


@dataclass
class _Scored:
    """The held-out swipes, one entry each, grouped by requester, with both rankings."""

    requesters: list[list[int]]
    target: list[UUID]
    liked: np.ndarray
    mutual: np.ndarray
    p_ab: np.ndarray
    weighted_ab: np.ndarray
    learned: list[RankedMatch]  # what the reranker serves with the model, per swipe
    weighted: list[RankedMatch]  # what the reranker serves without one


def _score(
    model: CompatibilityModel, history: History, test: Sequence[Swipe], reranker: Reranker
) -> _Scored:
    """Every held-out pair as the reranker would have served it at the swipe's time: both
    people as they were then, the live weights, shared events then, the model's P(like)."""
    groups: dict[UUID, list[int]] = {}
    for i, sw in enumerate(test):
        groups.setdefault(sw.swiper, []).append(i)
    n = len(test)
    w_ab = np.zeros(n)
    weighted: list[RankedMatch | None] = [None] * n
    order: list[int] = []
    forward, backward = [np.zeros((0, len(PAIR_FEATURES)))], [np.zeros((0, len(PAIR_FEATURES)))]
    for swiper, idx in groups.items():
        mine = [history.person_at(swiper, test[i].at) for i in idx]
        cands = [history.person_at(test[i].swiped, test[i].at) for i in idx]
        sims = history.similarities(swiper, [b.user_id for b in cands])
        ab, ba = model.pair_rows(mine, cands, sims, [test[i].at for i in idx])
        forward.append(ab)
        backward.append(ba)
        order.extend(idx)
        for j, a, b, sim in zip(idx, mine, cands, sims.tolist(), strict=True):
            weighted[j] = reranker.weighted(a, b, sim, test[j].at)
            w_ab[j] = reranker.directed(a, b, sim, test[j].at).score
    p_ab, p_ba = np.zeros(n), np.zeros(n)
    p_ab[order] = model.predict(np.vstack(forward))
    p_ba[order] = model.predict(np.vstack(backward))
    learned = []
    for j, (sw, w) in enumerate(zip(test, weighted, strict=True)):
        assert w is not None and w.mutual is not None
        m = replace(w, mutual=dict(w.mutual), reasons=dict(w.reasons))
        with_probabilities(m, float(p_ab[j]), float(p_ba[j]), model.algorithm_version)
        events = history.shared_events(sw.swiper, sw.swiped, sw.at)
        boost(w, events)
        boost(m, events)
        learned.append(m)
    return _Scored(
        requesters=list(groups.values()),
        target=[sw.swiped for sw in test],
        liked=np.array([sw.liked for sw in test], dtype=np.int64),
        mutual=np.array([history.is_mutual(sw.swiper, sw.swiped) for sw in test], dtype=bool),
        p_ab=p_ab,
        weighted_ab=w_ab,
        learned=learned,
        weighted=[w for w in weighted if w is not None],
    )


def _ranking(
    sc: _Scored, served: list[RankedMatch], reranker: Reranker
) -> tuple[float, float, list[UUID]]:
    """Mean precision@K and recall@K of mutual pairs over requesters with one, and every
    requester's top K as the reranker orders them (threshold, event boost, ties)."""
    precision: list[float] = []
    recall: list[float] = []
    shown: list[UUID] = []
    for idx in sc.requesters:
        position = {served[i].user_id: i for i in idx}
        top = [position[m.user_id] for m in reranker.top([served[i] for i in idx], K)]
        shown.extend(sc.target[i] for i in top)
        relevant = int(sc.mutual[idx].sum())
        if relevant:
            hits = int(sc.mutual[top].sum())
            precision.append(hits / min(K, len(idx)))
            recall.append(hits / relevant)
    return _mean(precision), _mean(recall), shown


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 6) if values else 0.0


def _exposure(ids: Sequence[UUID], population: Mapping[UUID, Any]) -> np.ndarray:
    index = {u: i for i, u in enumerate(population)}
    counts = np.zeros(len(index))
    for u in ids:
        if u in index:
            counts[index[u]] += 1
    return counts


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
    sc = _score(model, history, test, reranker)
    metrics: dict[str, Any] = like_metrics(sc.liked, sc.p_ab)
    metrics["weighted_like_auc"] = round(float(roc_auc_score(sc.liked, sc.weighted_ab)), 6)
    table = calibration_table(sc.liked, sc.p_ab, bins)
    metrics["like_ece"] = round(
        sum(b["count"] * abs(b["observed"] - b["mean_predicted"]) for b in table) / len(test), 6
    )
    p, r, top = _ranking(sc, sc.learned, reranker)
    wp, wr, wtop = _ranking(sc, sc.weighted, reranker)
    exposure = {
        "impressions": _exposure([t for _, t in impressions], history.people),
        "top10": _exposure(top, history.people),
        "weighted_top10": _exposure(wtop, history.people),
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
    curves = {
        "roc": {
            "learned": roc_curve(sc.liked, sc.p_ab)[:2],
            "weighted": roc_curve(sc.liked, sc.weighted_ab)[:2],
        },
        "calibration": table,
        "exposure": exposure,
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
    model = CompatibilityModel.load(folder)
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
    base = baseline_folder(registry, cfg.baseline, model.version)
    if base is not None:
        baseline = CompatibilityModel.load(base)
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


def _figure(path: Path, draw: Callable[[Any], None]) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend or state

    fig = Figure(figsize=(5.5, 4.2), dpi=100)
    draw(fig.add_subplot())
    fig.tight_layout()
    fig.savefig(path)


def _plots(out: Path, curves: dict[str, Any]) -> None:
    def roc(ax: Any) -> None:
        for name, (fpr, tpr) in curves["roc"].items():
            ax.plot(fpr, tpr, label=name)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC: P(like)")
        ax.legend()

    def calibration(ax: Any) -> None:
        table = curves["calibration"]
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.plot([b["mean_predicted"] for b in table], [b["observed"] for b in table], "o-")
        ax.set(xlabel="predicted P(like)", ylabel="observed like rate", title="Calibration")

    def exposure(ax: Any) -> None:
        for name, counts in curves["exposure"].items():
            x = np.sort(counts)
            total = x.sum()
            if total > 0:
                share = np.concatenate([[0.0], np.cumsum(x) / total])
                ax.plot(np.linspace(0, 1, len(share)), share, label=f"{name} (Gini {gini(x):.2f})")
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set(xlabel="share of profiles", ylabel="share of exposure", title="Exposure (Lorenz)")
        ax.legend()

    _figure(out / "roc.png", roc)
    _figure(out / "calibration.png", calibration)
    _figure(out / "exposure.png", exposure)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _markdown(model: CompatibilityModel, window: Window, result: dict[str, Any]) -> str:
    m = result["metrics"]
    rows = [
        f"# Evaluation of model {model.version} ({model.algorithm_version})",
        "",
        f"Held out: {window.cutoff:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC "
        f"({window.test_days:g} days): {m['test_swipes']} swipes by {m['requesters']} people, "
        f"{m['test_mutual_likes']} of them likes that are mutual. Trained on the swipes before.",
        "",
        _headline(m),
        "",
        "## Like prediction, P(a likes b)",
        "",
        "| metric | learned | weighted score |",
        "|---|---|---|",
        f"| AUC | {_fmt(m['like_auc'])} | {_fmt(m['weighted_like_auc'])} |",
        f"| log-loss | {_fmt(m['like_log_loss'])} | |",
        f"| Brier | {_fmt(m['like_brier'])} | |",
        f"| expected calibration error | {_fmt(m['like_ece'])} | |",
        "",
        "![ROC](roc.png)",
        "",
        f"## Mutual matches in each requester's top {K}",
        "",
        f"Among the people each requester swiped on in the window ({m['requesters_with_mutual']}"
        " requesters with at least one mutual match), ranked by P(a likes b) x P(b likes a)"
        " against the harmonic mean of the weighted scores.",
        "",
        "| metric | learned reciprocal | weighted score |",
        "|---|---|---|",
    ]
    for name in (f"mutual_precision_at_{K}", f"mutual_recall_at_{K}", "coverage_at_10"):
        rows.append(f"| {name} | {_fmt(m[name])} | {_fmt(m['weighted_' + name])} |")
    rows += [
        "",
        f"Lift in precision@{K}: {_fmt(m['mutual_precision_lift'])}.",
        "",
        "## Exposure",
        "",
        "| exposure | share to the top 1% of profiles | Gini |",
        "|---|---|---|",
    ]
    for name in ("impressions", "top10", "weighted_top10"):
        rows.append(f"| {name} | {_fmt(m[name + '_top1pct_share'])} | {_fmt(m[name + '_gini'])} |")
    rows += ["", f"{m['impressions']} logged impressions in the window.", ""]
    rows += ["![exposure](exposure.png)", "", "## Calibration", ""]
    rows += ["| predicted | count | mean predicted | observed |", "|---|---|---|---|"]
    for b in m["calibration"]:
        rows.append(
            f"| {b['bin_lo']:.1f}-{b['bin_hi']:.1f} | {b['count']} | "
            f"{b['mean_predicted']:.4f} | {b['observed']:.4f} |"
        )
    rows += ["", "![calibration](calibration.png)", ""]
    if "baseline" in result:
        ok, why = result["better_than_baseline"]
        rows += [
            f"## Against model {result['baseline']['model']} (live when evaluated)",
            "",
            f"{'better' if ok else 'not better'}: {why}",
            "",
        ]
    ok, why = result["promotable"]
    verdict = "may be promoted" if ok else "is not promoted unless forced"
    rows += ["## Promotion", "", f"This model {verdict}: {why}.", ""]
    return "\n".join(rows)


def _headline(m: Mapping[str, Any]) -> str:
    """By how much the learned ranking beats (or trails) the weighted score."""
    p, wp = m[f"mutual_precision_at_{K}"], m[f"weighted_mutual_precision_at_{K}"]
    r, wr = m[f"mutual_recall_at_{K}"], m[f"weighted_mutual_recall_at_{K}"]
    lift = f", x{p / wp:.2f}" if wp else ""
    return (
        f"**Learned reciprocal ranking against the weighted score:** mutual matches "
        f"precision@{K} {p:.4f} vs {wp:.4f} ({p - wp:+.4f}{lift}), recall@{K} {r:.4f} vs "
        f"{wr:.4f} ({r - wr:+.4f}); like AUC {m['like_auc']:.4f} vs {m['weighted_like_auc']:.4f}."
    )


def write_report(
    folder: Path,
    model: CompatibilityModel,
    window: Window,
    result: dict[str, Any],
    curves: dict[str, Any],
) -> Path:
    """`<folder>/evaluation/`: report.md, roc.png, calibration.png, exposure.png and
    metrics.json, swapped in whole (a reader sees the old report or the new one)."""
    tmp, old = folder / f".{EVALUATION_DIR}.tmp", folder / f".{EVALUATION_DIR}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _plots(tmp, curves)
    (tmp / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    (tmp / "report.md").write_text(_markdown(model, window, result))
    final = folder / EVALUATION_DIR
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final / "report.md"
