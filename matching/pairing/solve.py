"""Maximum-weight matching of the candidate graph (blossom, per connected component), and
the greedy matching of the same graph, so each cycle measures what optimal gains.

Fairness: a seeker who waited PAIRING_MAX_WAIT_CYCLES or more ("starving") lifts every edge
they are on by a bonus larger than any matching's whole score, so the optimum first pairs as
many starving seekers as the graph allows, then maximises the score. Scores become integers
(micro-units) because blossom on floats can miss the optimum by rounding.
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


def pair(
    edges: Sequence[Edge],
    starving: frozenset[int],
    mapper: Mapper = local_map,
    target_edges: int = 50_000,
) -> Pairing:
    """Optimal pairs per component (mapped by `mapper`: local, or Ray tasks) and greedy."""
    parts = batches(components(edges), target_edges)
    chosen = sorted(p for out in mapper(match_batch, parts, starving) for p in out)
    baseline = greedy(edges, starving)
    weights = objective(edges, starving)
    return Pairing(
        pairs=chosen,
        optimal_total=sum(w for _, _, w in chosen),
        greedy_total=sum(w for _, _, w in baseline),
        optimal_objective=sum(weights[(i, j)] for i, j, _ in chosen),
        greedy_objective=sum(weights[(i, j)] for i, j, _ in baseline),
    )
