"""Maximum-weight matching of the candidate graph (blossom, per connected component), and
the greedy matching of the same graph, so each cycle measures what optimal gains.

Fairness: a seeker who waited PAIRING_MAX_WAIT_CYCLES or more ("starving") lifts every edge
they are on by a bonus larger than any matching's whole score, so the optimum first pairs as
many starving seekers as the graph allows, then maximises the score. Scores become integers
(micro-units) because blossom on floats can miss the optimum by rounding.

Scale: blossom's time grows faster than the graph (about 23 s for one 10k-seeker component
on 2 cores, hours at 100k), so a component of more than PAIRING_PART_SEEKERS seekers is
matched by block-coordinate ascent over partitions of the seekers (`Partitions`: regions of
similar vectors, a different k-means per round). It starts from the greedy matching; in
each round every region is matched optimally on its own edges, the pairs that cross
regions kept as they are, then everyone left unpaired is matched optimally over the edges
between them. A round never lowers the objective (the pairs it replaces are one of the
matchings it chose from), so the result is never worse than greedy's, and pairs cut apart
by one round's borders meet in the next. Up to PAIRING_PART_SEEKERS per component the
matching is the exact optimum; above, the cycle reports `split_components`, and the bench
reports how close the rounds come to the exact optimum where that can still be computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import rustworkx as rx

from matching.pairing.graph import Edge

SCALE = 1_000_000
Batch = list[list[Edge]]  # components handed to one worker together
Worker = Callable[[Batch, frozenset[int]], list[Edge]]
Mapper = Callable[[Worker, list[Batch], frozenset[int]], list[list[Edge]]]


@dataclass(frozen=True, slots=True)
class Pairing:
    """The chosen pairs and both totals (scores, without the fairness bonus)."""

    pairs: list[Edge]
    optimal_total: float
    greedy_total: float
    optimal_objective: int  # with the bonus: what blossom maximised
    greedy_objective: int
    split_components: int = 0  # components matched by rounds over regions


def objective(edges: Sequence[Edge], starving: frozenset[int]) -> dict[tuple[int, int], int]:
    """Integer weights, each starving end adding a bonus above any matching's total."""
    base = {(i, j): round(w * SCALE) for i, j, w in edges}
    bonus = sum(max(v, 0) for v in base.values()) + 1
    return {e: v + bonus * ((e[0] in starving) + (e[1] in starving)) for e, v in base.items()}


def blossom(edges: Sequence[Edge], starving: frozenset[int]) -> list[Edge]:
    """The maximum-objective matching of one component (rustworkx's blossom, compiled: about
    90x networkx's on a 1k-node graph, with the same optimum)."""
    weights = objective(edges, starving)
    nodes = sorted({v for i, j, _ in edges for v in (i, j)})
    local = {v: k for k, v in enumerate(nodes)}
    graph = rx.PyGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from([(local[i], local[j], w) for (i, j), w in weights.items()])
    score = {(i, j): w for i, j, w in edges}
    chosen = rx.max_weight_matching(graph, max_cardinality=False, weight_fn=int)
    out = []
    for u, v in chosen:
        a, b = sorted((nodes[u], nodes[v]))
        out.append((a, b, score[(a, b)]))
    return sorted(out)


def greedy(edges: Sequence[Edge], starving: frozenset[int]) -> list[Edge]:
    """Best edge first (by the same objective) while both ends are free."""
    weights = objective(edges, starving)
    taken: set[int] = set()
    out: list[Edge] = []
    for i, j, w in sorted(edges, key=lambda e: (-weights[(e[0], e[1])], e[0], e[1])):
        if i not in taken and j not in taken:
            taken.update((i, j))
            out.append((i, j, w))
    return out


def components(edges: Iterable[Edge]) -> list[list[Edge]]:
    """The edges of each connected component, largest first."""
    graph = nx.Graph()
    graph.add_weighted_edges_from(edges)
    out = []
    for nodes in nx.connected_components(graph):
        sub = graph.subgraph(nodes)
        out.append([(min(u, v), max(u, v), float(d["weight"])) for u, v, d in sub.edges(data=True)])
    out.sort(key=len, reverse=True)
    return out


def batches(parts: list[list[Edge]], target_edges: int) -> list[Batch]:
    """Group components so each worker gets about `target_edges` edges (few tiny tasks)."""
    out: list[Batch] = []
    current: Batch = []
    size = 0
    for part in parts:
        current.append(part)
        size += len(part)
        if size >= target_edges:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def match_batch(batch: Batch, starving: frozenset[int]) -> list[Edge]:
    """Blossom on every component of `batch` (a worker's unit)."""
    return [pair for part in batch for pair in blossom(part, starving)]


def local_map(fn: Worker, items: list[Batch], starving: frozenset[int]) -> list[list[Edge]]:
    """The mapper of a cycle without Ray: one batch after another, here."""
    return [fn(item, starving) for item in items]


Partitions = Sequence[Sequence[int]]  # per round, each seeker's region


def _ascend(
    edges: Sequence[Edge],
    starving: frozenset[int],
    mapper: Mapper,
    target_edges: int,
    partitions: Partitions,
) -> list[Edge]:
    """A large component's matching, round by round over `partitions` (see the module)."""
    # from the greedy matching: every round keeps or raises the objective, so the result is
    # never worse than greedy's
    chosen = {v: e for e in greedy(edges, starving) for v in e[:2]}  # node -> its pair
    for region in partitions:
        fixed = {v for v, (i, j, _) in chosen.items() if region[i] != region[j]}
        pieces: dict[int, list[Edge]] = {}
        for edge in edges:
            i, j, _ = edge
            if region[i] == region[j] and i not in fixed and j not in fixed:
                pieces.setdefault(region[i], []).append(edge)
        kept = {v: e for v, e in chosen.items() if v in fixed}
        found = mapper(match_batch, batches(list(pieces.values()), target_edges), starving)
        chosen = {**kept, **{v: e for out in found for e in out for v in e[:2]}}
        rest = [e for e in edges if e[0] not in chosen and e[1] not in chosen]
        again = mapper(match_batch, batches(components(rest), target_edges), starving)
        chosen.update({v: e for out in again for e in out for v in e[:2]})
    return sorted(set(chosen.values()))


def pair(
    edges: Sequence[Edge],
    starving: frozenset[int],
    mapper: Mapper = local_map,
    target_edges: int = 50_000,
    part_nodes: int = 4_000,
    partitions: Partitions = (),
) -> Pairing:
    """Optimal pairs per component (mapped by `mapper`: local, or Ray tasks) and greedy;
    a component above `part_nodes` seekers by rounds over `partitions` (one round per
    partition; none given: the component is matched whole)."""
    parts: list[list[Edge]] = []
    chosen: list[Edge] = []
    split_components = 0
    for component in components(edges):
        nodes = {v for i, j, _ in component for v in (i, j)}
        if len(nodes) <= part_nodes or not partitions:
            parts.append(component)
            continue
        split_components += 1
        chosen += _ascend(component, starving, mapper, target_edges, partitions)
    whole = mapper(match_batch, batches(parts, target_edges), starving)
    chosen += [p for out in whole for p in out]
    chosen.sort()
    baseline = greedy(edges, starving)
    weights = objective(edges, starving)
    return Pairing(
        pairs=chosen,
        optimal_total=sum(w for _, _, w in chosen),
        greedy_total=sum(w for _, _, w in baseline),
        optimal_objective=sum(weights[(i, j)] for i, j, _ in chosen),
        greedy_objective=sum(weights[(i, j)] for i, j, _ in baseline),
        split_components=split_components,
    )
