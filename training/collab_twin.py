"""A model with its collaborative factors, its twin, and the with/without comparison.

`matching jobs train` fits the model twice when a collab artifact exists: with the like-graph
features and without them (`twin.joblib` holds whichever the config did not choose). The
evaluation scores both on the same held-out window, so the report says whether the
collaborative signals earn their place (`matching.core.ml.gate.collab_wins`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib

from matching.core.ml import artifacts
from matching.core.ml import collab as collab_signals
from matching.core.ml.collab import Factors
from matching.core.ml.gate import GATE, K, collab_wins
from matching.core.ml.model import TWIN_FILE, CompatibilityModel, ModelArtifactError
from matching.core.settings import Settings
from training.collab_features import collab_folder

SHOWN = (*GATE, "like_log_loss", f"mutual_recall_at_{K}", "top10_gini")


def _factors(settings: Settings, version: Any) -> Factors | None:
    if version is None:
        return None
    folder = collab_folder(settings, str(version))
    if folder is None:
        raise ModelArtifactError(f"collab version {version} is neither here nor in the registry")
    return collab_signals.load(folder)


def load_model(settings: Settings, folder: Path) -> CompatibilityModel:
    """The model in `folder` with the collaborative factors it was trained with."""
    wanted = artifacts.read_manifest(folder).get("collab_version")
    return CompatibilityModel.load(folder, _factors(settings, wanted))


def load_twin(
    settings: Settings, model: CompatibilityModel, folder: Path
) -> CompatibilityModel | None:
    """The model's twin (the other choice of collaborative features), None without one."""
    twin = model.manifest.get("twin")
    if not twin or not (folder / TWIN_FILE).is_file():
        return None
    wanted = twin.get("collab_version")
    manifest = {
        **model.manifest,
        "collab_version": wanted,
        "algorithm_version": f"{model.algorithm_version}-twin",
    }
    estimator = joblib.load(folder / TWIN_FILE)
    return CompatibilityModel(
        estimator, model.stats, model.params, manifest, _factors(settings, wanted)
    )


def compare_collab(
    model: CompatibilityModel, metrics: Mapping[str, Any], twin: Mapping[str, Any]
) -> dict[str, Any]:
    """Both variants' headline metrics on the same window, and whether collab wins."""
    used = model.collab_version is not None
    with_c, without = (metrics, twin) if used else (twin, metrics)
    ok, why = collab_wins(with_c, without)
    return {
        "served_with_collab": used,
        "with": {k: with_c.get(k) for k in SHOWN},
        "without": {k: without.get(k) for k in SHOWN},
        "collab_wins": [ok, why],
    }
