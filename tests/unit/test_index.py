"""VectorIndex (flat and HNSW) under a row mask, and recall@k against exact search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from factories import unit_vectors

from matching.core.retrieval.index import IndexKind, IndexParams, VectorIndex, set_threads
from matching.core.retrieval.recall import (
    exact_top_k,
    recall_at_k,
    recall_under_masks,
    tie_aware_hits,
)
from matching.core.settings import IndexSettings, Settings


def _settings(**env: str) -> IndexSettings:
    return Settings.from_env(env).index


def _flat(vectors: np.ndarray) -> VectorIndex:
    index = VectorIndex(IndexParams(kind="flat", dim=vectors.shape[1]))
    index.add(vectors)
    return index


def _hnsw_stats() -> Any:
    """FAISS's global HNSW counters: `n1` counts queries that walked a graph."""
    return faiss.cvar.hnsw_stats  # type: ignore[attr-defined]


# -- parameters ------------------------------------------------------------------------------


def test_for_size_picks_flat_up_to_exact_max() -> None:
    s = _settings(
        MATCHING_INDEX_EXACT_MAX="100",
        MATCHING_INDEX_FILTERED_EXACT_MAX="7",
        MATCHING_HNSW_M="16",
        MATCHING_HNSW_EF_CONSTRUCTION="40",
        MATCHING_HNSW_EF_SEARCH="50",
    )
    assert IndexParams.for_size(100, 8, s).kind == "flat"
    big = IndexParams.for_size(101, 8, s)
    assert big == IndexParams(
        kind="hnsw", dim=8, hnsw_m=16, ef_construction=40, ef_search=50, filtered_exact_max=7
    )
    assert big.as_dict() == {
        "kind": "hnsw",
        "dim": 8,
        "hnsw_m": 16,
        "ef_construction": 40,
        "ef_search": 50,
        "filtered_exact_max": 7,
    }
    assert IndexParams(**big.as_dict()) == big  # type: ignore[arg-type]


def test_exact_max_zero_means_hnsw_for_any_vectors() -> None:
    s = _settings(MATCHING_INDEX_EXACT_MAX="0")
    assert IndexParams.for_size(1, 4, s).kind == "hnsw"
    assert IndexParams.for_size(0, 4, s).kind == "flat"


def test_set_threads() -> None:
    before = faiss.omp_get_max_threads()
    try:
        set_threads(1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


# -- flat ------------------------------------------------------------------------------------


def test_vectors_round_trip() -> None:
    x = unit_vectors(20, 8, seed=1)
    index = _flat(x)
    assert index.ntotal == 20
    assert np.allclose(index.vector(5), x[5])
    assert np.allclose(index.all_vectors(), x)
    assert index.all_vectors().dtype == np.float32


def test_empty_index() -> None:
    index = VectorIndex(IndexParams(kind="flat", dim=8))
    assert index.ntotal == 0
    assert index.all_vectors().shape == (0, 8)
    rows, scores = index.search(np.ones(8), 5, np.zeros(0, dtype=bool))
    assert rows.shape == scores.shape == (0,)


def test_flat_search_is_exact_best_first_within_the_mask() -> None:
    x = unit_vectors(300, 16, seed=2)
    index = _flat(x)
    q = x[0]
    rng = np.random.default_rng(0)
    mask = rng.random(300) < 0.3
    rows, scores = index.search(q, 10, mask)
    assert rows.dtype == np.int64
    assert mask[rows].all()
    assert rows.tolist() == exact_top_k(x, q, 10, mask).tolist()
    assert np.allclose(scores, x[rows] @ q, atol=1e-5)
    assert (np.diff(scores) <= 1e-7).all()


def test_k_larger_than_the_mask_returns_every_passing_row() -> None:
    x = unit_vectors(50, 8, seed=3)
    index = _flat(x)
    mask = np.zeros(50, dtype=bool)
    mask[[3, 17, 42]] = True
    rows, _ = index.search(x[17], 10, mask)
    assert rows[0] == 17
    assert sorted(rows.tolist()) == [3, 17, 42]


@pytest.mark.parametrize("k", [0, -1])
def test_non_positive_k_returns_nothing(k: int) -> None:
    index = _flat(unit_vectors(10, 4))
    rows, scores = index.search(np.ones(4), k, np.ones(10, dtype=bool))
    assert len(rows) == len(scores) == 0


def test_an_all_false_mask_returns_nothing() -> None:
    index = _flat(unit_vectors(10, 4))
    rows, _ = index.search(np.ones(4), 5, np.zeros(10, dtype=bool))
    assert len(rows) == 0


@pytest.mark.parametrize("length", [9, 11])
def test_mask_length_mismatch_is_a_value_error(length: int) -> None:
    index = _flat(unit_vectors(10, 4))
    with pytest.raises(ValueError, match=f"mask has {length} rows, index has 10"):
        index.search(np.ones(4), 3, np.ones(length, dtype=bool))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_and_load(tmp_path: Path, kind: IndexKind) -> None:
    x = unit_vectors(64, 8, seed=4)
    params = IndexParams(kind=kind, dim=8, hnsw_m=8)
    index = VectorIndex(params)
    index.add(x)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, params)
    assert loaded.ntotal == 64
    assert np.allclose(loaded.all_vectors(), x)
    mask = np.ones(64, dtype=bool)
    assert loaded.search(x[9], 5, mask)[0].tolist() == index.search(x[9], 5, mask)[0].tolist()


# -- HNSW and recall -------------------------------------------------------------------------

N, DIM = 4000, 64


@pytest.fixture(scope="module")
def hnsw() -> VectorIndex:
    s = _settings(MATCHING_INDEX_EXACT_MAX="0", MATCHING_INDEX_FILTERED_EXACT_MAX="200")
    params = IndexParams.for_size(N, DIM, s)
    assert params.kind == "hnsw"
    assert params.filtered_exact_max == 200
    index = VectorIndex(params)
    index.add(unit_vectors(N, DIM, seed=11))
    return index


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return unit_vectors(60, DIM, seed=12)


@pytest.mark.parametrize(
    ("keep", "graph_walks"),
    [(1.0, True), (0.1, True), (0.01, False)],  # 4000, ~400 and ~40 rows pass
)
def test_recall_at_10_under_filters(
    hnsw: VectorIndex, queries: np.ndarray, keep: float, graph_walks: bool
) -> None:
    stats = _hnsw_stats()
    stats.reset()
    recall = recall_at_k(hnsw, queries, k=10, keep=keep, seed=5)
    assert recall >= 0.95
    walked = stats.n1
    if graph_walks:  # HNSW with a selector for every query (no short walks here)
        assert walked == len(queries)
    else:  # at most 200 rows pass: an exact scan, the graph untouched
        assert walked == 0


def test_hnsw_search_respects_the_mask(hnsw: VectorIndex, queries: np.ndarray) -> None:
    rng = np.random.default_rng(8)
    mask = rng.random(N) < 0.5
    stats = _hnsw_stats()
    stats.reset()
    rows, scores = hnsw.search(queries[0], 20, mask)
    assert stats.n1 == 1
    assert len(rows) == 20
    assert mask[rows].all()
    assert (np.diff(scores) <= 1e-6).all()


def test_a_short_graph_walk_falls_back_to_exact() -> None:
    """With filtered_exact_max=0, a mask of 3 rows still walks the graph, which rarely reaches
    them all; the exact fallback must then return every one."""
    x = unit_vectors(2000, 32, seed=13)
    index = VectorIndex(
        IndexParams(kind="hnsw", dim=32, hnsw_m=8, ef_search=8, filtered_exact_max=0)
    )
    index.add(x)
    rng = np.random.default_rng(14)
    short_walks = 0
    for _ in range(5):
        mask = np.zeros(2000, dtype=bool)
        picked = rng.choice(2000, size=3, replace=False)
        mask[picked] = True
        q = unit_vectors(1, 32, seed=int(rng.integers(1 << 30)))[0]
        short_walks += _graph_walk_found(index, q, 3, mask) < 3
        _hnsw_stats().reset()
        rows, scores = index.search(q, 3, mask)
        assert _hnsw_stats().n1 == 1
        assert rows.tolist() == exact_top_k(x, q, 3, mask).tolist()
        assert np.allclose(scores, x[rows] @ q, atol=1e-5)
    assert short_walks > 0  # the premise: the fallback was needed


def _graph_walk_found(index: VectorIndex, q: np.ndarray, k: int, mask: np.ndarray) -> int:
    """How many rows the bare HNSW walk (no fallback) finds under `mask`."""
    bitmap = np.packbits(mask, bitorder="little")
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
    params.efSearch = index.params.ef_search
    _, rows = index._index.search(q.reshape(1, -1), k, params=params)
    return int((rows[0] >= 0).sum())


# -- recall helpers --------------------------------------------------------------------------


def test_exact_top_k() -> None:
    vectors = np.eye(4, dtype=np.float32)
    q = np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32)
    assert exact_top_k(vectors, q, 3, np.ones(4, dtype=bool)).tolist() == [1, 3, 2]
    mask = np.array([True, False, True, True])
    assert exact_top_k(vectors, q, 10, mask).tolist() == [3, 2, 0]
    assert exact_top_k(vectors, q, 3, np.zeros(4, dtype=bool)).tolist() == []


def test_recall_of_a_flat_index_is_perfect_and_honours_live() -> None:
    x = unit_vectors(500, 16, seed=15)
    index = _flat(x)
    live = np.arange(500) % 3 != 0
    assert recall_at_k(index, x[:20], k=10, keep=0.5, live=live) == 1.0


def test_recall_with_nothing_to_find_is_one() -> None:
    index = _flat(unit_vectors(50, 8))
    assert recall_at_k(index, unit_vectors(3, 8), k=5, live=np.zeros(50, dtype=bool)) == 1.0
    assert recall_at_k(index, np.zeros((0, 8), dtype=np.float32), k=5) == 1.0


class _Forgetful:
    """A stand-in index whose search finds nothing: recall must say 0."""

    def __init__(self, inner: VectorIndex) -> None:
        self.inner = inner
        self.ntotal = inner.ntotal

    def all_vectors(self) -> np.ndarray:
        return self.inner.all_vectors()

    def search(self, _q: np.ndarray, _k: int, _mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


def test_recall_counts_misses() -> None:
    index = _flat(unit_vectors(50, 8))
    forgetful: Any = _Forgetful(index)
    assert recall_at_k(forgetful, unit_vectors(3, 8), k=5) == 0.0


# -- ties ------------------------------------------------------------------------------------


def _sparse_population(n_copies: int = 400, n_distinct: int = 130, dim: int = 32) -> np.ndarray:
    """Many people with the same short profile text: a few vectors repeated hundreds of times."""
    distinct = unit_vectors(n_distinct, dim, seed=21)
    same = unit_vectors(3, dim, seed=22)
    copies = same[np.arange(n_copies) % 3]
    return np.concatenate([copies, distinct]).astype(np.float32)


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.1])
def test_an_exact_index_over_identical_vectors_scores_one(keep: float) -> None:
    x = _sparse_population()
    index = _flat(x)
    queries = x[::7]  # most of them one of the repeated vectors
    assert recall_at_k(index, queries, k=10, keep=keep, seed=3) == 1.0


def test_ties_were_the_premise_ids_of_the_exact_path_differ() -> None:
    """Without tie-awareness the same exact index would read as missing neighbours."""
    x = _sparse_population()
    index = _flat(x)
    mask = np.ones(len(x), dtype=bool)
    id_hits = 0
    for q in x[:30]:
        found, _ = index.search(q, 10, mask)
        id_hits += len(set(found.tolist()) & set(exact_top_k(x, q, 10, mask).tolist()))
    assert id_hits < 30 * 10


def test_a_row_below_the_kth_similarity_is_a_miss_even_among_ties() -> None:
    x = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    q = np.array([1, 0], dtype=np.float32)
    mask = np.ones(5, dtype=bool)
    assert tie_aware_hits(x, q, np.array([2, 1]), mask, k=2) == (2, 2)  # any two copies
    assert tie_aware_hits(x, q, np.array([2, 4]), mask, k=2) == (1, 2)  # 0.6 < 1.0
    assert tie_aware_hits(x, q, np.array([0, 0, 1]), mask, k=2) == (2, 2)  # duplicates once
    assert tie_aware_hits(x, q, np.array([0, 1, 2]), mask, k=2) == (2, 2)  # capped at wanted
    assert tie_aware_hits(x, q, np.array([-1, -1]), mask, k=2) == (0, 2)  # FAISS's padding


def test_a_tied_row_outside_the_mask_is_a_miss() -> None:
    x = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    q = np.array([1, 0], dtype=np.float32)
    mask = np.array([True, False, True, True])
    assert tie_aware_hits(x, q, np.array([0, 1]), mask, k=2) == (1, 2)
    assert tie_aware_hits(x, q, np.array([0, 2]), mask, k=2) == (2, 2)
    assert tie_aware_hits(x, q, np.array([0]), np.zeros(4, dtype=bool), k=2) == (0, 0)


def test_recall_under_given_masks(hnsw: VectorIndex, queries: np.ndarray) -> None:
    """As under random filters: masks a caller made (here: every other row, a tenth)."""
    rows = np.arange(N)
    masks = [rows % 2 == 0 if i % 2 else rows % 10 == 3 for i in range(len(queries))]
    assert recall_under_masks(hnsw, queries, masks, k=10) >= 0.95
    forgetful: Any = _Forgetful(hnsw)
    assert recall_under_masks(forgetful, queries[:3], masks[:3], k=10) == 0.0
    empty = [np.zeros(N, dtype=bool)] * 2
    assert recall_under_masks(hnsw, queries[:2], empty) == 1.0
