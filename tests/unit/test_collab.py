"""Collaborative pair features: the factors find who likes whom, people without history get
the neutral value and a flag, rows equal the scalar reference, and nothing leaks: a training
row never reads factors fitted on its own swipe, and the job counts a like taken after the
cutoff as the pass it was then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import numpy as np
import pandas as pd
import pytest
from factories import NOW
from pair_reference import pair_features

from matching.core.domain.person import Person
from matching.core.ml import artifacts, collab
from matching.core.ml.collab import CollabParams, Factors, factorise
from matching.core.ml.pairs import (
    PAIR_FEATURES,
    FeatureParams,
    UserStats,
    pair_matrices,
    pair_matrix,
    without_collab,
)
from matching.core.settings import MatchingSettings, Settings
from training.collab import CollabConfig, as_of
from training.collab_features import load_published, out_of_fold
from training.jobs import JobError
from training.pairs_data import Swipe

PARAMS = FeatureParams.from_settings(MatchingSettings())
COLS = [PAIR_FEATURES.index(f) for f in collab.FEATURES]


def _two_tastes(seed: int = 1) -> tuple[list[UUID], list[UUID], list[Swipe]]:
    """Two camps: camp-0 likers like group-0 people and pass on group-1, camp-1 the other
    way round; each liker sees a random half of everyone."""
    rng = np.random.default_rng(seed)
    likers, liked = [uuid4() for _ in range(40)], [uuid4() for _ in range(40)]
    swipes = []
    for i, a in enumerate(likers):
        for j in rng.choice(len(liked), 20, replace=False).tolist():
            at = NOW - timedelta(hours=float(rng.uniform(1, 300)))
            swipes.append(Swipe(a, liked[j], (i % 2) == (j % 2), at))
    return likers, liked, swipes


def _factorise(swipes: list[Swipe], rank: int = 4) -> Factors:
    liked = np.array([s.liked for s in swipes])
    return factorise(
        [s.swiper for s in swipes], [s.swiped for s in swipes], liked, CollabParams(rank)
    )


def test_the_factors_find_who_likes_whom_on_pairs_never_swiped() -> None:
    likers, liked, swipes = _two_tastes()
    factors = _factorise(swipes)
    seen = {(s.swiper, s.swiped) for s in swipes}
    same, other = [], []
    for i, a in enumerate(likers):
        for j, b in enumerate(liked):
            if (a, b) in seen:
                continue  # only pairs the factorisation never saw
            x, y = factors.side([a]), factors.side([b])
            score = collab.pair_columns(x, y)["collab_ab"][0]
            (same if i % 2 == j % 2 else other).append(score)
    wins = np.mean([x > y for x in same for y in other])  # the AUC of same-camp pairs
    assert wins > 0.95, wins


def test_people_without_history_get_the_mean_and_a_flag() -> None:
    _, _, swipes = _two_tastes()
    factors = _factorise(swipes)
    known, stranger = swipes[0].swiper, uuid4()
    rows = factors.side([known, stranger])
    r = factors.rank
    assert rows[:, 2 * r].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(rows[1, :r], factors.taste.mean(axis=0))
    np.testing.assert_allclose(rows[1, r : 2 * r], factors.appeal.mean(axis=0))
    np.testing.assert_allclose(rows[0, :r], factors.taste[factors.index[known]])


def test_without_factors_everyone_is_cold(population: list[Person]) -> None:
    a, cands = population[0], population[1:6]
    rows = pair_matrix(a, cands, np.zeros(5), UserStats(), [UserStats()] * 5, NOW, PARAMS)
    assert rows[:, COLS].tolist() == [[0.0, 0.0, 1.0, 1.0]] * 5
    factors = _factorise(_two_tastes()[2])
    sides = (factors.side([a.user_id]), factors.side([b.user_id for b in cands]))
    warm = pair_matrix(
        a, cands, np.zeros(5), UserStats(), [UserStats()] * 5, NOW, PARAMS, collab=sides
    )
    np.testing.assert_array_equal(without_collab(warm), rows)


def test_rows_equal_the_reference_in_both_directions(population: list[Person]) -> None:
    likers, liked, swipes = _two_tastes()
    factors = _factorise(swipes)
    people = [
        replace(p, user_id=u)
        for p, u in zip(population[:10], likers[:5] + liked[:4] + [uuid4()], strict=True)
    ]
    a, cands = people[0], people[1:]
    sides = (factors.side([a.user_id]), factors.side([b.user_id for b in cands]))
    stats = [UserStats()] * len(cands)
    ab, ba = pair_matrices(
        a, cands, np.full(len(cands), 0.3), UserStats(), stats, NOW, PARAMS, sides
    )
    mine = factors.side([a.user_id])[0].tolist()
    for i, b in enumerate(cands):
        theirs = factors.side([b.user_id])[0].tolist()
        want = pair_features(a, b, 0.3, UserStats(), UserStats(), NOW, PARAMS, (mine, theirs))
        back = pair_features(b, a, 0.3, UserStats(), UserStats(), NOW, PARAMS, (theirs, mine))
        np.testing.assert_allclose(ab[i], want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ba[i], back, rtol=1e-9, atol=1e-12)
    assert ab[-1, COLS[3]] == 1.0 and ab[0, COLS[3]] == 0.0  # the last candidate is cold


def test_a_training_row_never_reads_its_own_label() -> None:
    _, _, swipes = _two_tastes()
    params = CollabParams(4)
    before = out_of_fold(swipes, params, 3, seed=7)
    flipped = [replace(s, liked=not s.liked) if i == 5 else s for i, s in enumerate(swipes)]
    after = out_of_fold(flipped, params, 3, seed=7)
    mine, theirs = before([swipes[5]])
    again_mine, again_theirs = after([flipped[5]])
    np.testing.assert_array_equal(mine, again_mine)  # its own fold's factors never saw it
    np.testing.assert_array_equal(theirs, again_theirs)
    others = [s for i, s in enumerate(swipes) if i != 5]
    moved = [not np.array_equal(before([s])[0], after([s])[0]) for s in others]
    assert any(moved)  # ... while the other folds' rows do depend on it


def test_the_job_counts_a_like_after_the_cutoff_as_a_pass() -> None:
    cutoff = datetime(2026, 1, 10, tzinfo=UTC)
    early, late = cutoff - timedelta(days=2), cutoff + timedelta(hours=1)
    batch = pd.DataFrame(
        {
            "swiper_id": ["a", "b", "c", "d"],
            "swiped_id": ["x", "x", "y", "y"],
            "action": ["like", "super_like", "like", "pass"],
            "created_at": [early] * 4,
            "updated_at": [early, early, late, early],  # c passed, then liked after the cutoff
        }
    )
    assert as_of(batch, cutoff)["liked"].tolist() == [True, True, False, False]


def test_factors_round_trip_and_training_refuses_ones_built_past_its_cutoff(tmp_path: Path) -> None:
    factors = _factorise(_two_tastes()[2])
    cutoff = datetime(2026, 1, 10, tzinfo=UTC)
    tmp = artifacts.staging(tmp_path, collab.KIND, "c1")
    collab.save(tmp, factors)
    manifest = {"version": "c1", "cutoff": cutoff.isoformat(), "params": CollabParams(4).to_dict()}
    folder = artifacts.publish(tmp, manifest)
    loaded = collab.load(folder)
    assert loaded.index == factors.index
    np.testing.assert_array_equal(loaded.taste, factors.taste)
    settings = Settings.from_env({"MATCHING_ARTIFACTS_DIR": str(tmp_path)})
    found = load_published(settings, None, cutoff)
    assert found is not None and found.version == "c1" and found.params.rank == 4
    with pytest.raises(JobError, match="after this model's held-out window starts"):
        load_published(settings, None, cutoff - timedelta(seconds=1))


def test_collab_config_is_checked() -> None:
    assert CollabConfig.from_mapping({"rank": "8"}).params.rank == 8
    with pytest.raises(ValueError, match="unknown collab config keys"):
        CollabConfig.from_mapping({"rnak": 8})
    with pytest.raises(ValueError, match="rank must be > 0"):
        CollabConfig.from_mapping({"rank": 0})
