"""The one rule for naming a pair of people, whichever mode made it.

A pair is unordered; storage keeps it as (user1, user2) with user1 < user2 (PostgreSQL's
uuid order, which is the order of the 16 bytes, the same as Python's UUID order), and its
key, `user1:user2`, is the Kafka message key and the advisory-lock name for that pair.
"""

from __future__ import annotations

from uuid import UUID


def ordered_pair(a: UUID, b: UUID) -> tuple[UUID, UUID]:
    """(user1, user2) as the pair tables store them: user1 < user2."""
    return (a, b) if a < b else (b, a)


def pair_key(a: UUID, b: UUID) -> str:
    """The ordered pair as text: the Kafka message key and the advisory-lock name."""
    u1, u2 = ordered_pair(a, b)
    return f"{u1}:{u2}"
