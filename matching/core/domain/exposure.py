"""Fair exposure: the last step of a learned ranking, which damps popularity.

A reciprocal model ranks by P(a likes b) x P(b likes a), and P(a likes b) grows with how
liked b already is, so the same popular few top everyone's list (the evaluation measures it as
the top-10 exposure Gini). Dividing each sort key by b's popularity to the power `damping`
(popularity: b's smoothed like rate received over the population's; 1 for anyone without
history) takes that share back: 0 changes nothing, 1 removes b's popularity from the key. Only
the order changes; the scores and probabilities shown stay the model's. Serving
(`Reranker.rank`) and the evaluation (training/exposure_curve.py) both call `damp_popularity`.
"""

from __future__ import annotations

import numpy as np

# Popularity is clipped into this band so one extreme estimate cannot dominate a list.
POPULARITY_MIN, POPULARITY_MAX = 0.05, 20.0


def damp_popularity(keys: np.ndarray, popularity: np.ndarray, damping: float) -> np.ndarray:
    """Sort keys with popularity damped: key / popularity ** damping, per candidate."""
    keys = np.asarray(keys, dtype=np.float64)
    if damping == 0:
        return keys
    pop = np.clip(np.asarray(popularity, dtype=np.float64), POPULARITY_MIN, POPULARITY_MAX)
    out: np.ndarray = keys * pop**-damping
    return out
