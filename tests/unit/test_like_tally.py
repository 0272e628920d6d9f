"""The held-out metrics added up batch by batch equal scikit-learn's over the whole window,
and the calibration sample's row hash does not depend on the rows' order."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from matching.core.ml.pairs import PAIR_FEATURES
from training.train import LikeTally, auc_from_histograms, like_metrics
from training.train_ray import row_fraction


def _window(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    p = np.clip(0.3 + 0.2 * y + rng.normal(0, 0.2, n), 0, 1)
    # an isotonic calibrator's output: few distinct values, many exact ties
    steps = np.round(np.clip(0.25 + 0.3 * y + rng.normal(0, 0.25, n), 0, 1), 2)
    return y, p, steps


@pytest.mark.parametrize("seed", [1, 2])
def test_batches_add_up_to_scikit_learns_metrics(seed: int) -> None:
    y, p, steps = _window(50_000, seed)
    tally = LikeTally()
    for i in range(0, y.size, 6_000):
        tally.add(y[i : i + 6_000], p[i : i + 6_000], steps[i : i + 6_000])
    got = tally.metrics()
    q = np.clip(p, 1e-6, 1 - 1e-6)
    assert got["like_auc"] == pytest.approx(roc_auc_score(y, p), abs=2e-6)
    assert got["weighted_like_auc"] == pytest.approx(roc_auc_score(y, steps), abs=2e-6)
    assert got["like_log_loss"] == pytest.approx(log_loss(y, q), abs=2e-6)
    assert got["like_brier"] == pytest.approx(brier_score_loss(y, q), abs=2e-6)
    assert got["like_rate"] == pytest.approx(y.mean(), abs=1e-6)
    assert like_metrics(y, p) == {k: v for k, v in got.items() if k != "weighted_like_auc"}


def test_auc_counts_ties_as_half_and_an_empty_class_as_chance() -> None:
    assert auc_from_histograms(np.array([0, 2, 0]), np.array([1, 1, 0])) == 0.75
    assert auc_from_histograms(np.array([0, 0]), np.array([3, 1])) == 0.5
    with pytest.raises(ValueError, match="no swipes"):
        LikeTally().metrics()


def test_the_calibration_sample_is_the_same_rows_in_any_order() -> None:
    rows = np.random.default_rng(3).random((20_000, len(PAIR_FEATURES)))
    fraction = row_fraction(rows)
    assert np.array_equal(row_fraction(rows[::-1])[::-1], fraction)
    assert np.array_equal(row_fraction(rows[:7]), fraction[:7])  # each row on its own
    assert 0.0 <= fraction.min() and fraction.max() < 1.0
    assert abs((fraction < 0.25).mean() - 0.25) < 0.02
