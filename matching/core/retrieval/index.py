"""FAISS over normalised embeddings, searched under a row mask without losing recall."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from matching.core.settings import IndexSettings

IndexKind = Literal["flat", "hnsw"]


@dataclass(frozen=True, slots=True)
class IndexParams:
    kind: IndexKind
    dim: int
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    filtered_exact_max: int = 20_000

    @classmethod
    def for_size(cls, n: int, dim: int, settings: IndexSettings) -> IndexParams:
        """Exact below `exact_max` vectors (fast and perfect there), HNSW above."""
        return cls(
            kind="flat" if n <= settings.exact_max else "hnsw",
            dim=dim,
            hnsw_m=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
            ef_search=settings.hnsw_ef_search,
            filtered_exact_max=settings.filtered_exact_max,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def set_threads(n: int) -> None:
    """FAISS's OpenMP pool defaults to every core and fights Ray's processes: pin it."""
    faiss.omp_set_num_threads(n)


class VectorIndex:
    """Row-numbered vectors; FAISS id == row of the CandidateStore."""

    def __init__(self, params: IndexParams, index: faiss.Index | None = None) -> None:
        self.params = params
        self._index = index if index is not None else _new_index(params)
        # HNSWFlat keeps the raw vectors in an IndexFlat: the exact path searches that.
        storage = getattr(self._index, "storage", None)
        self._flat = self._index if storage is None else faiss.downcast_index(storage)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def vector(self, row: int) -> np.ndarray:
        return np.asarray(self._flat.reconstruct(row), dtype=np.float32)

    def all_vectors(self) -> np.ndarray:
        if self.ntotal == 0:
            return np.zeros((0, self.params.dim), dtype=np.float32)
        return np.asarray(self._flat.reconstruct_n(0, self.ntotal), dtype=np.float32)

    def search(self, query: np.ndarray, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows among those where `mask` is True: (rows, inner products), best first.

        Few survivors: exact scan of just those (a selector skips the rest). Many: HNSW with
        the same selector, falling back to exact if the graph walk comes back short.
        """
        if len(mask) != self.ntotal:
            raise ValueError(f"mask has {len(mask)} rows, index has {self.ntotal}")
        n_pass = int(np.count_nonzero(mask))
        k = min(k, n_pass)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        if self.params.kind == "hnsw" and n_pass > self.params.filtered_exact_max:
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.sel = selector
            params.efSearch = max(self.params.ef_search, 2 * k)
            scores, rows = self._index.search(q, k, params=params)
            if int((rows[0] >= 0).sum()) == k:
                return rows[0], scores[0]
        params = faiss.SearchParameters()
        params.sel = selector
        scores, rows = self._flat.search(q, k, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def search_batch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows of many queries at once, unfiltered: (rows, scores), -1 rows padding.
        For batch jobs that filter exactly afterwards (pairing's candidate graph)."""
        k = min(k, self.ntotal)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if k <= 0 or len(q) == 0:
            return np.full((len(q), 0), -1, dtype=np.int64), np.zeros((len(q), 0), np.float32)
        scores, rows = self._index.search(q, k)
        return rows, scores

    def save(self, folder: Path) -> None:
        faiss.write_index(self._index, str(folder / "index.faiss"))

    @classmethod
    def load(cls, folder: Path, params: IndexParams) -> VectorIndex:
        return cls(params, faiss.read_index(str(folder / "index.faiss")))


def _new_index(params: IndexParams) -> faiss.Index:
    if params.kind == "flat":
        return faiss.IndexFlatIP(params.dim)
    index = faiss.IndexHNSWFlat(params.dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params.ef_construction
    index.hnsw.efSearch = params.ef_search
    return index
