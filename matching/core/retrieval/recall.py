"""Recall@k of the live search path against exact search, under filters of a given reach."""

from __future__ import annotations

import numpy as np

from matching.core.retrieval.index import VectorIndex

# float32 inner products of unit vectors: the same pair scored by two code paths (FAISS's
# blocked kernel, numpy's matmul) differs in the last bits, far below any real difference.
TIE_TOLERANCE = 1e-5


def exact_top_k(vectors: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask)
    scores = vectors[rows] @ query
    k = min(k, len(rows))
    top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    return rows[top[np.argsort(-scores[top])]]


def tie_aware_hits(
    vectors: np.ndarray,
    query: np.ndarray,
    found: np.ndarray,
    mask: np.ndarray,
    k: int,
    tol: float = TIE_TOLERANCE,
) -> tuple[int, int]:
    """(hits, wanted) for one query: a found row is a hit when it passes `mask` and its exact
    similarity reaches that of the k-th true neighbour, so among identical vectors any choice
    is correct; at most `wanted` = min(k, rows passing) hits count."""
    truth = exact_top_k(vectors, query, k, mask)
    if len(truth) == 0:
        return 0, 0
    kth = float(vectors[truth[-1]] @ query)
    rows = np.unique(found[(found >= 0) & (found < len(mask))])
    rows = rows[mask[rows]]
    hits = int(np.count_nonzero(vectors[rows] @ query >= kth - tol))
    return min(hits, len(truth)), len(truth)


def recall_under_masks(
    index: VectorIndex, queries: np.ndarray, masks: list[np.ndarray], k: int = 10
) -> float:
    """Tie-aware recall@k with query i searched under `masks[i]` (a real filter's mask, such
    as a requester's two-sided one), rather than a random share of rows."""
    vectors = index.all_vectors()
    hits = total = 0
    for q, mask in zip(queries, masks, strict=True):
        found, _ = index.search(q, k, mask)
        got, wanted = tie_aware_hits(vectors, q, found, mask, k)
        hits += got
        total += wanted
    return hits / total if total else 1.0


def recall_at_k(
    index: VectorIndex,
    queries: np.ndarray,
    k: int = 10,
    keep: float = 1.0,
    live: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Mean tie-aware hits / wanted over `queries` (see `tie_aware_hits`), each under a random
    filter keeping a `keep` share of the (live) rows."""
    rng = np.random.default_rng(seed)
    vectors = index.all_vectors()
    base = np.ones(index.ntotal, dtype=bool) if live is None else live
    hits = total = 0
    for q in queries:
        mask = base & (rng.random(index.ntotal) < keep)
        found, _ = index.search(q, k, mask)
        got, wanted = tie_aware_hits(vectors, q, found, mask, k)
        hits += got
        total += wanted
    return hits / total if total else 1.0
