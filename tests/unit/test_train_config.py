"""The train job's trainer settings, and the calibrated booster the Ray trainer publishes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xgboost

from matching.core.ml.boosted import BoostedClassifier, fit_calibrator
from training.train import TrainConfig


def test_the_trainer_settings_are_read_and_checked() -> None:
    cfg = TrainConfig.from_mapping({"trainer": "ray", "workers": "4", "gpu": True})
    assert (cfg.trainer, cfg.workers, cfg.gpu) == ("ray", 4, "true")
    assert TrainConfig.from_mapping({}).trainer == "sklearn"  # train.yaml says ray
    with pytest.raises(ValueError, match="trainer: must be"):
        TrainConfig.from_mapping({"trainer": "spark"})
    with pytest.raises(ValueError, match="gpu: must be"):
        TrainConfig.from_mapping({"gpu": "sometimes"})
    with pytest.raises(ValueError, match="workers"):
        TrainConfig.from_mapping({"workers": 0})
    with pytest.raises(ValueError, match="collab: the ray trainer"):
        TrainConfig.from_mapping({"trainer": "ray", "collab": True})


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_the_booster_survives_pickling_and_predicts_calibrated(method: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 4))
    y = (rng.random(2000) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(int)
    booster = xgboost.train(
        {"objective": "binary:logistic", "nthread": 1}, xgboost.DMatrix(x, label=y), 20
    )
    raw = bytes(booster.save_raw("ubj"))
    plain = BoostedClassifier(raw, None, 4)
    calibrator = fit_calibrator(method, plain.raw_proba(x[1000:]), y[1000:], np.ones(1000))
    model = pickle.loads(pickle.dumps(BoostedClassifier(raw, calibrator, 4)))
    p = model.predict_proba(x[:1000])
    assert p.shape == (1000, 2) and model.n_features_in_ == 4
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all((p >= 0) & (p <= 1))
    assert abs(p[:, 1].mean() - y[:1000].mean()) < 0.05  # calibrated on a held-out half
    order = np.argsort(x[:1000, 0])
    assert p[order[-100:], 1].mean() > p[order[:100], 1].mean() + 0.5
