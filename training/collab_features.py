"""The collaborative columns of the training and held-out rows, without leaks.

Held-out rows read the published factors (`matching jobs collab`, built before the cutoff),
as serving does. A training row must not read factors fitted on its own swipe, or the model
learns to trust a feature that saw the label: each training swipe falls in one of `folds`
random folds and reads factors fitted on the other folds' swipes only (out of fold).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from matching.core.ml import artifacts
from matching.core.ml import collab as collab_signals
from matching.core.ml.collab import CollabParams, Factors
from matching.core.ml.pairs import CollabSides
from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from training.jobs import JobError
from training.pairs_data import Swipe

SidesOf = Callable[[Sequence[Swipe]], CollabSides]


@dataclass(frozen=True)
class Published:
    """A collab artifact: its factors and manifest."""

    factors: Factors
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def cutoff(self) -> datetime:
        return datetime.fromisoformat(self.manifest["cutoff"])

    @property
    def params(self) -> CollabParams:
        p = self.manifest["params"]
        return CollabParams(int(p["rank"]), float(p["pass_weight"]), int(p["seed"]))


def collab_folder(settings: Settings, version: str | None) -> Path | None:
    """Version `version` (None: the newest) here, else from the registry; None if none."""
    root = settings.index.artifacts_dir
    if version is not None and (root / collab_signals.KIND / version).is_dir():
        return root / collab_signals.KIND / version
    if version is None and (found := artifacts.latest(root, collab_signals.KIND)) is not None:
        return found
    registry = Registry.from_settings(settings)
    if version is None:
        versions = registry.versions(collab_signals.KIND)
        if not versions:
            return None
        version = str(versions[-1]["version"])
    return registry.local_copy(collab_signals.KIND, version)


def load_published(settings: Settings, version: str | None, cutoff: datetime) -> Published | None:
    """The artifact to train with; a JobError if it saw swipes from after `cutoff`."""
    folder = collab_folder(settings, version)
    if folder is None:
        return None
    found = Published(collab_signals.load(folder), artifacts.read_manifest(folder))
    if found.cutoff > cutoff:
        raise JobError(
            f"collab {found.version} was built from swipes up to {found.cutoff:%Y-%m-%d %H:%M}, "
            f"after this model's held-out window starts ({cutoff:%Y-%m-%d %H:%M}): run "
            "`matching jobs collab` with the same test_days again"
        )
    return found


def published_sides(factors: Factors) -> SidesOf:
    """Rows for held-out swipes (and serving): everyone's published factors."""

    def sides(group: Sequence[Swipe]) -> CollabSides:
        return (
            factors.side([s.swiper for s in group]),
            factors.side([s.swiped for s in group]),
        )

    return sides


def out_of_fold(swipes: Sequence[Swipe], params: CollabParams, folds: int, seed: int) -> SidesOf:
    """Rows for training swipes: each from factors fitted without its own fold."""
    fold = np.random.default_rng(seed).integers(0, folds, len(swipes))
    fold_of = {s: int(k) for s, k in zip(swipes, fold, strict=True)}
    fitted = []
    for k in range(folds):
        rest = [s for s, f in zip(swipes, fold, strict=True) if f != k]
        liked = np.array([s.liked for s in rest], dtype=bool)
        fitted.append(
            collab_signals.factorise(
                [s.swiper for s in rest], [s.swiped for s in rest], liked, params
            )
        )

    def sides(group: Sequence[Swipe]) -> CollabSides:
        width = 2 * params.rank + 1
        mine, theirs = np.zeros((len(group), width)), np.zeros((len(group), width))
        ks = np.array([fold_of[s] for s in group])
        for k in np.unique(ks):
            rows = np.flatnonzero(ks == k)
            members = [group[i] for i in rows.tolist()]
            mine[rows] = fitted[k].side([s.swiper for s in members])
            theirs[rows] = fitted[k].side([s.swiped for s in members])
        return mine, theirs

    return sides
