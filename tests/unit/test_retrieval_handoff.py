"""Candidates between stages: packed as columns, unpacked equal."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

from factories import make_person, make_prefs

from deployments.retriever import Retrieval
from matching.core.domain.person import Person
from matching.core.retrieval.candidates import Candidate
from matching.core.retrieval.handoff import CandidateList, pack


def _candidates(people: list[Person]) -> CandidateList:
    return CandidateList(Candidate(p, 0.9 - i / 1000, i / 7) for i, p in enumerate(people))


def _round_trip(candidates: CandidateList) -> list[Candidate]:
    back = pickle.loads(pickle.dumps(candidates, protocol=5))
    assert type(back) is CandidateList
    return list(back)


def test_a_population_comes_back_equal(population: list[Person]) -> None:
    candidates = _candidates(population)
    assert _round_trip(candidates) == list(candidates)
    assert "candidates" not in pack(candidates)  # columns, not objects


def test_edge_values_come_back_equal() -> None:
    """Nothing set, only a preference set, odd zones and times, and prefs with everything."""
    bare = make_person(
        headline=None,
        industry=None,
        company=None,
        job_level=None,
        company_size=None,
        interests=[],
        networking_goals=[],
        languages=[],
        latitude=None,
        longitude=None,
        age=None,
        last_active_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    full = make_person(
        interests=["a", "", "b c"],  # an empty item beside others splits back
        last_active_at=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        prefs=make_prefs(
            age_min=20,
            age_max=40,
            distance_km=12.5,
            industries=["software"],
            job_levels=["senior", "lead"],
            company_sizes=["1-10"],
            interests=["x"],
            networking_goals=["hiring"],
            languages=["german"],
            exclude_colleagues=True,
            exclude_competitors=True,
            weights={"profile_similarity": 0.7},
        ),
    )
    candidates = _candidates([bare, full, make_person()])
    assert _round_trip(candidates) == list(candidates)
    assert _round_trip(CandidateList()) == []


def test_another_zone_is_kept() -> None:
    zone = timezone(timedelta(hours=2))
    person = make_person(last_active_at=datetime(2026, 5, 1, 12, tzinfo=zone))
    (back,) = _round_trip(_candidates([person]))
    assert back == Candidate(person, 0.9, 0.0)
    assert back.person.last_active_at.utcoffset() == timedelta(hours=2)


def test_text_with_a_separator_travels_as_objects() -> None:
    """A set item holding a separator, or a set of only the empty string, cannot be joined:
    that batch is sent as objects and still comes back equal."""
    odd = [
        make_person(interests=["jazz\x1fblues"]),
        make_person(languages=["\x1e"]),
        make_person(prefs=make_prefs(interests=[""])),
    ]
    for person in odd:
        candidates = _candidates([make_person(), person])
        assert "candidates" in pack(candidates)
        assert _round_trip(candidates) == list(candidates)


def test_a_retrieval_packs_its_candidates(population: list[Person]) -> None:
    retrieval = Retrieval(population[0], _candidates(population[1:50]))
    back = pickle.loads(pickle.dumps(retrieval, protocol=5))
    assert back == retrieval
    assert type(back.candidates) is CandidateList


def test_a_packed_list_is_sent_on_unopened(population: list[Person]) -> None:
    """What the pipeline's ingress does: receive candidates and send them to the reranker."""
    candidates = _candidates(population[:30])
    received = pickle.loads(pickle.dumps(candidates, protocol=5))
    sent_on = pickle.loads(pickle.dumps(received, protocol=5))
    assert received._items is None  # never built where they only passed through
    assert sent_on == candidates
    assert received == candidates and received._items is not None
