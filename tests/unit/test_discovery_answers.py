"""Discover and search answers built without the models are the models' bytes."""

from __future__ import annotations

import json
from dataclasses import asdict
from uuid import UUID

import pytest
from factories import make_person

from deployments.reranker import PromptQuery, RankedMatch, Reranker, with_probabilities
from matching.core.domain.person import Person
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from matching.discovery.schemas import (
    DiscoverResponse,
    SearchInterpretation,
    SearchResponse,
    answer_json,
)


def _matches(population: list[Person]) -> list[RankedMatch]:
    """Weighted, learned, boosted by shared events, without a location, and from a search."""
    reranker = Reranker(Settings.from_env({}))
    a = population[0]
    candidates = [
        Candidate(p, 0.1 + 0.8 * (i % 7) / 7, 0.5) for i, p in enumerate(population[1:60])
    ]
    events = {str(population[3].user_id): ["PyCon"], str(population[9].user_id): ["A", "B", "C"]}
    ranked = reranker.rank(a, candidates, 30, events)
    with_probabilities(ranked[1], 0.7, 0.123456, "gbm-v1")
    nowhere = make_person(latitude=None, longitude=None, headline=None)
    ranked += reranker.rank(make_person(), [Candidate(nowhere, 0.3, 0.3)], 1)
    ranked += reranker.rank_for_prompt(
        PromptQuery("hiking people in software", 52.5, 13.4, 50.0), None, candidates, 10
    )
    ranked += reranker.rank_for_prompt(PromptQuery("jazz"), a, candidates, 10)
    return ranked


def test_discover_answer_is_the_models_bytes(population: list[Person]) -> None:
    ranked = _matches(population)
    assert {m.mutual is None for m in ranked} == {True, False}
    assert any(m.reasons["shared_events"] for m in ranked)
    assert any(m.reasons["distance_km"] is None for m in ranked)
    user_id = population[0].user_id
    dicts = [m.as_dict() for m in ranked]
    assert dicts == [asdict(m) for m in ranked]
    model = DiscoverResponse.model_validate(
        {"user_id": user_id, "algorithm_version": "v", "count": len(dicts), "candidates": dicts}
    )
    got = answer_json({"user_id": str(user_id), "algorithm_version": "v"}, dicts)
    assert got == model.model_dump_json().encode()


def test_a_cached_answer_is_the_models_bytes(population: list[Person]) -> None:
    """As read back from the cache (JSON), and as cached before distances were whole km."""
    cached = json.loads(json.dumps([m.as_dict() for m in _matches(population)]))
    cached[0]["reasons"]["distance_km"] = 12.7
    del cached[1]["reasons"]["shared_events"]
    head = {"user_id": str(UUID(int=5)), "algorithm_version": "v"}
    model = DiscoverResponse.model_validate({**head, "count": len(cached), "candidates": cached})
    assert model.candidates[0].reasons.distance_km == 12
    assert answer_json(head, cached) == model.model_dump_json().encode()


@pytest.mark.parametrize("origin", [None, {"latitude": 52.5, "longitude": 1e-05}])
def test_search_answer_is_the_models_bytes(
    population: list[Person], origin: dict[str, float] | None
) -> None:
    dicts = [m.as_dict() for m in _matches(population)]
    interpreted = SearchInterpretation(near_me=True, radius_km=25, origin=origin, note="n")
    head = {"prompt": "p", "algorithm_version": "v", "interpreted": interpreted.model_dump()}
    model = SearchResponse.model_validate({**head, "count": len(dicts), "candidates": dicts})
    assert answer_json(head, dicts) == model.model_dump_json().encode()
