"""The labelled pair dataset on Ray Data, written to versioned Parquet (`trainer: ray`).

PostgreSQL does the work that needs the whole history, in hash shards of the swiper (one
read task each, training/pgdata.py): each swipe comes with both people's swipe counts from
the swipes before it (window sums; held-out rows use the counts at the cutoff, as serving
would), both people's latest recorded act before it (their last_active_at then) and when
the pair became mutual. Workers turn those rows into PAIR_FEATURES with
`matching.core.ml.pairs.pair_matrix`, the function serving calls, with people as of the
swipe (`pairs_data.person_as_of`, the rule `History.person_at` uses). The driver holds
only per-person data (profiles, embeddings, the stats at the cutoff), never the swipes.

`<dir>/<version>/`: `data/` (Parquet: swiper, swiped, at, train, fold, label, weight and
one float column per feature), `user_stats.npz` (the stats at the cutoff, the model's) and
`manifest.json` (window, counts, feature names): `dataset: <folder>` retrains from it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from matching.core.domain.person import Person
from matching.core.ml import artifacts
from matching.core.ml.model import load_stats, save_stats
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, StatsTable, UserStats, pair_matrix
from training.pairs_data import Window, mutual_weights, person_as_of
from training.pgdata import fetch_rows

KIND = "pairs"
DATA = "data"
STATS_FILE = "user_stats.npz"
LABEL, WEIGHT = "label", "weight"

# Swipes between active people with an embedding of model $1.
_KEPT = """
people AS (
    SELECT p.id FROM profiles p JOIN user_features f ON f.user_id = p.id
    WHERE p.active AND f.model_version = $1 AND f.embedding IS NOT NULL
), s AS (
    SELECT h.swiper_id, h.swiped_id, h.action IN ('like', 'super_like') AS liked,
           h.created_at, h.updated_at
    FROM swipe_history h
    JOIN people x ON x.id = h.swiper_id JOIN people y ON y.id = h.swiped_id
)"""
SPAN_SQL = f"""
WITH {_KEPT}
SELECT min(created_at) AS start, max(created_at) AS "end", count(*) AS kept,
       (SELECT count(*) FROM swipe_history) AS total
FROM s
"""
# Everyone's counts from the swipes before the cutoff $2: the stats the model serves with.
STATS_SQL = f"""
WITH {_KEPT}, sides AS (
    SELECT swiper_id AS u, liked::int AS liked, 1 AS given FROM s WHERE created_at < $2
    UNION ALL
    SELECT swiped_id, liked::int, 0 FROM s WHERE created_at < $2
)
SELECT u, sum(liked * given) AS lg, sum(given) AS sg, sum(liked * (1 - given)) AS lr,
       sum(1 - given) AS sr
FROM sides GROUP BY u
"""
# One shard's swipes ({shard} on swiper_id) with what their features need from the past, in
# one window pass over everyone's events and a GROUP BY (no joins of large intermediate
# results, so the plan does not hinge on fresh table statistics). Per person, in the
# training order (time, then swiper, swiped), with asks before acts at the same instant:
# `before` is the latest act (profile write, own swipe) strictly before the swipe, the
# counts sum the training swipes ($2 the cutoff) strictly before it.
PAIRS_SQL = f"""
WITH {_KEPT}, pair AS (
    SELECT swiper_id, swiped_id, liked, created_at,
           CASE WHEN count(*) FILTER (WHERE liked) OVER two = 2  -- both liked: mutual then
                THEN max(updated_at) FILTER (WHERE liked) OVER two END AS both_liked
    FROM s
    WINDOW two AS (PARTITION BY least(swiper_id, swiped_id), greatest(swiper_id, swiped_id))
), ev AS (
    SELECT swiper_id AS u, swiper_id, swiped_id, created_at AS t, 0 AS act, 1 AS given,
           liked, both_liked, (created_at < $2)::int AS counted
    FROM pair
    UNION ALL
    SELECT swiped_id, swiper_id, swiped_id, created_at, 0, 0, liked, both_liked,
           (created_at < $2)::int
    FROM pair
    UNION ALL
    SELECT id, NULL, NULL, created_at, 1, 0, false, NULL, 0 FROM profiles
    UNION ALL
    SELECT id, NULL, NULL, updated_at, 1, 0, false, NULL, 0 FROM profiles
    UNION ALL
    SELECT swiper_id, NULL, NULL, created_at, 1, 0, false, NULL, 0 FROM swipe_history
    UNION ALL
    SELECT swiper_id, NULL, NULL, updated_at, 1, 0, false, NULL, 0 FROM swipe_history
), w AS (
    SELECT swiper_id, swiped_id, t, given, liked, both_liked, act,
           max(t) FILTER (WHERE act = 1) OVER w AS before,
           coalesce(sum(liked::int * given * counted) OVER w, 0) AS lg,
           coalesce(sum(given * counted) OVER w, 0) AS sg,
           coalesce(sum(liked::int * (1 - given) * counted) OVER w, 0) AS lr,
           coalesce(sum((1 - given) * counted) OVER w, 0) AS sr
    FROM ev
    WINDOW w AS (PARTITION BY u ORDER BY t, act, swiper_id, swiped_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), rows AS (
    SELECT swiper_id, swiped_id, min(t) AS at, bool_or(liked) AS liked,
           max(both_liked) AS both_liked,
           max(before) FILTER (WHERE given = 1) AS a_before,
           max(before) FILTER (WHERE given = 0) AS b_before,
           max(lg) FILTER (WHERE given = 1) AS a_lg, max(sg) FILTER (WHERE given = 1) AS a_sg,
           max(lr) FILTER (WHERE given = 1) AS a_lr, max(sr) FILTER (WHERE given = 1) AS a_sr,
           max(lg) FILTER (WHERE given = 0) AS b_lg, max(sg) FILTER (WHERE given = 0) AS b_sg,
           max(lr) FILTER (WHERE given = 0) AS b_lr, max(sr) FILTER (WHERE given = 0) AS b_sr
    FROM w WHERE act = 0 AND {{shard}}
    GROUP BY swiper_id, swiped_id
)
SELECT r.*, r.at < $2 AS train,
       CASE WHEN r.liked THEN least(r.both_liked, (
           SELECT min(created_at) FROM user_matches
           WHERE status = 'mutual' AND user1_id = least(r.swiper_id, r.swiped_id)
             AND user2_id = greatest(r.swiper_id, r.swiped_id)
       )) END AS mutual_since
FROM rows r
"""


@dataclass(frozen=True)
class PairContext:
    """Per-person data every featurising worker needs (sent once through the object store)."""

    people: dict[UUID, Person]
    embeddings: dict[UUID, np.ndarray]  # unit length
    stats: StatsTable  # as of the cutoff: held-out rows' stats, and the prior
    params: FeatureParams
    cutoff: datetime
    mutual_weight: float
    folds: int  # training rows get fold = hash(pair) % folds; fold 0 calibrates


def fold_of(swiper: str, swiped: str, folds: int) -> int:
    """A pair's fold, the same in every run and on every worker."""
    return zlib.crc32(f"{swiper}:{swiped}".encode()) % folds


class Featurize:
    """PAIR_FEATURES rows, labels and weights for a batch of PAIRS_SQL rows."""

    def __init__(self, context: Any) -> None:
        import ray

        ctx = ray.get(context) if isinstance(context, ray.ObjectRef) else context
        self._ctx: PairContext = ctx

    def _stats(self, row: dict[str, Any], side: str) -> UserStats:
        """`side` a (the swiper) or b (the swiped): counts from before the swipe."""
        ctx = self._ctx
        if not row["train"]:  # held out: the counts at the cutoff, as serving has them
            return ctx.stats.get(UUID(row["swiper_id" if side == "a" else "swiped_id"]))
        lg, sg, lr, sr = (int(row[f"{side}_{c}"] or 0) for c in ("lg", "sg", "lr", "sr"))
        return UserStats(lg, sg, lr, sr, ctx.stats.prior_rate, ctx.stats.prior_strength)

    def __call__(self, batch: pa.Table) -> dict[str, np.ndarray]:
        ctx, rows = self._ctx, batch.to_pylist()
        a = [UUID(r["swiper_id"]) for r in rows]
        b = [UUID(r["swiped_id"]) for r in rows]
        at = [r["at"] for r in rows]
        people_a = [
            person_as_of(ctx.people[u], r["a_before"], r["at"])
            for u, r in zip(a, rows, strict=True)
        ]
        people_b = [
            person_as_of(ctx.people[u], r["b_before"], r["at"])
            for u, r in zip(b, rows, strict=True)
        ]
        sims = np.array([ctx.embeddings[x] @ ctx.embeddings[y] for x, y in zip(a, b, strict=True)])
        features = pair_matrix(
            people_a,
            people_b,
            sims,
            [self._stats(r, "a") for r in rows],
            [self._stats(r, "b") for r in rows],
            at,
            ctx.params,
        ).reshape(len(rows), len(PAIR_FEATURES))
        liked = np.array([bool(r["liked"]) for r in rows])
        mutual = np.array(
            [r["mutual_since"] is not None and r["mutual_since"] < ctx.cutoff for r in rows]
        )
        out: dict[str, np.ndarray] = {
            "swiper": np.array([r["swiper_id"] for r in rows], dtype=object),
            "swiped": np.array([r["swiped_id"] for r in rows], dtype=object),
            "at": np.array([t.timestamp() for t in at], dtype=np.float64),
            "train": np.array([bool(r["train"]) for r in rows]),
            "fold": np.array(
                [fold_of(r["swiper_id"], r["swiped_id"], ctx.folds) for r in rows], np.int64
            ),
            LABEL: liked.astype(np.int64),
            WEIGHT: mutual_weights(liked, mutual, ctx.mutual_weight),
        }
        for i, name in enumerate(PAIR_FEATURES):
            out[name] = features[:, i]
        return out


def is_uri(location: str | Path) -> bool:
    """An object-store (or any `pyarrow.fs`) URI such as s3://bucket/matching, not a path."""
    return "://" in str(location)


@dataclass(frozen=True)
class PairDataset:
    """A written pair dataset: its folder (a path, or a URI), the window and the stats at
    the cutoff."""

    folder: str
    window: Window
    stats: StatsTable
    manifest: dict[str, Any]

    @property
    def data(self) -> str:
        return f"{self.folder.rstrip('/')}/{DATA}"

    @classmethod
    def load(cls, folder: str | Path) -> PairDataset:
        if is_uri(folder):
            fs, base = pafs.FileSystem.from_uri(str(folder))
            try:
                with fs.open_input_stream(f"{base}/{artifacts.MANIFEST}") as f:
                    manifest = json.loads(f.read())
            except FileNotFoundError as exc:  # no manifest: not (yet, or ever) complete
                raise ValueError(f"pair dataset {folder} has no manifest") from exc
            with fs.open_input_stream(f"{base}/{STATS_FILE}") as f:
                stats = load_stats(io.BytesIO(f.read()))
        else:
            manifest = artifacts.read_manifest(Path(folder))
            stats = load_stats(Path(folder) / STATS_FILE)
        if tuple(manifest.get("feature_names", ())) != PAIR_FEATURES:
            raise ValueError(f"pair dataset {folder} has other features than this code computes")
        return cls(str(folder), Window.from_dict(manifest["window"]), stats, manifest)


def read_span(url: str, model_version: str) -> dict[str, Any]:
    """First and last kept swipe, kept and total swipe counts (one aggregate query)."""
    return fetch_rows(url, SPAN_SQL, (model_version,))[0]


def read_stats(url: str, model_version: str, cutoff: datetime, prior: float) -> StatsTable:
    """Everyone's counts from the kept swipes before the cutoff, summed in the database."""
    rows = fetch_rows(url, STATS_SQL, (model_version, cutoff))
    counts = {UUID(r["u"]): (int(r["lg"]), int(r["sg"]), int(r["lr"]), int(r["sr"])) for r in rows}
    return StatsTable.from_counts(counts, prior)


def write(
    root: str | Path, version: str, ds: Any, stats: StatsTable, manifest: dict[str, Any]
) -> PairDataset:
    """Write the featurised dataset and its stats as `<root>/pairs/<version>/`: on a
    filesystem staged and renamed into place; under a URI (an object store has no rename)
    with the manifest written last, which a reader requires."""
    manifest = {**manifest, "feature_names": list(PAIR_FEATURES)}
    if is_uri(root):
        return _write_remote(str(root).rstrip("/"), version, ds, stats, manifest)
    tmp = artifacts.staging(Path(root), KIND, version)
    ds.write_parquet(str(tmp / DATA))
    save_stats(tmp / STATS_FILE, stats)
    return PairDataset.load(artifacts.publish(tmp, manifest))


def _write_remote(
    root: str, version: str, ds: Any, stats: StatsTable, manifest: dict[str, Any]
) -> PairDataset:
    uri = f"{root}/{KIND}/{version}"
    fs, base = pafs.FileSystem.from_uri(uri)
    ds.write_parquet(f"{uri}/{DATA}")  # by the Ray workers, straight to the store
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / STATS_FILE
        save_stats(local, stats)
        body = local.read_bytes()
    with fs.open_output_stream(f"{base}/{STATS_FILE}") as out:
        out.write(body)
    # the data files' sha256 would mean reading them back through the driver: only the
    # stats file (which the driver wrote) is summed; the Parquet files are Ray Data's own
    text = artifacts.manifest_text(manifest, {STATS_FILE: hashlib.sha256(body).hexdigest()})
    with fs.open_output_stream(f"{base}/{artifacts.MANIFEST}") as out:
        out.write(text.encode())
    return PairDataset.load(uri)
