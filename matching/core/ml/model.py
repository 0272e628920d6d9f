"""The learned two-sided compatibility model, loaded from a versioned artifact folder.

An artifact (`<artifacts>/models/<version>/`, written by training/train.py) holds the
calibrated classifier (`model.joblib`), the feature list it was trained on
(`features.json`), everyone's swipe statistics as of the training cutoff (`user_stats.npz`,
so serving needs no other store) and `manifest.json`. A model trained with collaborative
signals names their artifact (`collab_version`, registry kind `collab`): the two load together
(`from_registry`). `twin.joblib`, when present, is the same model fitted with the other
choice of collaborative signals, kept for the evaluation's with/without comparison only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from uuid import UUID

import joblib
import numpy as np
import sklearn
from threadpoolctl import ThreadpoolController

from matching.core.domain.exposure import relative_exposure
from matching.core.domain.person import Person
from matching.core.ml import artifacts
from matching.core.ml import collab as collab_signals
from matching.core.ml.collab import Factors
from matching.core.ml.pairs import (
    PAIR_FEATURES,
    FeatureParams,
    StatsTable,
    UserStats,
    pair_matrices,
)

if TYPE_CHECKING:
    from matching.core.ml.registry import Registry

KIND = "models"
MODEL_FILE = "model.joblib"
FEATURES_FILE = "features.json"
STATS_FILE = "user_stats.npz"
TWIN_FILE = "twin.joblib"
REQUIRED = (MODEL_FILE, FEATURES_FILE, STATS_FILE)
log = logging.getLogger(__name__)


class ModelArtifactError(ValueError):
    """A model artifact is incomplete or does not fit this code; the message says why."""


def mutual_probability(p_ab: np.ndarray, p_ba: np.ndarray) -> np.ndarray:
    """The chance of a mutual match: both like each other (decisions taken independently)."""
    out: np.ndarray = np.asarray(p_ab) * np.asarray(p_ba)
    return out


def save_stats(path: Path, table: StatsTable) -> None:
    ids = list(table.counts)
    np.savez(
        path,
        user_ids=np.frombuffer(b"".join(u.bytes for u in ids), dtype=np.uint8).reshape(-1, 16),
        counts=np.array([table.counts[u] for u in ids], dtype=np.int64).reshape(-1, 4),
        prior=np.array([table.prior_rate, table.prior_strength], dtype=np.float64),
    )


def load_stats(path: Path | BinaryIO) -> StatsTable:
    with np.load(path, allow_pickle=False) as data:
        ids = [UUID(bytes=row.tobytes()) for row in data["user_ids"]]
        rows = [tuple(int(c) for c in r) for r in data["counts"].tolist()]
        prior_rate, prior_strength = (float(x) for x in data["prior"])
    counts = {u: (r[0], r[1], r[2], r[3]) for u, r in zip(ids, rows, strict=True)}
    return StatsTable(counts, prior_rate, prior_strength)


def check_features(names: Sequence[str], where: str) -> None:
    """Raise ModelArtifactError unless `names` is exactly PAIR_FEATURES, in order."""
    if tuple(names) == PAIR_FEATURES:
        return
    missing = [f for f in PAIR_FEATURES if f not in names]
    unknown = [f for f in names if f not in PAIR_FEATURES]
    detail = f"missing {missing}, unknown {unknown}" if missing or unknown else "another order"
    raise ModelArtifactError(
        f"{where} was trained on {len(names)} features that do not match the "
        f"{len(PAIR_FEATURES)} this code computes ({detail}); retrain it with this code"
    )


class CompatibilityModel:
    """P(a likes b) for pairs of people, both directions, from a trained classifier."""

    def __init__(
        self,
        estimator: Any,
        stats: StatsTable,
        params: FeatureParams,
        manifest: dict[str, Any],
        collab: Factors | None = None,
    ) -> None:
        n = getattr(estimator, "n_features_in_", len(PAIR_FEATURES))
        if n != len(PAIR_FEATURES):
            raise ModelArtifactError(
                f"the estimator takes {n} features, this code computes {len(PAIR_FEATURES)}"
            )
        self._estimator = estimator
        self._stats = stats
        self.collab = collab
        counts = [c[3] for c in stats.counts.values()]
        self._mean_received = float(np.mean(counts)) if counts else 0.0
        # A request's few hundred rows predict fastest on one OpenMP thread; more threads
        # spin-wait against FAISS and torch in the same replica (10x slower when contended).
        self._threads = ThreadpoolController()
        self.params = params
        self.manifest = manifest
        self.feature_names: tuple[str, ...] = PAIR_FEATURES

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def algorithm_version(self) -> str:
        return str(self.manifest.get("algorithm_version", f"gbm-{self.version}"))

    @property
    def stats(self) -> StatsTable:
        return self._stats

    @property
    def collab_version(self) -> str | None:
        version = self.manifest.get("collab_version")
        return None if version is None else str(version)

    @classmethod
    def from_registry(cls, registry: Registry, version: str) -> CompatibilityModel:
        """Model `version` and the collaborative factors it was trained with, each from a
        trusted copy (artifacts.ArtifactMismatch when files do not match their manifest)."""
        folder = registry.trusted_copy(KIND, version, REQUIRED)
        wanted = artifacts.read_manifest(folder).get("collab_version")
        factors = None
        if wanted is not None:
            required = (collab_signals.FACTORS_FILE,)
            factors = collab_signals.load(
                registry.trusted_copy(collab_signals.KIND, str(wanted), required)
            )
        return cls.load(folder, factors)

    @classmethod
    def load(cls, folder: Path, collab: Factors | None = None) -> CompatibilityModel:
        """Load and check an artifact folder (with the collaborative factors its manifest
        names, when it names some); ModelArtifactError says what is wrong."""
        folder = Path(folder)
        for name in (artifacts.MANIFEST, MODEL_FILE, FEATURES_FILE, STATS_FILE):
            if not (folder / name).is_file():
                raise ModelArtifactError(f"model artifact {folder} has no {name}")
        manifest = artifacts.read_manifest(folder)
        check_features(json.loads((folder / FEATURES_FILE).read_text()), f"model {folder}")
        trained_with = manifest.get("sklearn_version")
        if trained_with != sklearn.__version__:  # pickles are only promised within a version
            log.warning(
                "model %s was trained with scikit-learn %s, this is %s: retrain it",
                folder,
                trained_with,
                sklearn.__version__,
            )
        estimator = joblib.load(folder / MODEL_FILE)
        params = FeatureParams.from_dict(manifest["feature_params"])
        if manifest.get("collab_version") is not None and collab is None:
            raise ModelArtifactError(
                f"model {folder} was trained with collaborative factors "
                f"{manifest['collab_version']}: load them with it"
            )
        return cls(estimator, load_stats(folder / STATS_FILE), params, manifest, collab)

    def save(self, folder: Path) -> None:
        """Write the model, feature list and stats into a (staging) folder."""
        joblib.dump(self._estimator, folder / MODEL_FILE)
        (folder / FEATURES_FILE).write_text(json.dumps(list(self.feature_names), indent=1))
        save_stats(folder / STATS_FILE, self._stats)

    def stats_for(self, user_id: UUID) -> UserStats:
        return self._stats.get(user_id)

    def exposure(self, people: Sequence[Person]) -> np.ndarray:
        """Each person's swipes received as of the cutoff, smoothed, over the population's
        mean (matching.core.domain.exposure): 1 is average."""
        received = [self._stats.get(p.user_id).swipes_received for p in people]
        return relative_exposure(
            np.asarray(received), self._mean_received, self._stats.prior_strength
        )

    def collab_sides(
        self, a: Person | Sequence[Person], candidates: Sequence[Person]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The collaborative rows of both sides (None: a model without them)."""
        if self.collab is None:
            return None
        mine = [a.user_id] if isinstance(a, Person) else [p.user_id for p in a]
        return self.collab.side(mine), self.collab.side([b.user_id for b in candidates])

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """P(like) for rows of PAIR_FEATURES."""
        if len(rows) == 0:
            return np.zeros(0)
        with self._threads.limit(limits=1, user_api="openmp"):
            out: np.ndarray = self._estimator.predict_proba(rows)[:, 1]
        return out

    def pair_rows(
        self,
        a: Person | Sequence[Person],
        candidates: Sequence[Person],
        similarities: Sequence[float] | np.ndarray,
        now: datetime | Sequence[datetime],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows for a -> b and for b -> a, with the stats as of the training cutoff;
        `a` may be one requester state per candidate (the evaluation's, as of each swipe)."""
        stats_b = [self._stats.get(b.user_id) for b in candidates]
        if isinstance(a, Person):
            stats_a: UserStats | list[UserStats] = self.stats_for(a.user_id)
        else:
            stats_a = [self.stats_for(p.user_id) for p in a]
        collab = self.collab_sides(a, candidates)
        return pair_matrices(
            a, candidates, similarities, stats_a, stats_b, now, self.params, collab
        )

    def predict_both(
        self,
        a: Person,
        candidates: Sequence[Person],
        similarities: Sequence[float] | np.ndarray,
        now: datetime | Sequence[datetime],
    ) -> tuple[np.ndarray, np.ndarray]:
        """(P(a likes b), P(b likes a)) for every candidate b."""
        ab, ba = self.pair_rows(a, candidates, similarities, now)
        both = self.predict(np.vstack([ab, ba]))
        return both[: len(ab)], both[len(ab) :]
