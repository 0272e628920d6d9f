"""The candidate graph of one cycle: each seeker's top-k acceptable others, weighted.

An edge joins two seekers who pass each other's hard preferences and pool criteria, are not
blocked either way and were not paired within the past-partner window. Its score is their
cosine plus both wait boosts minus the penalties; edges under PAIRING_MIN_SCORE are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import numpy as np

from matching.core.domain.filters import SearchFilters
from matching.core.domain.person import Person
from matching.core.retrieval.candidates import CandidateIndex
from matching.core.settings import IndexSettings, PairingSettings
from matching.core.storage.profiles import IndexedPerson

Edge = tuple[int, int, float]  # (i, j, score) with i < j, positions in the cycle's seekers


@dataclass(frozen=True, slots=True)
class Seeker:
    """A person waiting in a pool, with their vector, wait and pool criteria."""

    person: Person
    vector: np.ndarray
    waited: int = 0
    criteria: SearchFilters = field(default_factory=SearchFilters)

    @property
    def user_id(self) -> UUID:
        return self.person.user_id


def wait_boost(waited: int, s: PairingSettings) -> float:
    """Grows by PAIRING_WAIT_BOOST per cycle waited, up to PAIRING_WAIT_BOOST_CAP."""
    return min(waited * s.wait_boost, s.wait_boost_cap)


def penalty(a: Person, b: Person, s: PairingSettings) -> float:
    """What makes an otherwise similar pair a worse introduction."""
    out = 0.0
    if a.company is not None and a.company == b.company:
        out += s.penalty_same_company  # colleagues meet anyway
    if a.interests and b.interests and not (a.interests & b.interests):
        out += s.penalty_no_shared_interest
    return out


def edge_score(similarity: float, a: Seeker, b: Seeker, s: PairingSettings) -> float:
    boost = wait_boost(a.waited, s) + wait_boost(b.waited, s)
    return similarity + boost - penalty(a.person, b.person, s)


def build_index(seekers: Sequence[Seeker]) -> CandidateIndex:
    """An exact (or HNSW, when large) index of the cycle's seekers, row i = seeker i."""
    dim = int(seekers[0].vector.shape[0]) if seekers else 1
    people = [IndexedPerson(s.person, s.vector) for s in seekers]
    return CandidateIndex.build(people, dim, IndexSettings(), version="pairing-cycle")


def symmetric(pairs: Iterable[tuple[UUID, UUID]]) -> dict[UUID, set[UUID]]:
    """Exclusions (blocks, past partners) as a lookup that holds both directions."""
    out: dict[UUID, set[UUID]] = {}
    for a, b in pairs:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out


def candidate_edges(
    seekers: Sequence[Seeker],
    index: CandidateIndex,
    rows: Iterable[int],
    excluded: Mapping[UUID, set[UUID]],
    s: PairingSettings,
) -> list[Edge]:
    """The edges found from the seekers at `rows` (one shard of the search)."""
    position = {seeker.user_id: i for i, seeker in enumerate(seekers)}
    edges: dict[tuple[int, int], float] = {}
    for i in rows:
        a = seekers[i]
        found = index.search(
            a.vector, s.top_k, requester=a.person, filters=a.criteria,
            exclude=excluded.get(a.user_id, ()),
        )  # fmt: skip
        for candidate in found:
            j = position[candidate.person.user_id]
            b = seekers[j]
            if not b.criteria.accepts(a.person):  # the pool criteria hold both ways
                continue
            score = edge_score(candidate.similarity, a, b, s)
            if score >= s.min_score:
                edges[(min(i, j), max(i, j))] = score
    return [(i, j, w) for (i, j), w in edges.items()]


def merge(shards: Iterable[Sequence[Edge]]) -> list[Edge]:
    """One edge per pair (both ends may find it), in a stable order."""
    out: dict[tuple[int, int], float] = {}
    for shard in shards:
        for i, j, w in shard:
            out[(i, j)] = w
    return sorted((i, j, w) for (i, j), w in out.items())
