"""The evaluation's report: report.md with its plots, beside the model (`evaluation/`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from matching.core.ml.gate import K
from matching.core.ml.model import CompatibilityModel
from matching.core.ml.registry import EVALUATION_DIR
from training.eval_ranking import gini
from training.pairs_data import Window


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

    def tradeoff(ax: Any) -> None:
        curve = curves.get("exposure_curve") or []
        x = [c["top10_gini"] for c in curve]
        y = [c[f"mutual_precision_at_{K}"] for c in curve]
        ax.plot(x, y, "o-", label="learned, by exposure damping")
        for c, xi, yi in zip(curve, x, y, strict=True):
            ax.annotate(f"{c['damping']:g}", (xi, yi), textcoords="offset points", xytext=(4, 4))
        w = curves.get("weighted_point")
        if w is not None:
            ax.plot([w[0]], [w[1]], "s", color="grey", label="weighted score")
        ax.set(xlabel="top-10 exposure Gini", ylabel=f"mutual precision@{K}")
        ax.set(title="Precision against exposure concentration")
        ax.legend()

    _figure(out / "exposure_curve.png", tradeoff)
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
    rows += _fairness(m)
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
    rows += _collab(result.get("collab"))
    ok, why = result["promotable"]
    verdict = "may be promoted" if ok else "is not promoted unless forced"
    rows += ["## Promotion", "", f"This model {verdict}: {why}.", ""]
    return "\n".join(rows)


def _fairness(m: Mapping[str, Any]) -> list[str]:
    """The precision/exposure curve over exposure dampings, and the default's verdict."""
    ok, why = m["fair_exposure"]
    rows = [
        "## Fair exposure: exposure damping",
        "",
        "The learned ranking's last step divides each key by the candidate's exposure so far "
        "(smoothed swipes received over the mean) to the power d "
        f"(MATCHING_EXPOSURE_DAMPING, served: {m['exposure_damping']:g}). "
        f"Weighted score: precision@{K} {_fmt(m[f'weighted_mutual_precision_at_{K}'])}, "
        f"top-10 Gini {_fmt(m['weighted_top10_gini'])}.",
        "",
        f"| d | mutual precision@{K} | x weighted | top-10 Gini | coverage@10 |",
        "|---|---|---|---|---|",
    ]
    wp = m[f"weighted_mutual_precision_at_{K}"]
    for c in m["exposure_curve"]:
        p = c[f"mutual_precision_at_{K}"]
        lift = f"{p / wp:.2f}" if wp else "n/a"
        rows.append(
            f"| {c['damping']:g} | {p:.4f} | {lift} | {c['top10_gini']:.4f} | "
            f"{c['coverage_at_10']:.4f} |"
        )
    verdict = "meets" if ok else "does not meet"
    rows += ["", f"The served setting {verdict} the exposure target: {why}.", ""]
    return [*rows, "![exposure curve](exposure_curve.png)", ""]


def _collab(found: Mapping[str, Any] | None) -> list[str]:
    """Like AUC and precision with and without the like-graph features, same window."""
    if not found:
        return ["## Collaborative signals", "", "No collab artifact: trained without them.", ""]
    ok, why = found["collab_wins"]
    served = "with" if found["served_with_collab"] else "without"
    rows = [
        "## Collaborative signals (who likes whom)",
        "",
        f"The same training rows fitted with and without them; this model serves {served}.",
        "",
        "| metric | with | without |",
        "|---|---|---|",
    ]
    for key, value in found["with"].items():
        rows.append(f"| {key} | {_fmt(value)} | {_fmt(found['without'].get(key))} |")
    verdict = "win" if ok else "do not win"
    return [*rows, "", f"They {verdict}: {why}.", ""]


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
