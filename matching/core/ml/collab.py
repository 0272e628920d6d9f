"""Collaborative signals from the like graph: who likes whom, factorised.

Each person gets a `taste` vector (as a liker) and an `appeal` vector (as someone liked) from a
truncated SVD of the signed swipe matrix (like +1, pass -pass_weight), degree-normalised for
the factorisation and scaled back, so taste_a . appeal_b estimates how a would swipe on b from
people with like patterns similar to a's and b's. Built offline from swipes before a cutoff
only (training/collab.py), versioned in the registry (kind `collab`) and loaded with the model
that was trained on it. A person absent from the graph gets the mean vectors (the neutral
value) and a cold-start flag.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import numpy as np
from scipy import sparse
from sklearn.utils.extmath import randomized_svd

KIND = "collab"
FACTORS_FILE = "factors.npz"
# Per pair row: a's taste . b's appeal, b's taste . a's appeal, and who has no history.
FEATURES = ("collab_ab", "collab_ba", "collab_a_cold", "collab_b_cold")


@dataclass(frozen=True, slots=True)
class CollabParams:
    """How the like matrix is factorised; saved in the artifact's manifest."""

    rank: int = 16
    pass_weight: float = 0.5  # a pass counts this much against; unknown pairs are 0
    seed: int = 7

    def to_dict(self) -> dict[str, float | int]:
        return {"rank": self.rank, "pass_weight": self.pass_weight, "seed": self.seed}


@dataclass(frozen=True)
class Factors:
    """Everyone's taste and appeal vectors; `side` gives the rows a pair feature reads."""

    index: dict[UUID, int]
    taste: np.ndarray  # (people, rank)
    appeal: np.ndarray  # (people, rank)

    @property
    def rank(self) -> int:
        return int(self.taste.shape[1])

    def side(self, users: Sequence[UUID]) -> np.ndarray:
        """Rows of [taste, appeal, cold] per user; unknown users get the means and cold=1."""
        at = np.array([self.index.get(u, -1) for u in users], dtype=np.int64)
        known = at >= 0
        r = self.rank
        out = np.zeros((len(users), 2 * r + 1))
        if len(self.index):
            out[:, :r] = np.where(known[:, None], self.taste[at], self.taste.mean(axis=0))
            out[:, r : 2 * r] = np.where(known[:, None], self.appeal[at], self.appeal.mean(axis=0))
        out[:, 2 * r] = ~known
        return out


def cold_sides(n: int) -> np.ndarray:
    """The rows for people without any collaborative history (no factors at all)."""
    out = np.zeros((n, 3))
    out[:, 2] = 1.0
    return out


def pair_columns(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """FEATURES for rows x -> y, from `Factors.side` rows of each (the same rank)."""
    r = (x.shape[1] - 1) // 2
    return {
        "collab_ab": np.einsum("ij,ij->i", x[:, :r], y[:, r : 2 * r]),
        "collab_ba": np.einsum("ij,ij->i", y[:, :r], x[:, r : 2 * r]),
        "collab_a_cold": x[:, 2 * r],
        "collab_b_cold": y[:, 2 * r],
    }


def factorise(
    swipers: Sequence[UUID], swiped: Sequence[UUID], liked: np.ndarray, params: CollabParams
) -> Factors:
    """Taste and appeal vectors from swipes (one entry each; a repeated pair keeps its last)."""
    people = sorted(set(swipers) | set(swiped))
    index = {u: i for i, u in enumerate(people)}
    n = len(people)
    if n == 0:
        return Factors({}, np.zeros((0, params.rank)), np.zeros((0, params.rank)))
    rows = np.array([index[u] for u in swipers], dtype=np.int64)
    cols = np.array([index[u] for u in swiped], dtype=np.int64)
    values = np.where(np.asarray(liked, dtype=bool), 1.0, -params.pass_weight)
    m = sparse.coo_matrix((values, (rows, cols)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    given = np.sqrt(np.maximum(np.bincount(rows, minlength=n), 1.0))
    received = np.sqrt(np.maximum(np.bincount(cols, minlength=n), 1.0))
    # Normalised by degree so the busiest swipers do not own the components, then scaled
    # back so taste . appeal is on the scale of the signed matrix itself.
    normed = sparse.diags(1 / given) @ m @ sparse.diags(1 / received)
    rank = max(1, min(params.rank, n - 1))
    u, s, vt = randomized_svd(normed, rank, random_state=params.seed)
    root = np.sqrt(s)
    taste, appeal = u * root * given[:, None], vt.T * root * received[:, None]
    if rank < params.rank:  # tiny graphs: pad, so every artifact has the configured rank
        pad = ((0, 0), (0, params.rank - rank))
        taste, appeal = np.pad(taste, pad), np.pad(appeal, pad)
    return Factors(index, taste, appeal)


def save(folder: Path, factors: Factors) -> None:
    ids = list(factors.index)
    np.savez(
        folder / FACTORS_FILE,
        user_ids=np.frombuffer(b"".join(u.bytes for u in ids), dtype=np.uint8).reshape(-1, 16),
        taste=factors.taste,
        appeal=factors.appeal,
    )


def load(folder: Path) -> Factors:
    with np.load(Path(folder) / FACTORS_FILE, allow_pickle=False) as data:
        ids = [UUID(bytes=row.tobytes()) for row in data["user_ids"]]
        taste, appeal = data["taste"], data["appeal"]
    return Factors({u: i for i, u in enumerate(ids)}, taste, appeal)


def describe(factors: Factors) -> str:
    """A one-line summary for logs."""
    return json.dumps({"people": len(factors.index), "rank": factors.rank})
