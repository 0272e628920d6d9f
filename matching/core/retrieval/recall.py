"""Recall@k of the live search path against exact search, under filters of a given reach."""

from __future__ import annotations

import numpy as np

from matching.core.retrieval.index import VectorIndex


def exact_top_k(vectors: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask)
    scores = vectors[rows] @ query
    k = min(k, len(rows))
    top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    return rows[top[np.argsort(-scores[top])]]


def recall_at_k(
    index: VectorIndex,
    queries: np.ndarray,
    k: int = 10,
    keep: float = 1.0,
    live: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Mean |approx ∩ exact| / |exact| over `queries`, each under a random filter keeping a
    `keep` share of the (live) rows."""
    rng = np.random.default_rng(seed)
    vectors = index.all_vectors()
    base = np.ones(index.ntotal, dtype=bool) if live is None else live
    hits = total = 0
    for q in queries:
        mask = base & (rng.random(index.ntotal) < keep)
        truth = set(exact_top_k(vectors, q, k, mask).tolist())
        found, _ = index.search(q, k, mask)
        hits += len(truth & set(found.tolist()))
        total += len(truth)
    return hits / total if total else 1.0
