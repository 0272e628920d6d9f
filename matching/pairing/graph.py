"""The candidate graph of one cycle: each seeker's top-k acceptable others, weighted.

An edge joins two seekers who pass each other's hard preferences and pool criteria, are not
blocked either way and were not paired within the past-partner window. Its score is their
cosine plus both wait boosts minus the penalties; edges under PAIRING_MIN_SCORE are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import faiss
import numpy as np

from matching.core.domain.filters import SearchFilters, mutually_acceptable
from matching.core.domain.person import Person
from matching.core.retrieval.candidates import CandidateIndex
from matching.core.settings import IndexSettings, PairingSettings
from matching.core.storage.profiles import IndexedPerson
from matching.pairing.rule import PairRule

# Fetched per seeker in each round of the batched search, as multiples of top-k; those still
# short of top-k acceptable others after the last are searched exactly.
ROUNDS = (4, 16, 64)
BATCH = 1024  # queries per batched search (bounds the (queries x fetch) result arrays)
EXACT_BLOCK = 256  # seekers per exact search's rule over the pool ((block x pool) arrays)
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
    """An exact index of the cycle's seekers, row i = seeker i, at every size: a cycle's
    graph is each seeker's true top-k, and it is the same graph however the search is
    sharded (an HNSW graph built per Ray actor is not: at 100k the actors' edges differed
    from one process's), for about the time an HNSW build takes (100k x 64 dims: a batched
    exact search ~50 s on one core against ~63 s to build the HNSW graph alone)."""
    dim = int(seekers[0].vector.shape[0]) if seekers else 1
    people = [IndexedPerson(s.person, s.vector) for s in seekers]
    exact = IndexSettings().model_copy(update={"exact_max": max(1, len(people))})
    return CandidateIndex.build(people, dim, exact, version="pairing-cycle")


def regions(seekers: Sequence[Seeker], size: int, rounds: int) -> list[list[int]]:
    """`rounds` partitions of the seekers into regions of similar vectors, about `size / 2`
    seekers each (k-means, a different seed per round): what the matching of a component
    too large for one blossom goes over (solve.pair)."""
    if len(seekers) <= size:
        return []
    vectors = np.ascontiguousarray(np.stack([s.vector for s in seekers]), dtype=np.float32)
    k = -(-2 * len(seekers) // size)
    out = []
    for seed in range(rounds):
        kmeans = faiss.Kmeans(vectors.shape[1], k, niter=10, seed=1 + seed)
        kmeans.train(vectors)
        _, labels = kmeans.index.search(vectors, 1)
        out.append(labels[:, 0].tolist())
    return out


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
    rule: PairRule | None = None,
) -> list[Edge]:
    """The edges found from the seekers at `rows` (one shard of the search).

    Batched searches over-fetch a growing multiple of top-k nearest (ROUNDS) for the
    seekers still short of top-k acceptable others; the pair rule (`rule.PairRule`, the
    array form of `acceptable`) checks a whole batch's fetched rows at once, and each seeker
    keeps its first top-k acceptable ones in similarity order. Those still short after the
    last round (very restrictive preferences, or few who accept them) are searched exactly:
    most of the rule over the whole pool for a block of them at once, then masked searches.
    So each seeker gets the top-k acceptable others either way. `rule` is built here unless
    the caller holds one for these seekers and exclusions (a Ray actor's shards).
    """
    if not seekers:
        return []
    rule = rule if rule is not None else PairRule(seekers, excluded)
    vectors = np.stack([seeker.vector for seeker in seekers])
    kept: dict[int, list[tuple[int, float]]] = {}
    pending = list(rows)
    for multiple in ROUNDS:
        if not pending:
            break
        fetch = s.top_k * multiple + 1  # + itself
        short = []
        for start in range(0, len(pending), BATCH):
            chunk = pending[start : start + BATCH]
            found, scores = index.index.search_batch(vectors[chunk], fetch)
            short += _acceptable_nearest(chunk, found, scores, index, rule, s, kept)
        pending = short
    for start in range(0, len(pending), EXACT_BLOCK):
        _exact(pending[start : start + EXACT_BLOCK], vectors, index, rule, s, kept)
    edges: dict[tuple[int, int], float] = {}
    for i in rows:
        a = seekers[i]
        for j, similarity in kept[i]:
            score = edge_score(similarity, a, seekers[j], s)
            if score >= s.min_score:
                edges[(min(i, j), max(i, j))] = score
    return [(i, j, w) for (i, j), w in edges.items()]


def _acceptable_nearest(
    chunk: list[int],
    found: np.ndarray,
    scores: np.ndarray,
    index: CandidateIndex,
    rule: PairRule,
    s: PairingSettings,
    kept: dict[int, list[tuple[int, float]]],
) -> list[int]:
    """Each seeker's top-k acceptable others among its fetched rows (best first) into
    `kept` where that is final: k of them were found, or the fetch reached every row there
    is. Returns the seekers still short."""
    me = np.asarray(chunk, dtype=np.int64)[:, None]
    valid = found >= 0
    passing = valid & (found != me) & rule.ok(me, np.where(valid, found, me))
    rank = np.cumsum(passing, axis=1)
    count = rank[:, -1] if rank.shape[1] else np.zeros(len(chunk), dtype=np.int64)
    # saw every row: the fetch came back short, or asked for the whole index
    exhausted = ~valid.all(axis=1) | (found.shape[1] >= index.index.ntotal)
    take = passing & (rank <= s.top_k)
    short = []
    for q, i in enumerate(chunk):
        if count[q] >= s.top_k or exhausted[q]:
            cols = np.flatnonzero(take[q])
            kept[i] = list(zip(found[q, cols].tolist(), scores[q, cols].tolist(), strict=True))
        else:
            short.append(i)
    return short


def _exact(
    block: list[int],
    vectors: np.ndarray,
    index: CandidateIndex,
    rule: PairRule,
    s: PairingSettings,
    kept: dict[int, list[tuple[int, float]]],
) -> None:
    """Top-k acceptable others of each seeker in `block`, exactly: most of the rule
    (`PairRule.most`) over the whole pool for the block at once, then per seeker the best
    rows under that mask, each checked by the rest of the rule (radii, named terms) and
    struck from the mask, fetching more until k are kept or nobody is left. Rows are taken
    best-first under a shrinking mask, so the kept ones are exactly the best acceptable."""
    everyone = np.arange(index.index.ntotal, dtype=np.int64)[None, :]
    masks = rule.most(np.asarray(block, dtype=np.int64)[:, None], everyone)
    for q, i in enumerate(block):
        mask = masks[q]
        mask[rule.excluded_for(i)] = False
        out: list[tuple[int, float]] = []
        fetch = s.top_k * 2
        while len(out) < s.top_k:
            rows, sims = index.index.search(vectors[i], fetch, mask)
            good = rule.rest(np.full(len(rows), i, dtype=np.int64), rows)
            out += zip(rows[good].tolist(), sims[good].tolist(), strict=True)
            mask[rows] = False
            if len(rows) < fetch:
                break
            fetch *= 4
        kept[i] = out[: s.top_k]


def merge(shards: Iterable[Sequence[Edge]]) -> list[Edge]:
    """One edge per pair (both ends may find it), in a stable order."""
    out: dict[tuple[int, int], float] = {}
    for shard in shards:
        for i, j, w in shard:
            out[(i, j)] = w
    return sorted((i, j, w) for (i, j), w in out.items())
