"""The gate's verdicts on fair exposure and on whether collaborative signals earn a place."""

from __future__ import annotations

from matching.core.ml.gate import collab_wins, fair_exposure

WEIGHTED = {"weighted_mutual_precision_at_10": 0.10, "weighted_top10_gini": 0.60}


def test_fair_exposure_needs_the_lift_and_no_worse_gini() -> None:
    ok, why = fair_exposure({**WEIGHTED, "mutual_precision_at_10": 0.12, "top10_gini": 0.60})
    assert ok and "0.1200 vs 1.2 x 0.1000" in why
    assert not fair_exposure({**WEIGHTED, "mutual_precision_at_10": 0.119, "top10_gini": 0.5})[0]
    assert not fair_exposure({**WEIGHTED, "mutual_precision_at_10": 0.2, "top10_gini": 0.61})[0]
    ok, why = fair_exposure({"mutual_precision_at_10": 0.2})
    assert not ok and "no precision or exposure" in why


def test_collab_must_be_no_worse_everywhere_and_better_somewhere() -> None:
    without = {"like_auc": 0.70, "mutual_precision_at_10": 0.15}
    assert collab_wins({"like_auc": 0.71, "mutual_precision_at_10": 0.15}, without)[0]
    ok, why = collab_wins({"like_auc": 0.72, "mutual_precision_at_10": 0.149}, without)
    assert not ok and "mutual_precision_at_10 0.1490 is worse" in why
    ok, why = collab_wins(dict(without), without)
    assert not ok and "no better than without them" in why
