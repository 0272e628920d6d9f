"""Discovery's matches and pairing's pairs name a pair of people by the same rule."""

from __future__ import annotations

import uuid

from matching.core.domain.pairs import ordered_pair, pair_key
from matching.pairing.storage.cycles import make_pair


def test_the_key_is_the_same_whichever_side_comes_first() -> None:
    a, b = uuid.UUID(int=2), uuid.UUID(int=1)
    assert ordered_pair(a, b) == ordered_pair(b, a) == (b, a)
    assert pair_key(a, b) == pair_key(b, a) == f"{b}:{a}"


def test_a_pairing_pair_is_stored_and_keyed_as_a_discovery_match() -> None:
    for _ in range(50):
        a, b = uuid.uuid4(), uuid.uuid4()
        pair = make_pair(a, b, 0.5)
        assert (pair.user1_id, pair.user2_id) == ordered_pair(a, b)
        assert pair.key == pair_key(a, b)
