"""Which rows of a partly failed batch the relay marks as published."""

from __future__ import annotations

from matching.core.events.relay import _markable


def rows(*keys: str) -> list[dict[str, object]]:
    return [{"id": i + 1, "message_key": key} for i, key in enumerate(keys)]


def test_everything_acknowledged_is_marked() -> None:
    assert _markable(rows("a", "b", "a"), [True, True, True]) == [1, 2, 3]  # type: ignore[arg-type]


def test_other_keys_are_not_sent_twice_after_a_failure() -> None:
    batch = rows("a", "b", "a", "c", "b")
    # row 1 (key a) failed; rows of b and c were acknowledged
    assert _markable(batch, [False, True, True, True, True]) == [2, 4, 5]  # type: ignore[arg-type]


def test_a_key_stays_in_order_behind_its_failed_row() -> None:
    batch = rows("a", "a", "b", "a")
    # row 2 failed: row 4 (same key, acknowledged) must go again after it
    assert _markable(batch, [True, False, True, True]) == [1, 3]  # type: ignore[arg-type]


def test_nothing_is_marked_when_nothing_was_acknowledged() -> None:
    assert _markable(rows("a", "b"), [False, False]) == []  # type: ignore[arg-type]
