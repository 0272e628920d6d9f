"""Reranker: two-sided ranking by the harmonic mean of both fits, prompt search, weights."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
from factories import NOW, make_person, make_prefs
from reranker_reference import ScalarReranker
from sklearn.ensemble import HistGradientBoostingClassifier

import deployments.reranker as reranker_module
from deployments.reranker import (
    PROMPT_WEIGHT,
    WEIGHTED_VERSION,
    PromptQuery,
    RankedMatch,
    Reranker,
    shown_distance,
)
from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS
from matching.core.domain.scoring import harmonic_mean
from matching.core.ml import artifacts, collab
from matching.core.ml.model import CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, StatsTable, pair_matrix
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from matching.discovery.schemas import Reasons


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenDatetime:
        value = NOW if tz is None else NOW.astimezone(tz)
        return cls.fromtimestamp(value.timestamp(), tz=value.tzinfo)


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reranker reads the clock for activity; pin it to the factories' NOW."""
    monkeypatch.setattr(reranker_module, "datetime", _FrozenDatetime)


@pytest.fixture
def reranker() -> Reranker:
    return Reranker(Settings.from_env({}))


def _requester() -> Person:
    return make_person(name="A", interests=["hiking", "climbing"], industry="software")


def _b(**overrides: Any) -> Person:
    """Fits A and wants what A is."""
    fields: dict[str, Any] = {
        "name": "B",
        "company": "hooli",
        "interests": ["hiking", "climbing"],
        "industry": "software",
        "prefs": make_prefs(interests=["hiking"], industries=["software"]),
    }
    fields.update(overrides)
    return make_person(**fields)


def _by_name(matches: list[RankedMatch]) -> dict[str, RankedMatch]:
    return {m.name: m for m in matches}


# -- discovery: two-sided ----------------------------------------------------------------------


def test_default_weights_and_info(reranker: Reranker) -> None:
    assert reranker.version == WEIGHTED_VERSION
    info = reranker.info()
    assert info["kind"] == "weighted"
    assert info["weights"] == Settings.from_env({}).matching.weights
    assert Reranker().info() == info  # settings from the (clean) process environment
    reranker.check_health()


@pytest.mark.parametrize(
    ("c_prefs", "their_fit"),
    [
        # C wants other interests (soft): 2 of 5 wanted interests shared
        (make_prefs(interests=["golf", "sailing", "chess"], industries=["software"]), 0.79),
        # ... and another industry
        (make_prefs(interests=["golf", "sailing", "chess"], industries=["media"]), 0.64),
        # ... with most of C's weight on interests
        (
            make_prefs(interests=["golf", "sailing", "chess"], weights={"interest_overlap": 1.0}),
            0.6229,
        ),
    ],
)
def test_a_match_the_other_side_would_not_want_ranks_lower(
    reranker: Reranker, c_prefs: Any, their_fit: float
) -> None:
    a, b = _requester(), _b()
    c = _b(name="C", prefs=c_prefs)  # identical to B from A's side
    ranked = reranker.rank(a, [Candidate(c, 0.8), Candidate(b, 0.8)], limit=10)
    assert [m.name for m in ranked] == ["B", "C"]
    mb, mc = ranked
    # A's side: 0.3*0.8 + 0.25*1 + 0.2*1 + 0.15*1 + 0.1*1
    assert mb.mutual == {"your_fit": 0.94, "their_fit": 0.94}
    assert mc.mutual == {"your_fit": 0.94, "their_fit": their_fit}
    assert mb.score_breakdown == mc.score_breakdown
    assert mb.compatibility_score == 0.94
    assert mc.compatibility_score == round(harmonic_mean(0.94, their_fit), 4)
    assert mc.compatibility_score < mb.compatibility_score


def test_compatibility_is_the_harmonic_mean_of_both_fits(
    reranker: Reranker, population: list[Person]
) -> None:
    requester = population[0]
    candidates = [Candidate(p, (i % 17) / 16) for i, p in enumerate(population[1:201])]
    ranked = reranker.rank(requester, candidates, limit=500)
    assert len(ranked) == 200
    fits_differ = 0
    for m in ranked:
        assert m.mutual is not None
        your, their = m.mutual["your_fit"], m.mutual["their_fit"]
        assert 0.0 <= your <= 1.0 and 0.0 <= their <= 1.0
        assert m.compatibility_score == pytest.approx(harmonic_mean(your, their), abs=1.5e-4)
        assert m.compatibility_score <= max(your, their) + 1e-4
        assert m.compatibility_score == round(m.compatibility_score, 4)
        assert set(m.score_breakdown) == set(FACTORS)
        assert m.algorithm_version == WEIGHTED_VERSION
        assert m.prompt_similarity is None
        fits_differ += abs(your - their) > 0.05
    assert fits_differ > 50
    scores = [m.compatibility_score for m in ranked]
    assert scores == sorted(scores, reverse=True)


def test_exact_breakdown_and_reasons(reranker: Reranker) -> None:
    a, b = _requester(), _b()
    [m] = reranker.rank(a, [Candidate(b, 0.8)], limit=5)
    assert m.user_id == str(b.user_id)
    assert m.headline == b.headline
    assert m.score_breakdown == {
        "profile_similarity": 0.8,
        "interest_overlap": 1.0,
        "location_proximity": 1.0,
        "industry_alignment": 1.0,
        "activity_compatibility": 1.0,
    }
    assert m.reasons == {
        "shared_interests": ["climbing", "hiking"],
        "distance_km": 0,
        "distance_text": "< 1 km",
        "industry_match": True,
        "primary_factors": ["interest_overlap", "profile_similarity"],
        "shared_events": [],
        "summary": "shares 2 interests: climbing, hiking; < 1 km away; also in software",
    }


def test_reasons_without_anything_in_common(reranker: Reranker) -> None:
    a = make_person(interests=["chess"], industry="software", prefs=make_prefs(interests=["go"]))
    b = make_person(
        interests=["golf"],
        industry="media",
        latitude=None,
        longitude=None,
        last_active_at=NOW - timedelta(days=365),
    )
    [m] = reranker.rank(a, [Candidate(b, 0.0)], limit=1)
    assert m.reasons["shared_interests"] == []
    assert m.reasons["distance_km"] is None
    assert m.reasons["distance_text"] is None
    assert m.reasons["industry_match"] is False
    assert m.reasons["summary"] == "similar profile"
    assert m.compatibility_score == 0.0  # nothing of A's fits b: harmonic mean 0


def test_one_shared_interest_is_singular(reranker: Reranker) -> None:
    [m] = reranker.rank(_requester(), [Candidate(_b(interests=["hiking"]), 0.5)], 1)
    assert m.reasons["summary"].startswith("shares 1 interest: hiking;")


def test_limit_and_tie_break_by_user_id(reranker: Reranker) -> None:
    a = _requester()
    twins = [_b(name=f"T{i}") for i in range(5)]
    ranked = reranker.rank(a, [Candidate(t, 0.5) for t in reversed(twins)], limit=3)
    assert [m.user_id for m in ranked] == sorted(str(t.user_id) for t in twins)[:3]
    assert reranker.rank(a, [], limit=3) == []
    assert reranker.rank(a, [Candidate(twins[0], 0.5)], limit=0) == []


def test_similarity_threshold_drops_weak_matches() -> None:
    strict = Reranker(Settings.from_env({"SIMILARITY_THRESHOLD": "0.8"}))
    a, b = _requester(), _b()
    c = _b(name="C", prefs=make_prefs(interests=["golf", "sailing", "chess"], industries=["media"]))
    ranked = strict.rank(a, [Candidate(b, 0.8), Candidate(c, 0.8)], limit=10)
    assert [m.name for m in ranked] == ["B"]  # C's 0.7615 is below 0.8
    at_threshold = Reranker(Settings.from_env({"SIMILARITY_THRESHOLD": "0.94"}))
    assert [m.name for m in at_threshold.rank(a, [Candidate(b, 0.8)], 1)] == ["B"]


# -- weights -----------------------------------------------------------------------------------


def test_reconfigure_swaps_the_default_weights(reranker: Reranker) -> None:
    reranker.reconfigure({"weights": {"interest_overlap": 1.0}})
    assert reranker.version == f"{WEIGHTED_VERSION}-custom"
    assert reranker.info()["weights"] == {
        f: 1.0 if f == "interest_overlap" else 0.0 for f in FACTORS
    }
    a, b = _requester(), _b()
    c = _b(name="C", prefs=make_prefs(interests=["golf", "sailing", "chess"]))
    ranked = _by_name(reranker.rank(a, [Candidate(b, 0.1), Candidate(c, 0.9)], 5))
    assert ranked["B"].mutual == {"your_fit": 1.0, "their_fit": 1.0}
    assert ranked["C"].mutual == {"your_fit": 1.0, "their_fit": 0.4}
    assert ranked["C"].compatibility_score == round(harmonic_mean(1.0, 0.4), 4)
    assert ranked["B"].algorithm_version == f"{WEIGHTED_VERSION}-custom"
    reranker.check_health()  # a custom version is not held to summing to 1


def test_reconfigure_with_an_explicit_version(reranker: Reranker) -> None:
    reranker.reconfigure({"weights": dict.fromkeys(FACTORS, 0.2), "version": "w-2"})
    assert reranker.version == "w-2"
    assert sum(reranker.info()["weights"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("config", [{}, {"weights": {}}, {"weights": None}, {"version": "x"}])
def test_reconfigure_without_weights_changes_nothing(
    reranker: Reranker, config: dict[str, Any]
) -> None:
    before = reranker.info()
    reranker.reconfigure(config)
    assert reranker.info() == before


def test_reconfigure_rejects_unknown_factors(reranker: Reranker) -> None:
    before = reranker.info()
    with pytest.raises(ValueError, match=r"unknown factors in weights: \['luck', 'zeal'\]"):
        reranker.reconfigure({"weights": {"profile_similarity": 0.5, "zeal": 0.2, "luck": 0.3}})
    assert reranker.info() == before


def test_check_health_rejects_base_weights_that_do_not_sum_to_one(reranker: Reranker) -> None:
    reranker.reconfigure({"weights": {"profile_similarity": 0.5}, "version": WEIGHTED_VERSION})
    with pytest.raises(RuntimeError, match="reranker weights do not sum to 1"):
        reranker.check_health()


# -- prompt search -----------------------------------------------------------------------------


BERLIN_QUERY = PromptQuery(
    text="hiking fans in software near me", latitude=52.52, longitude=13.405, radius_km=50.0
)


def test_prompt_without_requester_scores_fit_to_the_prompt(reranker: Reranker) -> None:
    fits = make_person(name="fits", interests=["hiking", "chess"], industry="software")
    far = make_person(
        name="far", interests=["golf"], industry="media", latitude=None, longitude=None
    )
    ranked = reranker.rank_for_prompt(
        BERLIN_QUERY, None, [Candidate(far, 0.9), Candidate(fits, 0.7)], limit=5
    )
    assert [m.name for m in ranked] == ["fits", "far"]
    m_fits, m_far = ranked
    assert m_fits.mutual is None
    assert m_fits.score_breakdown == {
        "profile_similarity": 0.7,
        "interest_overlap": 0.5,  # 1 of min(3, 2) interests named
        "location_proximity": 1.0,
        "industry_alignment": 1.0,
        "activity_compatibility": 1.0,
    }
    assert m_fits.compatibility_score == pytest.approx(0.785)
    assert m_fits.prompt_similarity == 0.7
    assert m_fits.sort_key == pytest.approx(PROMPT_WEIGHT * 0.7 + (1 - PROMPT_WEIGHT) * 0.785)
    assert m_fits.reasons["shared_interests"] == ["hiking"]
    assert m_fits.reasons["industry_match"] is True
    assert m_fits.reasons["summary"] == "shares 1 interest: hiking; < 1 km away; also in software"
    assert m_far.score_breakdown["location_proximity"] == 0.0
    assert m_far.compatibility_score == pytest.approx(0.3 * 0.9 + 0.1)
    assert m_far.reasons["distance_km"] is None


def test_prompt_radius_and_default_radius(reranker: Reranker) -> None:
    north = make_person(latitude=52.52 + 0.449661, longitude=13.405)  # ~50 km away
    q = PromptQuery(text="people", latitude=52.52, longitude=13.405)
    [m] = reranker.rank_for_prompt(q, None, [Candidate(north, 0.5)], 1)
    assert m.score_breakdown["location_proximity"] == pytest.approx(0.5, abs=1e-3)  # 100 km
    q = PromptQuery(text="people", latitude=52.52, longitude=13.405, radius_km=200.0)
    [m] = reranker.rank_for_prompt(q, None, [Candidate(north, 0.5)], 1)
    assert m.score_breakdown["location_proximity"] == pytest.approx(0.75, abs=1e-3)
    assert m.reasons["distance_km"] == 50  # 49.99 km between the cells, rounded down
    assert m.reasons["distance_text"] == "50 km"
    assert m.reasons["summary"] == "50 km away"


@pytest.mark.parametrize(
    ("distance", "shown"),
    [
        (None, (None, None)),
        (0.0, (0, "< 1 km")),
        (0.99, (0, "< 1 km")),
        (1.0, (1, "1 km")),
        (12.7, (12, "12 km")),
    ],
)
def test_distances_are_shown_in_whole_km(
    distance: float | None, shown: tuple[int | None, str | None]
) -> None:
    assert shown_distance(distance) == shown


def test_reasons_and_proximity_move_in_whole_km(reranker: Reranker) -> None:
    a = make_person(latitude=52.52, longitude=13.405)
    seen: list[int] = []
    for step in range(40):  # b walks north in 100 m steps
        b = make_person(latitude=52.52 + step * 0.0009, longitude=13.405)
        prompt = PromptQuery("people", 52.52, 13.405)
        [found] = reranker.rank_for_prompt(prompt, None, [Candidate(b, 0.5)], 1)
        for m in (reranker.score_pair(a, Candidate(b, 0.5)), found):
            km = m.reasons["distance_km"]
            assert isinstance(km, int)
            assert m.reasons["distance_text"] == ("< 1 km" if km == 0 else f"{km} km")
            assert m.score_breakdown["location_proximity"] == pytest.approx(1 - km / 100.0)
        seen.append(km)
    assert seen == sorted(seen) and set(seen) == set(range(seen[-1] + 1)) and seen[-1] >= 3


def test_prompt_similarity_is_clamped(reranker: Reranker) -> None:
    p = make_person()
    ranked = reranker.rank_for_prompt(
        PromptQuery("x"), None, [Candidate(p, 1.3), Candidate(make_person(), -0.2)], 5
    )
    assert sorted(m.prompt_similarity or 0.0 for m in ranked) == [0.0, 1.0]


def test_prompt_with_requester_is_two_sided_on_affinity(reranker: Reranker) -> None:
    a = _requester()
    b = _b(interests=["hiking", "chess"])
    query = PromptQuery(text="chess players")
    [m] = reranker.rank_for_prompt(query, a, [Candidate(b, 0.5, affinity=0.8)], 5)
    # both sides: 0.3*0.8 + 0.25*(1/3) + 0.2 + 0.15 + 0.1 (B wants {hiking, chess})
    your = round(0.24 + 0.25 / 3 + 0.45, 4)
    their = round(0.24 + 0.25 * (1 / 3) + 0.45, 4)
    assert m.mutual == {"your_fit": your, "their_fit": their}
    assert m.score_breakdown["profile_similarity"] == 0.8  # affinity, not prompt similarity
    assert m.prompt_similarity == 0.5
    assert m.compatibility_score == round(harmonic_mean(your, their), 4)
    assert m.sort_key == pytest.approx(
        PROMPT_WEIGHT * 0.5 + (1 - PROMPT_WEIGHT) * harmonic_mean(your, their), abs=1e-4
    )
    # shared with A, plus what the prompt names
    assert m.reasons["shared_interests"] == ["chess", "hiking"]


def test_prompt_ranking_weighs_prompt_similarity(reranker: Reranker) -> None:
    a = _requester()
    close, loose = _b(name="close"), _b(name="loose")
    ranked = reranker.rank_for_prompt(
        PromptQuery("x"), a, [Candidate(loose, 0.2, 0.5), Candidate(close, 0.9, 0.5)], 5
    )
    assert [m.name for m in ranked] == ["close", "loose"]
    assert ranked[0].compatibility_score == ranked[1].compatibility_score


def test_shared_events_boost_is_visible_and_capped(make_person: Any) -> None:
    from deployments.reranker import EVENT_BOOST_MAX, Reranker
    from matching.core.retrieval.candidates import Candidate
    from matching.core.settings import Settings

    reranker = Reranker(Settings.from_env({}))
    a, b = make_person(), make_person()
    plain = reranker.rank(a, [Candidate(b, 0.5, 0.5)], 1)[0]
    boosted = (
        reranker.rank(
            a, [Candidate(b, 0.5, 0.5)], 1, {str(b.user_id): ["PyCon", "RustConf", "KubeCon"]}
        )
    )[0]
    assert boosted.reasons["shared_events"] == ["KubeCon", "PyCon", "RustConf"]
    assert boosted.reasons["summary"].startswith("both attending KubeCon, PyCon")
    assert boosted.compatibility_score == round(plain.compatibility_score + EVENT_BOOST_MAX, 4)
    assert plain.reasons["shared_events"] == []


def test_reasons_cached_before_whole_km_are_shown_whole() -> None:
    old = {"shared_interests": [], "industry_match": False, "primary_factors": [], "summary": ""}
    assert Reasons.model_validate({**old, "distance_km": 12.7}).distance_km == 12
    assert Reasons.model_validate({**old, "distance_km": 0.4}).distance_km == 0
    assert Reasons.model_validate({**old, "distance_km": None}).distance_km is None


# -- the vectorised ranking equals the per-pair reference ---------------------------------------


THRESHOLD = 0.3
PROMPTS = (
    PromptQuery("hiking and chess people in software near me", 52.52, 13.405, 60.0),
    PromptQuery("jazz startups fintech energy"),  # no place: no distance for anyone
    # named terms rank first: an interest, and a role whose words must all be in a title
    PromptQuery("chess players", named=(frozenset({"i:chess"}), frozenset({"r:engineer"}))),
)


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory, population: list[Person]) -> Path:
    """A real (small) gradient-boosted model on pair features of the population, published
    the way training/train.py publishes one."""
    rng = np.random.default_rng(5)
    pick = rng.integers(0, len(population), (600, 2))
    a, b = [population[i] for i, _ in pick], [population[j] for _, j in pick]
    swipes = [(p.user_id, q.user_id, bool(rng.random() < 0.4)) for p, q in zip(a, b, strict=True)]
    stats = StatsTable.from_swipes(swipes, 10.0)
    params = FeatureParams.from_settings()
    sims = rng.uniform(0, 1, len(a))
    stats_a, stats_b = [stats.get(p.user_id) for p in a], [stats.get(q.user_id) for q in b]
    # Collaborative factors from the first half of the people's swipes only: the others
    # are cold-start, so both the known and the neutral rows take part.
    known = [s for s in swipes if s[0] in {p.user_id for p in population[::2]}]
    factors = collab.factorise(
        *zip(*[s[:2] for s in known], strict=True),
        np.array([s[2] for s in known]),
        collab.CollabParams(rank=4),
    )
    sides = (factors.side([p.user_id for p in a]), factors.side([q.user_id for q in b]))
    rows = pair_matrix(a, b, sims, stats_a, stats_b, NOW, params, collab=sides)
    fit = rows[:, PAIR_FEATURES.index("ab_score")] + rows[:, PAIR_FEATURES.index("collab_ab")]
    fit += rng.normal(0, 0.05, len(a))
    estimator = HistGradientBoostingClassifier(max_iter=30).fit(rows, fit > np.median(fit))
    root = tmp_path_factory.mktemp("artifacts")
    tmp = artifacts.staging(root, collab.KIND, "c1")
    collab.save(tmp, factors)
    artifacts.publish(tmp, {"version": "c1", "kind": collab.KIND})
    manifest = {
        "version": "v1",
        "algorithm_version": "gbm-v1",
        "sklearn_version": sklearn.__version__,
        "feature_params": params.to_dict(),
        "collab_version": "c1",
    }
    tmp = artifacts.staging(root, "models", "v1")
    CompatibilityModel(estimator, stats, params, manifest, factors).save(tmp)
    artifacts.publish(tmp, manifest)
    return root


def _pinned(
    model_root: Path, learned: bool, damping: float = 0.5
) -> tuple[Reranker, ScalarReranker]:
    """The Reranker (a threshold, a model when `learned`, popularity `damping`) and its
    per-pair reference."""
    env = {
        "SIMILARITY_THRESHOLD": str(THRESHOLD),
        "MATCHING_ARTIFACTS_DIR": str(model_root),
        "MATCHING_EXPOSURE_DAMPING": str(damping),
    }
    reranker = Reranker(Settings.from_env(env))
    model = None
    if learned:
        reranker.reconfigure({"model_version": "v1"})
        factors = collab.load(model_root / collab.KIND / "c1")
        model = CompatibilityModel.load(model_root / "models" / "v1", factors)
    matching = Settings.from_env(env).matching
    reference = ScalarReranker(
        matching.weights, matching.default_distance_km, THRESHOLD, WEIGHTED_VERSION, model
    )
    return reranker, replace(reference, damping=damping)


def _same(got: list[RankedMatch], want: list[RankedMatch]) -> None:
    """Same people in the same order, every shown field equal, sort keys within float noise."""
    assert [m.user_id for m in got] == [m.user_id for m in want]
    for g, w in zip(got, want, strict=True):
        assert g.sort_key == pytest.approx(w.sort_key, rel=1e-12, abs=1e-12)
        assert replace(g, sort_key=0.0) == replace(w, sort_key=0.0)


@pytest.mark.parametrize(
    ("learned", "damping"),
    [(False, 0.5), (True, 0.0), (True, 0.5), (True, 2.0)],
    ids=["weighted", "learned", "learned-damped", "learned-damped-hard"],
)
def test_ranking_equals_the_per_pair_reference(
    model_root: Path, population: list[Person], learned: bool, damping: float
) -> None:
    reranker, reference = _pinned(model_root, learned, damping)
    dropped = boosted = 0
    versions: set[str] = set()
    for r in range(4):
        requester = population[r]
        candidates = [
            Candidate(p, ((i * 7 + r) % 23) / 22 - 0.1, ((i * 5 + r) % 19) / 18)
            for i, p in enumerate(population[10 + r * 60 : 210 + r * 60])
        ]
        events = {
            str(c.person.user_id): ["PyCon", "JSConf"][: i % 3]
            for i, c in enumerate(candidates)
            if i % 4 == 0
        }
        for limit in (20, 500):
            got = reranker.rank(requester, candidates, limit, events)
            _same(got, reference.rank(requester, candidates, limit, events, NOW))
        dropped += len(candidates) - len(got)
        versions |= {m.algorithm_version for m in got}
        boosted += sum(bool(m.reasons["shared_events"]) for m in got)
        for c in candidates[:10]:
            _same([reranker.score_pair(requester, c)], [reference.score_pair(requester, c, NOW)])
        for query in PROMPTS:
            for who in (requester, None):
                got = reranker.rank_for_prompt(query, who, candidates, 20)
                _same(got, reference.rank_for_prompt(query, who, candidates, 20, NOW))
    assert dropped > 0 and boosted > 0  # the threshold and the event boost both took part
    assert versions == {"gbm-v1" if learned else WEIGHTED_VERSION}


def test_exposure_damping_moves_the_most_exposed_down(
    model_root: Path, population: list[Person]
) -> None:
    """The same candidates, undamped and damped: the damped top 10 was shown less before."""
    model = CompatibilityModel.load(
        model_root / "models" / "v1", collab.load(model_root / collab.KIND / "c1")
    )
    requester = population[3]
    candidates = [Candidate(p, 0.5, 0.5) for p in population[20:220]]
    exposure = dict(
        zip(
            [str(c.person.user_id) for c in candidates],
            model.exposure([c.person for c in candidates]).tolist(),
            strict=True,
        )
    )
    means = []
    for damping in (0.0, 2.0):
        reranker, _ = _pinned(model_root, True, damping)
        top = reranker.rank(requester, candidates, 10)
        means.append(np.mean([exposure[m.user_id] for m in top]))
    assert means[1] < means[0]
