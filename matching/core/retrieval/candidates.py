"""The live candidate index: people's attributes and their vectors, row for row."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from matching.core.domain.filters import SearchFilters, mutually_acceptable
from matching.core.domain.person import Person
from matching.core.ml import artifacts
from matching.core.retrieval.index import IndexParams, VectorIndex
from matching.core.retrieval.store import CandidateStore
from matching.core.settings import IndexSettings
from matching.core.storage.profiles import IndexedPerson

log = logging.getLogger(__name__)
KIND = "index"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A retrieved person: cosine to the query, and to the requester when that differs."""

    person: Person
    similarity: float
    affinity: float = 0.0


class CandidateIndex:
    """Keeps `store.n_rows == index.ntotal`: row r of the store is FAISS id r."""

    def __init__(self, index: VectorIndex, store: CandidateStore, version: str) -> None:
        assert store.n_rows == index.ntotal
        self.index = index
        self.store = store
        self.version = version

    @classmethod
    def build(
        cls, people: list[IndexedPerson], dim: int, settings: IndexSettings, version: str
    ) -> CandidateIndex:
        """Index type and parameters chosen by size (see IndexParams.for_size)."""
        params = IndexParams.for_size(len(people), dim, settings)
        index = VectorIndex(params)
        store = CandidateStore(capacity=len(people) + 1024)
        if people:
            index.add(np.stack([p.embedding for p in people]))
        for p in people:
            store.append(p.person)
        return cls(index, store, version)

    @classmethod
    def from_snapshot(
        cls, folder: Path, people: list[IndexedPerson], settings: IndexSettings
    ) -> CandidateIndex:
        """Load a saved index and reconcile it with the database's current people."""
        manifest = artifacts.read_manifest(folder)
        params = IndexParams(**{**manifest["params"], **_search_overrides(settings)})
        index = VectorIndex.load(folder, params)
        ids = np.load(folder / "user_ids.npy")
        store = CandidateStore(capacity=index.ntotal + len(people) + 1024)
        store.extend_dead(index.ntotal)
        out = cls(index, store, str(manifest["version"]))
        row_of = {UUID(bytes=r.tobytes()): i for i, r in enumerate(ids) if r.any()}
        vectors = index.all_vectors()
        reused = 0
        for p in people:
            row = row_of.get(p.person.user_id)
            if row is not None and np.allclose(vectors[row], p.embedding, atol=1e-6):
                store.write(row, p.person)
                reused += 1
            else:
                out.upsert(p.person, p.embedding)
        log.info("index %s: %d rows reused, %d added", out.version, reused, len(people) - reused)
        return out

    def __len__(self) -> int:
        return len(self.store)

    def upsert(self, person: Person, vector: np.ndarray) -> None:
        """Attributes change in place; a new vector takes a new row (HNSW cannot update)."""
        row = self.store.row_of.get(person.user_id)
        if row is not None and np.allclose(self.index.vector(row), vector, atol=1e-6):
            self.store.write(row, person)
            return
        self.index.add(vector.reshape(1, -1))
        self.store.append(person)

    def remove(self, user_id: UUID) -> bool:
        return self.store.remove(user_id) is not None

    def vector_of(self, user_id: UUID) -> np.ndarray | None:
        row = self.store.row_of.get(user_id)
        return None if row is None else self.index.vector(row)

    def search(
        self,
        query: np.ndarray,
        k: int,
        requester: Person | None = None,
        filters: SearchFilters | None = None,
        exclude: Iterable[UUID] = (),
    ) -> list[Candidate]:
        """Top-k by cosine among people who pass every hard filter, exactly, leaving out
        `exclude` (already swiped, matched or blocked) before the search, not after.

        With named terms (`filters.named`) it is hybrid: the best by cosine among people
        with all of them first, then with some, then the rest, up to k each, so that nobody
        who has what a prompt names is left out of the pool by vaguer, closer profiles."""
        skip = set(exclude)
        if filters is None or not filters.named or filters.min_named:
            return self._search(query, k, requester, filters, skip)
        out: list[Candidate] = []
        for need in sorted({len(filters.named), 1, 0}, reverse=True):
            tier = replace(filters, min_named=need)
            found = self._search(query, k, requester, tier, skip)
            skip.update(c.person.user_id for c in found)
            out += found
        return out

    def _search(
        self,
        query: np.ndarray,
        k: int,
        requester: Person | None,
        filters: SearchFilters | None,
        exclude: Iterable[UUID],
    ) -> list[Candidate]:
        mask = self.store.mask_for(requester, filters)
        for user_id in exclude:
            row = self.store.row_of.get(user_id)
            if row is not None:
                mask[row] = False
        out: list[Candidate] = []
        extra = 8
        # Rows are taken best-first under a shrinking mask, so the survivors of all rounds
        # are exactly the best acceptable ones; hashed-bit false positives only cost rounds.
        while len(out) < k:
            rows, scores = self.index.search(query, k - len(out) + extra, mask)
            if len(rows) == 0:
                break
            for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
                mask[row] = False
                person = self.store.people[row]
                if person is not None and _passes(person, requester, filters):
                    out.append(Candidate(person, float(score)))
            extra *= 4
        out.sort(key=lambda c: c.similarity, reverse=True)
        return out[:k]

    def save(self, root: Path, extra: dict[str, Any]) -> Path:
        tmp = artifacts.staging(root, KIND, self.version)
        self.index.save(tmp)
        ids = np.zeros((self.store.n_rows, 16), dtype=np.uint8)
        for user_id, row in self.store.row_of.items():
            ids[row] = np.frombuffer(user_id.bytes, dtype=np.uint8)
        np.save(tmp / "user_ids.npy", ids)
        manifest = {
            "version": self.version,
            "kind": KIND,
            "params": self.index.params.as_dict(),
            "row_count": self.store.n_rows,
            "live_count": len(self.store),
            **extra,
        }
        return artifacts.publish(tmp, manifest)

    def stats(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "type": self.index.params.kind,
            "size": len(self.store),
            "rows": self.store.n_rows,
        }


def _passes(person: Person, requester: Person | None, filters: SearchFilters | None) -> bool:
    if requester is not None and not mutually_acceptable(requester, person):
        return False
    return filters is None or filters.accepts(person)


def _search_overrides(settings: IndexSettings) -> dict[str, Any]:
    """Search-time knobs follow this replica's settings; build-time ones the snapshot's."""
    return {
        "ef_search": settings.hnsw_ef_search,
        "filtered_exact_max": settings.filtered_exact_max,
    }
