"""`matching jobs collab`: who likes whom, factorised into taste and appeal vectors.

Ray Data reads swipe_history before the cutoff (the newest swipe minus `test_days`, the same
held-out window as `matching jobs train`) in hash shards and turns each swipe into its value
as it stood at the cutoff (a pass that became a like afterwards is still a pass); the
factorisation (`matching.core.ml.collab.factorise`, a randomized SVD of the sparse matrix) runs
on the driver. The factors are published as a versioned artifact (`<artifacts>/collab/<v>/`)
and pushed to the registry; the train job uses the newest one whose cutoff is not after its
own, so nothing of the held-out window reaches a feature.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from matching.core.ml import artifacts
from matching.core.ml import collab as collab_signals
from matching.core.ml.collab import CollabParams, Factors
from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from training.jobs import JobError
from training.pairs_data import LIKES
from training.pgdata import fetch_rows, read_postgres

log = logging.getLogger(__name__)
KIND = collab_signals.KIND
_END = "SELECT max(created_at) AS end FROM swipe_history"
_SWIPES = """
SELECT swiper_id, swiped_id, action, created_at, updated_at FROM swipe_history
WHERE created_at < $1 AND {shard}
"""


@dataclass(frozen=True, slots=True)
class CollabConfig:
    """training/configs/collab.yaml; unknown keys are an error."""

    test_days: float = 7.0  # must be train's: the factors know nothing of its held-out window
    rank: int = 16
    pass_weight: float = 0.5
    seed: int = 7
    shards: int = 2
    min_swipes: int = 100

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> CollabConfig:
        given = dict(config or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown collab config keys: {unknown}; known: {sorted(known)}")
        defaults = cls()
        values = {k: type(getattr(defaults, k))(v) for k, v in given.items()}
        cfg = cls(**values)
        if cfg.test_days <= 0 or cfg.rank < 1 or cfg.pass_weight < 0 or cfg.shards < 1:
            raise ValueError("test_days and rank must be > 0, pass_weight >= 0, shards >= 1")
        return cfg

    @property
    def params(self) -> CollabParams:
        return CollabParams(self.rank, self.pass_weight, self.seed)


def as_of(batch: pd.DataFrame, cutoff: datetime) -> pd.DataFrame:
    """Swipes as they stood at `cutoff`: a like counts only if it was taken before it."""
    liked = batch["action"].isin(list(LIKES)) & (batch["updated_at"] < cutoff)
    return pd.DataFrame(
        {"swiper": batch["swiper_id"], "swiped": batch["swiped_id"], "liked": liked}
    )


def _cutoff(url: str, test_days: float) -> datetime | None:
    end = fetch_rows(url, _END)[0]["end"]
    return None if end is None else end - timedelta(days=test_days)


def _collect(
    url: str, cutoff: datetime, cfg: CollabConfig
) -> tuple[list[UUID], list[UUID], list[bool]]:
    source = read_postgres(
        url, _SWIPES, key="swiper_id", shards=cfg.shards, args=(cutoff,), name="Swipes"
    )
    signed = source.map_batches(functools.partial(as_of, cutoff=cutoff), batch_format="pandas")
    swipers: list[UUID] = []
    swiped: list[UUID] = []
    liked: list[bool] = []
    for batch in signed.iter_batches(batch_format="pandas", batch_size=65536):
        swipers += [UUID(u) for u in batch["swiper"]]
        swiped += [UUID(u) for u in batch["swiped"]]
        liked += batch["liked"].astype(bool).tolist()
    return swipers, swiped, liked


def publish(
    settings: Settings,
    factors: Factors,
    cutoff: datetime,
    cfg: CollabConfig,
    counts: dict[str, int],
) -> dict[str, Any]:
    """Write the factors as a new version and push it to the registry; its manifest."""
    version = artifacts.new_version()
    manifest = {
        "version": version,
        "kind": KIND,
        "cutoff": cutoff.isoformat(),  # every swipe it knows was taken before this
        "params": cfg.params.to_dict(),
        "config": asdict(cfg),
        "people": len(factors.index),
        **counts,
    }
    tmp = artifacts.staging(settings.index.artifacts_dir, KIND, version)
    collab_signals.save(tmp, factors)
    folder = artifacts.publish(tmp, manifest)
    Registry.from_settings(settings).push(KIND, folder)
    return {**manifest, "folder": str(folder)}


def run(settings: Settings, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Factorise the like graph before the held-out window; the published manifest."""
    cfg = CollabConfig.from_mapping(config)
    url = str(settings.database.url)
    cutoff = _cutoff(url, cfg.test_days)
    if cutoff is None:
        raise JobError("no swipes yet: nothing to learn who likes whom from")
    swipers, swiped, liked = _collect(url, cutoff, cfg)
    if len(swipers) < cfg.min_swipes:
        raise JobError(
            f"{len(swipers)} swipes before the cutoff {cutoff:%Y-%m-%d %H:%M}, "
            f"need {cfg.min_swipes}"
        )
    likes = np.asarray(liked, dtype=bool)
    factors = collab_signals.factorise(swipers, swiped, likes, cfg.params)
    counts = {"swipes": len(swipers), "likes": int(likes.sum())}
    log.info("collab: %d people from %d swipes before %s", len(factors.index), len(swipers), cutoff)
    return {"status": "built", **publish(settings, factors, cutoff, cfg, counts)}
