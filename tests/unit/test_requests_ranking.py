"""The request ranking: every hard filter (counted, and relaxed), the five scores, the
explanation. Skill vectors are stand-ins (distinct names orthogonal); the real model's
synonyms are tested in tests/integration/test_requests_api.py."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from matching.core.settings import Settings
from matching.requests import catalogue
from matching.requests.ranking import Query, rank
from matching.requests.schemas import MatchRequest, ProviderUpsert
from matching.requests.skills import normal, same_skill

NOW = datetime(2026, 6, 1, 8, tzinfo=UTC)  # a Monday
WEEKDAYS_9_17 = [
    {"day_of_week": d, "start": "09:00", "end": "17:00", "timezone": "Europe/London"}
    for d in range(5)
]


def vec(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(catalogue.DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def provider(**over: Any) -> ProviderUpsert:
    body: dict[str, Any] = {
        "name": "Ada",
        "title": "Engineer",
        "bio": "Teaches Python.",
        "skills": [{"name": "Python", "level": "expert", "years": 8, "certified": True}],
        "languages": ["English"],
        "session_types": ["one_on_one", "group"],
        "max_participants": 5,
        "hourly_rate": 100,
        "currency": "USD",
        "availability": WEEKDAYS_9_17,
        "rating_average": 4.8,
        "rating_count": 200,
        "sessions_completed": 300,
        "success_rate": 0.9,
    }
    return ProviderUpsert.model_validate({**body, **over})


def request(**over: Any) -> MatchRequest:
    body: dict[str, Any] = {
        "title": "Learn Python",
        "session_type": "one_on_one",
        "skills_required": [{"name": "python", "level": "intermediate", "mandatory": True}],
        "budget": {"max_hourly_rate": 150, "currency": "USD"},
        "availability": {
            "days_of_week": [0, 2],
            "time_slots": [{"start": "10:00", "end": "12:00"}],
            "timezone": "Europe/London",
        },
    }
    return MatchRequest.model_validate({**body, **over})


def build(*bodies: ProviderUpsert) -> catalogue.Catalogue:
    providers = [
        catalogue.Provider(uuid.UUID(int=i + 1), b, vec(catalogue.provider_text(b)), NOW)
        for i, b in enumerate(bodies)
    ]
    names = {n for b in bodies for n in catalogue.skill_names(b)}
    return catalogue.build(providers, {n: vec(n) for n in names})


def run(cat: catalogue.Catalogue, req: MatchRequest, **env: str) -> Any:
    names = [normal(s.name) for s in req.skills_required]
    vectors = np.stack([vec(n) for n in names]) if names else np.zeros((0, catalogue.DIM))
    query = Query(req, names, vectors, vec(req.title), NOW)
    return rank(cat, query, Settings.from_env(env).requests)


def ids(ranked: Any) -> list[int]:
    return [m["provider_id"].int for m in ranked.matches]


def test_a_good_provider_matches_with_every_factor_explained() -> None:
    ranked = run(build(provider()), request())
    assert ids(ranked) == [1]
    match = ranked.matches[0]
    assert set(match["factors"]) == {"skill_match", "experience", "rating", "availability", "price"}
    assert all(0.0 <= v <= 1.0 for v in match["factors"].values())
    assert match["factors"]["availability"] == 1.0
    assert match["matching_skills"] == ["python"] and match["missing_skills"] == []
    assert match["confidence_level"] == "high"
    assert "$100/h within your $150 budget" in match["recommendation_reason"]
    assert ranked.filtered_out == dict.fromkeys(ranked.filtered_out, 0)
    assert ranked.relaxations == []  # nobody is held back by a single filter


@pytest.mark.parametrize(
    ("over", "req_over", "removed_by"),
    [
        ({"active": False}, {}, "inactive"),
        ({"session_types": ["workshop"]}, {}, "session_type"),
        ({"currency": "JPY"}, {}, "currency"),
        ({"hourly_rate": 151}, {}, "budget"),
        ({"max_participants": 1}, {"participants_count": 2}, "capacity"),
        ({"languages": ["German"]}, {"languages": ["english"]}, "languages"),
        ({"availability": []}, {}, "availability"),
        ({"skills": [{"name": "Rust", "level": "expert"}]}, {}, "mandatory_skills"),
    ],
)
def test_each_hard_filter_removes_and_is_counted(
    over: dict[str, Any], req_over: dict[str, Any], removed_by: str
) -> None:
    ranked = run(build(provider(), provider(**over)), request(**req_over))
    assert ids(ranked) == [1]
    assert ranked.filtered_out[removed_by] == 1
    assert sum(ranked.filtered_out.values()) == 1


def test_budget_compares_currencies_through_the_rate_table() -> None:
    # 100 EUR is 108 USD at the default table: inside a 110 USD budget, outside a 105 one.
    cat = build(provider(currency="EUR"))
    assert ids(run(cat, request(budget={"max_hourly_rate": 110, "currency": "USD"}))) == [1]
    tight = run(cat, request(budget={"max_hourly_rate": 105, "currency": "USD"}))
    assert tight.filtered_out["budget"] == 1
    assert tight.relaxations[0]["suggestion"] == "budget up to $108 adds 1 providers"


def test_a_currency_missing_from_the_table_is_its_own_reason() -> None:
    cat = build(provider(currency="CHF"), provider(currency="USD"))
    ranked = run(cat, request())
    assert ids(ranked) == [2] and ranked.filtered_out["currency"] == 1
    same = run(cat, request(budget={"max_hourly_rate": 150, "currency": "CHF"}))
    assert ids(same) == [1] and same.filtered_out["currency"] == 1


def test_relaxation_names_the_single_change_that_adds_the_most() -> None:
    cat = build(
        provider(hourly_rate=160),
        provider(hourly_rate=170),
        provider(hourly_rate=300),
        provider(languages=["French"]),
    )
    ranked = run(cat, request(languages=["English"]))
    assert ids(ranked) == []
    best = ranked.relaxations[0]
    assert best == {
        "filter": "budget",
        "adds": 3,
        "suggestion": "budget up to $300 adds 3 providers",
    }
    assert ranked.relaxations[1]["filter"] == "languages"


def test_a_bayesian_rating_prefers_many_good_reviews_to_one_perfect_one() -> None:
    cat = build(
        provider(rating_average=5.0, rating_count=1),
        provider(rating_average=4.8, rating_count=200),
    )
    ranked = run(cat, request())
    by_id = {m["provider_id"].int: m["factors"]["rating"] for m in ranked.matches}
    assert by_id[2] > by_id[1]
    assert ids(ranked) == [2, 1]


def test_skill_level_and_years_raise_the_score() -> None:
    cat = build(
        provider(skills=[{"name": "Python", "level": "beginner", "years": 1}]),
        provider(skills=[{"name": "Python", "level": "expert", "years": 10}]),
    )
    ranked = run(
        cat, request(skills_required=[{"name": "Python", "level": "advanced"}]), MIN_MATCH_SCORE="0"
    )
    factors = {m["provider_id"].int: m["factors"] for m in ranked.matches}
    assert factors[2]["skill_match"] > factors[1]["skill_match"]
    assert factors[2]["experience"] > factors[1]["experience"]


def test_missing_optional_skills_are_named() -> None:
    req = request(
        skills_required=[
            {"name": "Python", "mandatory": True},
            {"name": "Kubernetes", "weight": 0.5},
        ]
    )
    match = run(build(provider()), req, MIN_MATCH_SCORE="0").matches[0]
    assert match["matching_skills"] == ["Python"] and match["missing_skills"] == ["Kubernetes"]
    assert match["factors"]["skill_match"] == pytest.approx(1.0 / 1.5, abs=1e-3)


def test_price_fit_prefers_the_cheaper_within_budget() -> None:
    cat = build(provider(hourly_rate=140), provider(hourly_rate=50))
    factors = {m["provider_id"].int: m["factors"]["price"] for m in run(cat, request()).matches}
    assert factors[2] > factors[1]


def test_min_match_score_and_the_limit_cut_the_list() -> None:
    cat = build(*(provider(name=f"P{i}") for i in range(5)))
    assert len(run(cat, request(limit=2)).matches) == 2
    assert len(run(cat, request(), MAX_MATCHES_PER_REQUEST="3").matches) == 3
    none = run(cat, request(), MIN_MATCH_SCORE="1")
    assert none.matches == [] and none.filtered_out["below_min_score"] == 5


def test_names_and_acronyms_that_are_the_same_skill() -> None:
    wanted = [normal(x) for x in ("React", "ML", "machine learning")]
    vocab = [normal(x) for x in ("React.js", "Machine Learning", "markup language x", "ml")]
    same = same_skill(
        wanted, np.stack([vec(w) for w in wanted]), vocab, np.stack([vec(v) for v in vocab]), 0.99
    )
    assert same.tolist() == [
        [True, False, False, False],
        [False, True, False, True],
        [False, True, False, True],
    ]


def test_an_empty_catalogue_ranks_nobody() -> None:
    ranked = run(build(), request())
    assert ranked.matches == [] and ranked.total == 0 and ranked.relaxations == []


def test_a_rebuilt_catalogue_keeps_the_windows_of_unchanged_providers() -> None:
    old = build(provider(), provider(availability=[]))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    before = old.week(start).copy()
    changed = catalogue.Provider(uuid.UUID(int=9), provider(), vec("x"), NOW)
    new = catalogue.build([old.providers[1], changed, old.providers[0]], {"python": vec("python")})
    catalogue.carry_weeks(old, new)
    assert new._weeks.keys() == {start}
    assert (new._weeks[start][0] == before[1]).all() and (new._weeks[start][2] == before[0]).all()
    assert (new._weeks[start][1] == before[0]).all()  # the new one was placed, not copied
    assert (
        new.week(start) == catalogue.build(new.providers, {"python": vec("python")}).week(start)
    ).all()
