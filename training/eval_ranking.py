"""How the held-out swipes rank: each requester's list as the Reranker would have served it,
mutual precision and recall at K, calibration and exposure concentration (Gini, top share),
and the curve of precision against exposure for several exposure dampings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import numpy as np

from deployments.reranker import RankedMatch, Reranker, boost, event_bonus, with_probabilities
from matching.core.domain.exposure import damp_exposure
from matching.core.ml.gate import K
from matching.core.ml.model import CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES
from training.pairs_data import History, Swipe


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
    p_ba: np.ndarray | None = None
    exposure: np.ndarray | None = None  # each target's relative exposure, as the model knows it
    bonus: np.ndarray | None = None  # each pair's shared-event bonus


def score_window(
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
    exposure = model.exposure([history.people[sw.swiped] for sw in test])
    damping = reranker.exposure_damping
    keys = damp_exposure(p_ab * p_ba, exposure, damping)  # the Reranker's final step
    learned, bonus = [], np.zeros(n)
    for j, (sw, w) in enumerate(zip(test, weighted, strict=True)):
        assert w is not None and w.mutual is not None
        m = replace(w, mutual=dict(w.mutual), reasons=dict(w.reasons))
        with_probabilities(m, float(p_ab[j]), float(p_ba[j]), model.algorithm_version)
        m.sort_key = float(keys[j])
        events = history.shared_events(sw.swiper, sw.swiped, sw.at)
        bonus[j] = event_bonus(len(events))
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
        p_ba=p_ba,
        exposure=exposure,
        bonus=bonus,
    )


def ranking(
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


def exposure_counts(ids: Sequence[UUID], population: Mapping[UUID, Any]) -> np.ndarray:
    index = {u: i for i, u in enumerate(population)}
    counts = np.zeros(len(index))
    for u in ids:
        if u in index:
            counts[index[u]] += 1
    return counts


DAMPINGS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)  # the curve's settings


def exposure_curve(
    sc: _Scored,
    history: History,
    reranker: Reranker,
    dampings: Sequence[float] = DAMPINGS,
) -> list[dict[str, float]]:
    """Mutual precision@K against the top-K exposure Gini of the learned ranking, for each
    exposure damping (the Reranker's final step with MATCHING_EXPOSURE_DAMPING = d)."""
    assert sc.p_ba is not None and sc.exposure is not None and sc.bonus is not None
    curve = []
    for d in dampings:
        keys = damp_exposure(sc.p_ab * sc.p_ba, sc.exposure, d) + sc.bonus
        served = [replace(m, sort_key=float(k)) for m, k in zip(sc.learned, keys, strict=True)]
        precision, recall, shown = ranking(sc, served, reranker)
        counts = exposure_counts(shown, history.people)
        curve.append(
            {
                "damping": d,
                f"mutual_precision_at_{K}": precision,
                f"mutual_recall_at_{K}": recall,
                "top10_gini": round(gini(counts), 6),
                "coverage_at_10": round(float((counts > 0).mean()), 6),
            }
        )
    return curve
