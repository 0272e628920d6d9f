"""The promotion gate: is a candidate model at least as good as what serves now?

Metrics only compare on the same held-out window, so the evaluation job scores the serving
alternative on the candidate's window too: the weighted score always (`weighted_*` metrics),
and the live model when there is one (the evaluation's `baseline`). Pure functions: serving
images without the training code use them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

K = 10
GATE = ("like_auc", f"mutual_precision_at_{K}")  # a candidate worse on either is not promoted


def better_than(
    candidate: Mapping[str, Any],
    serving: Mapping[str, Any] | None,
    tolerance: float = 0.0,
    gate: tuple[str, ...] = GATE,
) -> tuple[bool, str]:
    """Is the candidate at least as good as the serving model on every `gate` metric?"""
    if serving is None:
        return True, "no serving model metrics to compare with"
    said = []
    for key in gate:
        ours, theirs = candidate.get(key), serving.get(key)
        if ours is None:
            return False, f"the candidate has no {key}: evaluate it first"
        if theirs is None:
            said.append(f"{key} {ours:.4f} (the serving model has none)")
        elif ours < theirs - tolerance:
            return False, f"{key} {ours:.4f} is worse than the serving model's {theirs:.4f}"
        else:
            said.append(f"{key} {ours:.4f} >= {theirs:.4f}")
    return True, "; ".join(said)


def weighted_view(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The weighted score's GATE metrics, measured on the same window as `metrics`."""
    return {key: metrics.get(f"weighted_{key}") for key in GATE}


def promotion_check(
    evaluation: Mapping[str, Any] | None,
    live: str | None,
    live_metrics: Mapping[str, Any] | None,
) -> tuple[bool, str]:
    """May a model with this evaluation (its `evaluation/metrics.json`) replace `live`
    (None: the weighted score)? Same-window comparisons first."""
    if evaluation is None or not isinstance(evaluation.get("metrics"), Mapping):
        return False, "it was never evaluated: run `matching jobs evaluate` first"
    metrics = evaluation["metrics"]
    if live is None:
        ok, why = better_than(metrics, weighted_view(metrics))
        return ok, f"against the weighted score on the same window: {why}"
    baseline = evaluation.get("baseline") or {}
    if baseline.get("model") == live:
        ok, why = better_than(metrics, baseline.get("metrics"))
        return ok, f"against live {live} on the same window: {why}"
    ok, why = better_than(metrics, live_metrics)
    return ok, (
        f"against live {live}'s own evaluation, on another window (`matching jobs evaluate` "
        f"again scores both on one): {why}"
    )


EXPOSURE_LIFT = 1.2  # the served learned ranking keeps this much of its precision lift


def fair_exposure(metrics: Mapping[str, Any]) -> tuple[bool, str]:
    """Does the served (damped) learned ranking keep >= EXPOSURE_LIFT x the weighted score's
    mutual precision@K while its top-K exposure Gini is no worse than the weighted score's?"""
    p, wp = (
        metrics.get(f"mutual_precision_at_{K}"),
        metrics.get(f"weighted_mutual_precision_at_{K}"),
    )
    g, wg = metrics.get("top10_gini"), metrics.get("weighted_top10_gini")
    if p is None or wp is None or g is None or wg is None:
        return False, "the evaluation has no precision or exposure to compare"
    said = f"precision@{K} {p:.4f} vs {EXPOSURE_LIFT} x {wp:.4f}; Gini {g:.4f} vs {wg:.4f}"
    return p >= EXPOSURE_LIFT * wp and g <= wg, said


def collab_wins(with_collab: Mapping[str, Any], without: Mapping[str, Any]) -> tuple[bool, str]:
    """Do the collaborative features earn their place: at least as good on every GATE metric
    and strictly better on one, on the same held-out window?"""
    ok, why = better_than(with_collab, without)
    if not ok:
        return False, why
    if all(with_collab[k] == without.get(k) for k in GATE):
        return False, "no better than without them on any of " + ", ".join(GATE)
    return True, why


# Request ranking weightings (matching.requests), evaluated on booked outcomes.
WEIGHTING_GATE = ("booked_mrr", "booked_hit_at_3")


def weighting_check(
    evaluation: Mapping[str, Any] | None,
    live: str | None,
    live_metrics: Mapping[str, Any] | None,
) -> tuple[bool, str]:
    """May a weighting replace `live` (None: the settings' weights)? Its evaluation scores
    what serves now on the same outcomes as its `baseline`; that comes first."""
    if evaluation is None or not isinstance(evaluation.get("metrics"), Mapping):
        return False, "it was never evaluated: run training.evaluate_requests first"
    baseline = evaluation.get("baseline") or {}
    serving = baseline.get("metrics") if baseline.get("weighting") == live else live_metrics
    ok, why = better_than(evaluation["metrics"], serving, gate=WEIGHTING_GATE)
    return ok, f"against {live or 'the settings weights'}: {why}"
