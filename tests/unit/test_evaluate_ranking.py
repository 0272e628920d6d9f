"""The evaluation ranks held-out pairs the way the Reranker serves them."""

from __future__ import annotations

from uuid import uuid4

import numpy as np

from deployments.reranker import RankedMatch, Reranker, boost
from matching.core.settings import Settings
from training.eval_ranking import _Scored, ranking


def _match(score: float) -> RankedMatch:
    user = str(uuid4())
    reasons = {"summary": "similar profile"}
    return RankedMatch(user, "x", None, score, {}, {}, reasons, "weighted-v1", sort_key=score)


def test_the_ranking_applies_the_rerankers_threshold_and_event_boost() -> None:
    served = [_match(0.9), _match(0.3), _match(0.35)]  # only the last two are mutual
    boost(served[2], ["meetup"])  # 0.35 + 0.05: above the threshold, first after 0.9
    scored = _Scored(
        requesters=[[0, 1, 2]],
        target=[uuid4() for _ in served],
        liked=np.ones(3, dtype=np.int64),
        mutual=np.array([False, True, True]),
        p_ab=np.zeros(3),
        weighted_ab=np.zeros(3),
        learned=served,
        weighted=served,
    )
    strict = Reranker(Settings.from_env({"SIMILARITY_THRESHOLD": "0.4"}))
    precision, recall, shown = ranking(scored, served, strict)
    assert shown == [scored.target[0], scored.target[2]]  # 0.3 is never served
    assert (precision, recall) == (round(1 / 3, 6), 0.5)
    _, recall, shown = ranking(scored, served, Reranker(Settings.from_env({})))
    assert shown == [scored.target[0], scored.target[2], scored.target[1]] and recall == 1.0
