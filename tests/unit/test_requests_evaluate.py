"""Weightings evaluated on booked providers (MRR, hit@3), published and gated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matching.core.ml.registry import PromotionRefused, Registry
from matching.core.settings import Settings
from training.evaluate_requests import FACTORS, Booked, metrics, publish, rank_of

# Two listed providers: "a" is better on skills, "b" on rating.
A_SKILLS_B_RATING = np.array([[1.0, 0.5, 0.2, 0.5, 0.5], [0.2, 0.5, 1.0, 0.5, 0.5]])
SKILLS = dict(zip(FACTORS, (0.6, 0.1, 0.1, 0.1, 0.1), strict=True))
RATING = dict(zip(FACTORS, (0.1, 0.1, 0.6, 0.1, 0.1), strict=True))


def test_the_booked_providers_rank_under_each_weighting() -> None:
    booked = [Booked(A_SKILLS_B_RATING, ["a", "b"], "b")] * 3 + [
        Booked(A_SKILLS_B_RATING, ["a", "b"], "z")  # not listed: a miss
    ]
    assert rank_of(booked[0], np.array(list(SKILLS.values()))) == 2
    assert rank_of(booked[0], np.array(list(RATING.values()))) == 1
    assert rank_of(booked[3], np.array(list(RATING.values()))) is None
    assert metrics(booked, RATING) == {"booked_mrr": 0.75, "booked_hit_at_3": 0.75, "outcomes": 4}
    assert metrics(booked, SKILLS)["booked_mrr"] == pytest.approx(0.375)


def test_a_weighting_is_promoted_only_when_it_beats_the_serving_one(tmp_path: Path) -> None:
    settings = Settings.from_env({"MATCHING_ARTIFACTS_DIR": str(tmp_path)})
    registry = Registry.from_settings(settings)
    good = {
        "metrics": {"booked_mrr": 0.8, "booked_hit_at_3": 0.9},
        "baseline": {"weighting": None, "metrics": {"booked_mrr": 0.5, "booked_hit_at_3": 0.6}},
    }
    worse = {
        "metrics": {"booked_mrr": 0.4, "booked_hit_at_3": 0.9},
        "baseline": {"weighting": None, "metrics": {"booked_mrr": 0.5, "booked_hit_at_3": 0.6}},
    }
    v_good = publish(settings, "rating_first", RATING, good).name
    v_worse = publish(settings, "skills_first", SKILLS, worse).name
    with pytest.raises(PromotionRefused, match="booked_mrr"):
        registry.promote("weightings", v_worse)
    assert registry.live().get("weightings") is None
    assert registry.promote("weightings", v_good)["weightings"] == v_good
    weights = json.loads((registry.local_copy("weightings", v_good) / "weights.json").read_text())
    assert weights == RATING
    assert registry.live()["models"] is None  # the other kinds are untouched
