"""An XGBoost booster, calibrated, behind scikit-learn's `predict_proba`.

`matching jobs train` with `trainer: ray` fits the booster on Ray Train; wrapped in this class
it is pickled into `model.joblib` like the scikit-learn model, so `CompatibilityModel` loads
and predicts with it unchanged. The booster travels as XGBoost's own UBJSON bytes (stable
across XGBoost versions), the calibrator as a scikit-learn isotonic or logistic regression
fitted on a fold the booster did not see.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class BoostedClassifier:
    """P(like) from a binary:logistic booster, mapped through a calibrator."""

    def __init__(self, booster: bytes, calibrator: Any, n_features: int) -> None:
        self._raw = booster
        self._calibrator = calibrator
        self.n_features_in_ = n_features
        self._booster: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"raw": self._raw, "calibrator": self._calibrator, "n": self.n_features_in_}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["raw"], state["calibrator"], state["n"])  # type: ignore[misc]

    def raw_proba(self, rows: np.ndarray) -> np.ndarray:
        """The booster's uncalibrated P(like)."""
        if self._booster is None:
            import xgboost

            booster = xgboost.Booster(params={"nthread": 1})  # a replica predicts on one core
            booster.load_model(bytearray(self._raw))
            self._booster = booster
        out: np.ndarray = self._booster.inplace_predict(np.asarray(rows, dtype=np.float64))
        return out

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """scikit-learn's shape: columns P(pass), P(like)."""
        p = calibrate(self._calibrator, self.raw_proba(rows))
        return np.column_stack([1.0 - p, p])


def calibrate(calibrator: Any, raw: np.ndarray) -> np.ndarray:
    """Calibrated P(like) from raw: isotonic (`predict`) or logistic on the logit."""
    if hasattr(calibrator, "predict_proba"):
        out: np.ndarray = calibrator.predict_proba(_logit(raw))[:, 1]
        return out
    return np.clip(np.asarray(calibrator.predict(raw), dtype=np.float64), 0.0, 1.0)


def fit_calibrator(method: str, raw: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Any:
    """Isotonic or sigmoid (Platt) calibration of raw P(like) on a held-out fold."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            raw, labels, sample_weight=weights
        )
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1e6).fit(_logit(raw), labels, sample_weight=weights)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    out: np.ndarray = np.log(q / (1 - q)).reshape(-1, 1)
    return out
