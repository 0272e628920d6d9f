"""The exposure step: past exposure discounts a sort key, 0 changes nothing, extremes are
clipped, and only the order moves."""

from __future__ import annotations

import numpy as np
import pytest

from matching.core.domain.exposure import (
    EXPOSURE_MAX,
    EXPOSURE_MIN,
    damp_exposure,
    relative_exposure,
)


def test_zero_damping_changes_nothing() -> None:
    keys = np.array([0.3, 0.2, 0.1])
    assert damp_exposure(keys, np.array([5.0, 1.0, 0.1]), 0.0).tolist() == keys.tolist()


def test_a_much_shown_candidate_falls_below_a_slightly_weaker_newcomer() -> None:
    keys, exposure = np.array([0.30, 0.25]), np.array([3.0, 0.8])
    assert np.argmax(damp_exposure(keys, exposure, 0.0)) == 0
    damped = damp_exposure(keys, exposure, 1.0)
    assert damped.tolist() == pytest.approx([0.1, 0.3125])
    assert np.argmax(damped) == 1


def test_average_exposure_keeps_its_key_and_extremes_are_clipped() -> None:
    keys = np.array([0.2, 0.2, 0.2])
    damped = damp_exposure(keys, np.array([1.0, 1e-9, 1e9]), 2.0)
    assert damped.tolist() == pytest.approx([0.2, 0.2 / EXPOSURE_MIN**2, 0.2 / EXPOSURE_MAX**2])


def test_relative_exposure_is_smoothed_towards_the_mean() -> None:
    out = relative_exposure(np.array([0, 20, 60]), mean_received=20.0, smoothing=10.0)
    assert out.tolist() == pytest.approx([10 / 30, 1.0, 70 / 30])
