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

from matching.core.domain.filters import SearchFilters, mutually_acceptable
from matching.core.domain.person import Person
from matching.core.retrieval.candidates import CandidateIndex
from matching.core.settings import IndexSettings, PairingSettings
from matching.core.storage.profiles import IndexedPerson

OVERFETCH = 4
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


def acceptable(a: Seeker, b: Seeker, excluded: Mapping[UUID, set[UUID]]) -> bool:
    """The exact rule of an edge: hard preferences and pool criteria both ways, no block or
    recent pairing between them."""
    return (
        b.user_id not in excluded.get(a.user_id, ())
        and mutually_acceptable(a.person, b.person)
        and a.criteria.accepts(b.person)
        and b.criteria.accepts(a.person)
    )


def candidate_edges(
    seekers: Sequence[Seeker],
    index: CandidateIndex,
    rows: Sequence[int],
    excluded: Mapping[UUID, set[UUID]],
    s: PairingSettings,
) -> list[Edge]:
    """The edges found from the seekers at `rows` (one shard of the search).

    One batched search over-fetches OVERFETCH x top-k nearest per seeker and keeps the
    acceptable ones; a seeker left short of top-k after a full over-fetch (restrictive
    preferences) is searched again exactly under the index's filter mask, so each seeker
    gets the top-k acceptable others either way, and most pay for one batched query only.
    """
    position = {seeker.user_id: i for i, seeker in enumerate(seekers)}
    fetch = s.top_k * OVERFETCH + 1  # + itself
    found, scores = index.index.search_batch(np.stack([seekers[i].vector for i in rows]), fetch)
    edges: dict[tuple[int, int], float] = {}
    for q, i in enumerate(rows):
        a = seekers[i]
        kept = [
            (j, float(w))
            for j, w in zip(found[q].tolist(), scores[q].tolist(), strict=True)
            if 0 <= j != i and acceptable(a, seekers[j], excluded)
        ][: s.top_k]
        if len(kept) < s.top_k and int((found[q] >= 0).sum()) == fetch:
            kept = _exact(a, seekers, index, position, excluded, s)
        for j, similarity in kept:
            score = edge_score(similarity, a, seekers[j], s)
            if score >= s.min_score:
                edges[(min(i, j), max(i, j))] = score
    return [(i, j, w) for (i, j), w in edges.items()]


def _exact(
    a: Seeker,
    seekers: Sequence[Seeker],
    index: CandidateIndex,
    position: Mapping[UUID, int],
    excluded: Mapping[UUID, set[UUID]],
    s: PairingSettings,
) -> list[tuple[int, float]]:
    """Top-k acceptable others under the index's exact filter mask (both-way preferences)."""
    # The mask knows a's criteria and both sides' preferences, not the others' criteria.
    picky = (x for x in seekers if x.criteria.age_min is not None or x.criteria.age_max
             is not None or x.criteria.max_distance_km is not None)  # fmt: skip
    rejecting = {x.user_id for x in picky if not x.criteria.accepts(a.person)}
    found = index.search(
        a.vector, s.top_k, requester=a.person, filters=a.criteria,
        exclude=excluded.get(a.user_id, set()) | rejecting,
    )  # fmt: skip
    out = []
    for candidate in found:
        j = position[candidate.person.user_id]
        if acceptable(a, seekers[j], excluded):
            out.append((j, candidate.similarity))
    return out


def merge(shards: Iterable[Sequence[Edge]]) -> list[Edge]:
    """One edge per pair (both ends may find it), in a stable order."""
    out: dict[tuple[int, int], float] = {}
    for shard in shards:
        for i, j, w in shard:
            out[(i, j)] = w
    return sorted((i, j, w) for (i, j), w in out.items())
