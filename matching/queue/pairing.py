"""Which waiting tickets to pair: the two oldest of the same criteria first, then, among
the tickets left alone, the oldest pairs that relaxed criteria allow. Pure; the claim
script decides whether each pair still stands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from matching.queue.definition import QueueDefinition
from matching.queue.storage.live import Waiting


@dataclass(frozen=True, slots=True)
class Pair:
    """`older` waited longest; `relaxation` names the fields relaxed ({} for none)."""

    older: str
    other: str
    relaxation: dict[str, str] = field(default_factory=dict)


def plan(
    heads: Mapping[str, Sequence[Waiting]],
    now_ms: float,
    definition: QueueDefinition,
    relax_after: Mapping[str, float],
) -> list[Pair]:
    """Pairs to claim, given each criteria key's oldest tickets (an even number at most)."""
    pairs: list[Pair] = []
    alone: list[tuple[str, Waiting]] = []
    for ckey, waiting in heads.items():
        for i in range(0, len(waiting) - 1, 2):
            pairs.append(Pair(waiting[i].ticket_id, waiting[i + 1].ticket_id))
        if len(waiting) % 2:
            alone.append((ckey, waiting[-1]))
    return pairs + _relaxed(alone, now_ms, definition, relax_after)


def _relaxed(
    alone: list[tuple[str, Waiting]],
    now_ms: float,
    definition: QueueDefinition,
    relax_after: Mapping[str, float],
) -> list[Pair]:
    alone.sort(key=lambda item: item[1].score_ms)
    taken: set[int] = set()
    pairs = []
    for i, (ckey, first) in enumerate(alone):
        if i in taken:
            continue
        for j in range(i + 1, len(alone)):
            other_key, other = alone[j]
            # Both must have waited long enough: `other` is the younger of the two.
            waited_s = (now_ms - other.score_ms) / 1000
            relax = definition.relaxation(ckey, other_key, waited_s, relax_after)
            if j not in taken and relax is not None:
                pairs.append(Pair(first.ticket_id, other.ticket_id, relax))
                taken.update((i, j))
                break
    return pairs
