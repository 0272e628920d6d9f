"""Fair exposure: the last step of a learned ranking, which discounts past exposure.

A reciprocal model ranks by P(a likes b) x P(b likes a); both grow with b's behaviour (liked
by many, liking many), so the same few people top everyone's list (the evaluation measures it
as the top-10 exposure Gini). Dividing each sort key by b's exposure so far to the power
`damping` spreads the lists: exposure is b's swipes received (each one an impression acted
on), smoothed, over the population's mean, so 1 is average and a newcomer sits a little
below it. 0 changes nothing. Only the order changes; the scores and probabilities shown stay
the model's. Serving (`Reranker.rank`) and the evaluation (training/eval_ranking.py) both
call `damp_exposure`.
"""

from __future__ import annotations

import numpy as np

# Relative exposure is clipped into this band so one extreme count cannot dominate a list.
EXPOSURE_MIN, EXPOSURE_MAX = 0.05, 20.0


def relative_exposure(received: np.ndarray, mean_received: float, smoothing: float) -> np.ndarray:
    """(smoothing + swipes received) / (smoothing + the population's mean), per person."""
    counts = np.asarray(received, dtype=np.float64)
    out: np.ndarray = (smoothing + counts) / (smoothing + mean_received)
    return out


def damp_exposure(keys: np.ndarray, exposure: np.ndarray, damping: float) -> np.ndarray:
    """Sort keys with exposure discounted: key / exposure ** damping, per candidate."""
    keys = np.asarray(keys, dtype=np.float64)
    if damping == 0:
        return keys
    clipped = np.clip(np.asarray(exposure, dtype=np.float64), EXPOSURE_MIN, EXPOSURE_MAX)
    out: np.ndarray = keys * clipped**-damping
    return out
