"""Which tickets the matcher tries to pair (the claim script decides if they still stand)."""

from __future__ import annotations

from matching.core.settings import Settings
from matching.queue.definition import QueueDefinition
from matching.queue.pairing import Pair, plan
from matching.queue.storage.live import Waiting

D = QueueDefinition.from_settings(Settings.from_env({}).queue)
AFTER = D.relax_after(10.0)  # difficulty after 10 s, topic after 20 s


def _w(name: str, at_s: float) -> Waiting:
    return Waiting(name, at_s * 1000)


def test_the_two_oldest_of_the_same_criteria_pair_first() -> None:
    heads = {"easy|sql": [_w("a", 1), _w("b", 2), _w("c", 3)], "hard|sql": [_w("d", 1)]}
    assert plan(heads, 2_000, D, AFTER) == [Pair("a", "b")]


def test_alone_tickets_pair_once_both_waited_long_enough() -> None:
    heads = {"easy|sql": [_w("a", 0)], "medium|sql": [_w("b", 5)], "hard|sql": [_w("c", 1)]}
    assert plan(heads, 14_000, D, AFTER) == []  # b has waited 9 s
    # a (oldest) takes the oldest compatible: c is not adjacent to easy, b is
    assert plan(heads, 15_000, D, AFTER) == [Pair("a", "b", {"difficulty": "adjacent"})]


def test_relaxed_pairs_never_reuse_a_ticket() -> None:
    heads = {
        "easy|sql": [_w("a", 0)],
        "medium|sql": [_w("b", 0)],
        "medium|trees": [_w("c", 0)],
        "hard|trees": [_w("d", 0)],
    }
    pairs = plan(heads, 100_000, D, AFTER)
    used = [t for p in pairs for t in (p.older, p.other)]
    assert len(used) == len(set(used)) == 4
