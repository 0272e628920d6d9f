"""The exact pair rule (core.domain.filters) and the store's vectorised mask that must never
drop a pair the exact rule accepts (matching.core.retrieval.store)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from factories import CITIES, make_person, make_prefs, random_population

from matching.core.domain.filters import (
    SearchFilters,
    accepts,
    is_competitor,
    mutually_acceptable,
    person_distance_km,
)
from matching.core.domain.geo import (
    CELL_KM,
    EARTH_RADIUS_KM,
    cell_centre,
    cell_centres,
    haversine_km,
    public_km,
    public_km_array,
)
from matching.core.domain.person import Person, PreferenceView
from matching.core.retrieval.store import CandidateStore, bit, bits, code

BERLIN, MUNICH, PARIS = CITIES["berlin"], CITIES["munich"], CITIES["paris"]
BERLIN_MUNICH_KM = haversine_km(*BERLIN, *MUNICH)


def _store(people: list[Person]) -> CandidateStore:
    store = CandidateStore(capacity=len(people))
    for p in people:
        store.append(p)
    return store


def _exact_rows(store: CandidateStore, ok: Callable[[Person], bool]) -> set[int]:
    return {r for r, p in enumerate(store.people) if p is not None and ok(p)}


def _rows(mask: np.ndarray) -> set[int]:
    return set(np.flatnonzero(mask).tolist())


# -- the exact rule, pair by pair; the mask must agree where no hashed bits collide ----------

P = make_prefs
# "hikers who are engineers": an interest and a role, both required, or at least one
NAMED = (frozenset({"i:hiking"}), frozenset({"r:engineer"}))
NAMED_ALL = SearchFilters(named=NAMED, min_named=2)
NAMED_ONE = SearchFilters(named=NAMED, min_named=1)
SCENARIOS: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("no preferences", {}, {}, True),
    # languages, industries, job levels and company sizes: B must have one of A's wishes
    (
        "language shared",
        {"prefs": P(languages=["german"])},
        {"languages": ["german", "english"]},
        True,
    ),
    ("language missing", {"prefs": P(languages=["german"])}, {"languages": ["french"]}, False),
    ("no languages at all", {"prefs": P(languages=["german"])}, {"languages": []}, False),
    ("industry wanted", {"prefs": P(industries=["fintech", "media"])}, {"industry": "media"}, True),
    ("industry other", {"prefs": P(industries=["fintech"])}, {"industry": "software"}, False),
    ("industry unknown", {"prefs": P(industries=["fintech"])}, {"industry": None}, False),
    ("job level wanted", {"prefs": P(job_levels=["vp", "lead"])}, {"job_level": "lead"}, True),
    ("job level other", {"prefs": P(job_levels=["vp"])}, {"job_level": "intern"}, False),
    ("job level unknown", {"prefs": P(job_levels=["vp"])}, {"job_level": None}, False),
    ("size wanted", {"prefs": P(company_sizes=["1-10"])}, {"company_size": "1-10"}, True),
    ("size other", {"prefs": P(company_sizes=["1-10"])}, {"company_size": "5001+"}, False),
    ("size unknown", {"prefs": P(company_sizes=["1-10"])}, {"company_size": None}, False),
    # the candidate's own wishes count too (two-sided)
    (
        "B wants another language",
        {"languages": ["english"]},
        {"prefs": P(languages=["french"])},
        False,
    ),
    ("B wants A's industry", {"industry": "energy"}, {"prefs": P(industries=["energy"])}, True),
    ("B wants a known industry", {"industry": None}, {"prefs": P(industries=["energy"])}, False),
    ("B wants another level", {"job_level": "intern"}, {"prefs": P(job_levels=["vp"])}, False),
    (
        "B wants another size",
        {"company_size": "11-50"},
        {"prefs": P(company_sizes=["1-10"])},
        False,
    ),
    # exclusions: on either side
    ("colleagues excluded by A", {"prefs": P(exclude_colleagues=True)}, {}, False),
    ("colleagues excluded by B", {}, {"prefs": P(exclude_colleagues=True)}, False),
    (
        "colleagues: other company",
        {"prefs": P(exclude_colleagues=True)},
        {"company": "hooli"},
        True,
    ),
    (
        "colleagues: both unknown companies",
        {"company": None, "prefs": P(exclude_colleagues=True)},
        {"company": None},
        True,
    ),
    (
        "competitors excluded by A",
        {"prefs": P(exclude_competitors=True)},
        {"company": "hooli"},
        False,
    ),
    (
        "competitors excluded by B",
        {},
        {"company": "hooli", "prefs": P(exclude_competitors=True)},
        False,
    ),
    ("competitors: same company", {"prefs": P(exclude_competitors=True)}, {}, True),
    (
        "competitors: other industry",
        {"prefs": P(exclude_competitors=True)},
        {"company": "hooli", "industry": "media"},
        True,
    ),
    (
        "competitors: B's company unknown",
        {"prefs": P(exclude_competitors=True)},
        {"company": None},
        True,
    ),
    (
        "competitors: A's company unknown",
        {"company": None, "prefs": P(exclude_competitors=True)},
        {"company": "hooli"},
        True,
    ),
    (
        "competitors: both industries unknown",
        {"industry": None, "prefs": P(exclude_competitors=True)},
        {"industry": None, "company": "hooli"},
        True,
    ),
    # age: bounds inclusive, an unknown age fails an explicit preference
    ("age at min", {"prefs": P(age_min=34, age_max=40)}, {"age": 34}, True),
    ("age at max", {"prefs": P(age_min=20, age_max=34)}, {"age": 34}, True),
    ("age below min", {"prefs": P(age_min=35)}, {"age": 34}, False),
    ("age above max", {"prefs": P(age_max=33)}, {"age": 34}, False),
    ("unknown age vs min", {"prefs": P(age_min=18)}, {"age": None}, False),
    ("unknown age vs max", {"prefs": P(age_max=99)}, {"age": None}, False),
    ("unknown age, no preference", {}, {"age": None}, True),
    ("A's unknown age vs B's range", {"age": None}, {"prefs": P(age_min=18, age_max=99)}, False),
    # distance
    ("within radius", {"prefs": P(distance_km=600.0)}, {"city": "munich"}, True),
    ("outside radius", {"prefs": P(distance_km=400.0)}, {"city": "munich"}, False),
    ("B outside B's radius", {}, {"city": "munich", "prefs": P(distance_km=400.0)}, False),
    (
        "radius, B unlocated",
        {"prefs": P(distance_km=400.0)},
        {"latitude": None, "longitude": None},
        False,
    ),
    (
        "radius without own location filters nobody",
        {"latitude": None, "longitude": None, "prefs": P(distance_km=1.0)},
        {"city": "munich"},
        True,
    ),
    (
        "B's radius, A unlocated",
        {"latitude": None, "longitude": None},
        {"prefs": P(distance_km=1000.0)},
        False,
    ),
    (
        "unlocated B's radius filters nobody",
        {"city": "paris"},
        {"latitude": None, "longitude": None, "prefs": P(distance_km=1.0)},
        True,
    ),
    # show_me: genders wanted, two-sided; empty shows everyone
    ("show_me women, B a woman", {"prefs": P(show_me=["female"])}, {"gender": "female"}, True),
    ("show_me women, B a man", {"prefs": P(show_me=["female"])}, {"gender": "male"}, False),
    ("show_me women, B's gender unknown", {"prefs": P(show_me=["female"])}, {}, False),
    (
        "show_me two genders",
        {"prefs": P(show_me=["female", "non_binary"])},
        {"gender": "non_binary"},
        True,
    ),
    (
        "B's show_me excludes A",
        {"gender": "male"},
        {"gender": "female", "prefs": P(show_me=["female"])},
        False,
    ),
    (
        "each shows the other",
        {"gender": "female", "prefs": P(show_me=["male"])},
        {"gender": "male", "prefs": P(show_me=["female"])},
        True,
    ),
    (
        "one side fits, the other not",
        {"gender": "female", "prefs": P(show_me=["male"])},
        {"gender": "male", "prefs": P(show_me=["male"])},
        False,
    ),
    ("no show_me on either side", {"gender": "other"}, {"gender": None}, True),
]


@pytest.mark.parametrize(
    ("a_kw", "b_kw", "expected"),
    [pytest.param(a, b, e, id=name) for name, a, b, e in SCENARIOS],
)
def test_pair_rule_and_mask_agree(
    a_kw: dict[str, Any], b_kw: dict[str, Any], expected: bool
) -> None:
    a, b = make_person(**a_kw), make_person(**b_kw)
    assert mutually_acceptable(a, b) is expected
    assert mutually_acceptable(b, a) is expected
    store = _store([a, b])
    assert bool(store.mask_for(a)[1]) is expected
    assert bool(store.mask_for(b)[0]) is expected


def test_accepts_is_one_directional() -> None:
    picky = make_person(prefs=P(languages=["german"]))
    easy = make_person(languages=["english"])
    assert not accepts(picky, easy)
    assert accepts(easy, picky)
    assert not mutually_acceptable(picky, easy)


def test_nobody_matches_themselves() -> None:
    a = make_person()
    assert accepts(a, a)
    assert not mutually_acceptable(a, a)
    assert not mutually_acceptable(a, dataclasses.replace(a, name="Same id"))
    store = _store([a, make_person()])
    assert _rows(store.mask_for(a)) == {1}


def test_is_competitor() -> None:
    a = make_person(industry="energy", company="voltra")
    assert is_competitor(a, make_person(industry="energy", company="sunco"))
    assert not is_competitor(a, make_person(industry="energy", company="voltra"))
    assert not is_competitor(a, make_person(industry="media", company="sunco"))
    assert not is_competitor(a, make_person(industry="energy", company=None))


def test_person_distance_is_whole_km_between_cells() -> None:
    a, b = make_person(city="berlin"), make_person(city="munich")
    assert person_distance_km(a, b) == public_km(*BERLIN, *MUNICH) == 504.0
    assert BERLIN_MUNICH_KM - 1 - 2 * _MAX_SNAP_KM <= 504.0 <= BERLIN_MUNICH_KM + 2 * _MAX_SNAP_KM
    assert person_distance_km(a, make_person(latitude=None, longitude=None)) is None
    assert person_distance_km(make_person(latitude=None, longitude=None), b) is None


def test_someone_exactly_on_the_radius_is_kept() -> None:
    km = public_km(*BERLIN, *MUNICH)
    a = make_person(city="berlin", prefs=P(distance_km=km))
    b = make_person(city="munich", prefs=P(distance_km=km))
    assert mutually_acceptable(a, b)
    store = _store([a, b])
    assert _rows(store.mask_for(a)) == {1}
    assert _rows(store.mask_for(b)) == {0}
    f = SearchFilters(latitude=BERLIN[0], longitude=BERLIN[1], max_distance_km=km)
    assert f.accepts(b)
    assert _rows(store.mask_for(None, f)) == {0, 1}
    assert not SearchFilters(*BERLIN, max_distance_km=km - 0.01).accepts(b)


# -- locations as others know them: ~1 km cells, whole km -----------------------------------

_MAX_SNAP_KM = CELL_KM * 0.75  # half a cell's diagonal, with room for columns a little wide


def test_cell_centre_and_its_array_form_agree_on_every_row() -> None:
    step = CELL_KM * 180.0 / (math.pi * EARTH_RADIUS_KM)
    lat = np.clip(-90.0 + (np.arange(int(180 / step) + 1) + 0.5) * step, -90.0, 90.0)
    lon = np.random.default_rng(1).uniform(-180.0, 180.0, len(lat))
    got_lat, got_lon = cell_centres(lat, lon)
    expected = np.array([cell_centre(la, lo) for la, lo in zip(lat, lon, strict=True)])
    np.testing.assert_array_equal(got_lat, expected[:, 0])
    np.testing.assert_array_equal(got_lon, expected[:, 1])
    assert np.isnan(cell_centres(np.array([np.nan]), np.array([1.0]))[0][0])


def test_a_cell_holds_its_points_and_is_about_a_km_wide() -> None:
    rng = np.random.default_rng(2)
    lat, lon = rng.uniform(-85.0, 85.0, 2000), rng.uniform(-180.0, 180.0, 2000)
    c_lat, c_lon = cell_centres(lat, lon)
    moved = [haversine_km(*p) for p in zip(lat, lon, c_lat, c_lon, strict=True)]
    assert max(moved) <= _MAX_SNAP_KM
    assert np.mean(moved) > 0.3  # a real snap, not a rounding of the last digits
    assert cell_centre(*cell_centre(52.52, 13.405)) == cell_centre(52.52, 13.405)
    assert cell_centre(0.0, 180.0) == cell_centre(0.0, -180.0)  # the antimeridian wraps
    assert cell_centre(90.0, 33.0)[0] == 90.0


def test_public_km_and_its_array_form_agree() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    lat1, lon1 = rng.uniform(40, 60, n), rng.uniform(-10, 30, n)
    near = rng.uniform(-0.05, 0.05, (2, n))  # many pairs a few km apart
    lat2 = np.where(np.arange(n) % 2 == 0, lat1 + near[0], rng.uniform(40, 60, n))
    lon2 = np.where(np.arange(n) % 2 == 0, lon1 + near[1], rng.uniform(-10, 30, n))
    expected = [public_km(*p) for p in zip(lat1, lon1, lat2, lon2, strict=True)]
    got = public_km_array(lat1, lon1, lat2, lon2)
    np.testing.assert_array_equal(got, expected)
    assert np.all(got == np.floor(got)) and 0.0 in got
    exact = [haversine_km(*p) for p in zip(lat1, lon1, lat2, lon2, strict=True)]
    assert np.all(np.abs(got + 0.5 - exact) <= 0.5 + 2 * _MAX_SNAP_KM)
    assert np.isnan(public_km_array(np.array([np.nan]), lon1[:1], lat2[:1], lon2[:1]))[0]


def test_mask_is_a_superset_of_the_rule_at_every_radius_near_the_boundary() -> None:
    rng = np.random.default_rng(4)
    people = [
        make_person(latitude=BERLIN[0] + la, longitude=BERLIN[1] + lo)
        for la, lo in rng.uniform(-0.1, 0.1, (400, 2))
    ]
    store = _store(people)
    for radius in (0.2, 0.999, 1.0, 1.5, 2.0, 3.7, 5.0, 6.999, 7.0):
        origin = (BERLIN[0] + rng.uniform(-0.03, 0.03), BERLIN[1] + rng.uniform(-0.03, 0.03))
        f = SearchFilters(*origin, max_distance_km=radius)
        exact = _exact_rows(store, f.accepts)
        extra = _rows(store.mask_for(None, f)) - exact
        assert len(exact) > 0 or radius < 1
        for row in extra:  # only cells just on the far side of the boundary, within the slack
            p = store.people[row]
            assert p is not None and p.latitude is not None and p.longitude is not None
            cells = (*cell_centre(*origin), *cell_centre(p.latitude, p.longitude))
            edge = math.floor(radius) + 1
            assert edge - 1e-5 <= haversine_km(*cells) <= edge + 0.02
        requester = make_person(
            latitude=origin[0], longitude=origin[1], prefs=P(distance_km=radius)
        )
        mask = _rows(store.mask_for(requester))
        assert exact <= mask
        assert exact == _exact_rows(store, functools.partial(accepts, requester))


def test_hashed_bits_may_let_extra_rows_through_but_never_drop_one() -> None:
    # "english" and "hungarian" share a bit in the 64-bit language hash.
    assert bit("english") == bit("hungarian")
    a = make_person(prefs=P(languages=["english"]))
    hungarian = make_person(languages=["hungarian"])
    english = make_person(languages=["english"])
    store = _store([a, hungarian, english])
    assert not mutually_acceptable(a, hungarian)
    assert mutually_acceptable(a, english)
    assert _rows(store.mask_for(a)) == {1, 2}  # a superset: the caller re-checks


def test_the_mask_over_some_rows_is_the_full_mask_at_those_rows() -> None:
    people = random_population(300, seed=5)
    store = _store(people)
    rng = np.random.default_rng(5)
    for requester in people[:40]:
        rows = rng.choice(len(people), size=60, replace=False)
        rows[0] = store.row_of[requester.user_id]  # its own row is never a candidate
        f = SearchFilters(age_min=int(rng.integers(18, 40)), age_max=int(rng.integers(40, 90)))
        full = store.mask_for(requester, f)
        assert np.array_equal(store.mask_for(requester, f, rows=rows), full[rows])
        assert not store.mask_for(requester, f, rows=rows)[0]


# -- SearchFilters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "person_kw", "expected"),
    [
        (SearchFilters(), {"age": None, "latitude": None, "longitude": None}, True),
        (SearchFilters(age_min=30), {"age": 30}, True),
        (SearchFilters(age_min=30), {"age": 29}, False),
        (SearchFilters(age_min=30), {"age": None}, False),
        (SearchFilters(age_max=30), {"age": 30}, True),
        (SearchFilters(age_max=30), {"age": 31}, False),
        (SearchFilters(age_max=30), {"age": None}, False),
        (SearchFilters(*BERLIN, max_distance_km=600.0), {"city": "munich"}, True),
        (SearchFilters(*BERLIN, max_distance_km=400.0), {"city": "munich"}, False),
        (
            SearchFilters(*BERLIN, max_distance_km=400.0),
            {"latitude": None, "longitude": None},
            False,
        ),
        # a radius around no point, or a point without a radius, filters nobody
        (SearchFilters(latitude=BERLIN[0], max_distance_km=1.0), {"city": "paris"}, True),
        (SearchFilters(*BERLIN), {"city": "paris"}, True),
        # what a prompt names: "one of these" per field
        (SearchFilters(genders=frozenset({"female"})), {"gender": "female"}, True),
        (SearchFilters(genders=frozenset({"female"})), {"gender": "male"}, False),
        (SearchFilters(genders=frozenset({"female"})), {"gender": None}, False),
        (SearchFilters(job_levels=frozenset({"founder", "vp"})), {"job_level": "vp"}, True),
        (SearchFilters(job_levels=frozenset({"founder"})), {"job_level": "senior"}, False),
        (SearchFilters(industries=frozenset({"fintech"})), {"industry": "fintech"}, True),
        (SearchFilters(industries=frozenset({"fintech"})), {"industry": None}, False),
        (SearchFilters(languages=frozenset({"german"})), {"languages": ["german"]}, True),
        (SearchFilters(languages=frozenset({"german"})), {"languages": ["french"]}, False),
        (NAMED_ALL, {"interests": ["hiking"], "job_title": "Senior Engineer"}, True),
        (NAMED_ALL, {"interests": ["hiking"], "job_title": "Engineering Manager"}, False),
        (NAMED_ALL, {"interests": [], "skills": ["hiking"], "job_title": "engineers"}, True),
        (NAMED_ONE, {"interests": ["chess"], "job_title": "Engineer"}, True),
        (NAMED_ONE, {"interests": ["chess"], "job_title": None}, False),
        (dataclasses.replace(NAMED_ONE, min_named=0), {"interests": []}, True),
    ],
)
def test_search_filters(filters: SearchFilters, person_kw: dict[str, Any], expected: bool) -> None:
    person = make_person(**person_kw)
    assert filters.accepts(person) is expected
    assert bool(_store([person]).mask_for(None, filters)[0]) is expected


# -- the store -------------------------------------------------------------------------------


def test_code_and_bits() -> None:
    assert code(None) == 0
    assert code("acme") == code("acme") != code("hooli")
    assert all(code(s) % 2 == 1 and 0 < code(s) < 2**63 for s in ("acme", "x", "industry"))
    assert bit(None) == 0
    assert bin(bit("english")).count("1") == 1
    assert bits(frozenset()) == 0
    assert bits(frozenset({"english", "german"})) == bit("english") | bit("german")


def test_append_replace_remove() -> None:
    a, b = make_person(), make_person()
    store = CandidateStore()
    assert store.append(a) == 0
    assert store.append(b) == 1
    assert (len(store), store.n_rows) == (2, 2)
    newer = dataclasses.replace(a, age=50)
    assert store.append(newer) == 2  # a new row; the old one dies
    assert (len(store), store.n_rows) == (2, 3)
    assert store.person(a.user_id) is newer
    assert store.people[0] is None
    assert _rows(store.mask_for(None)) == {1, 2}
    assert store.remove(b.user_id) == 1
    assert store.remove(b.user_id) is None
    assert store.person(b.user_id) is None
    assert _rows(store.mask_for(None)) == {2}
    assert len(store) == 1


def test_write_updates_a_row_in_place() -> None:
    a, b = make_person(age=30), make_person()
    store = _store([a, b])
    assert _rows(store.mask_for(None, SearchFilters(age_min=40))) == set()
    store.write(0, dataclasses.replace(a, age=45))
    assert _rows(store.mask_for(None, SearchFilters(age_min=40))) == {0}
    assert store.n_rows == 2


def test_growth_keeps_every_column() -> None:
    people = [make_person(age=20 + i % 50, city="berlin" if i % 2 else "paris") for i in range(100)]
    store = CandidateStore(capacity=1)  # starts at 16 rows and doubles
    for p in people:
        store.append(p)
    assert store.n_rows == 100
    f = SearchFilters(*BERLIN, max_distance_km=10.0, age_min=30, age_max=40)
    assert _rows(store.mask_for(None, f)) == _exact_rows(store, f.accepts)
    assert len(_exact_rows(store, f.accepts)) == 10


def test_extend_dead_reserves_rows_that_pass_nothing() -> None:
    store = CandidateStore(capacity=16)
    store.extend_dead(40)
    assert (store.n_rows, len(store)) == (40, 0)
    assert not store.mask_for(None).any()
    p = make_person()
    store.write(7, p)
    assert store.row_of[p.user_id] == 7
    assert _rows(store.mask_for(None)) == {7}
    assert store.append(make_person()) == 40


def test_requester_not_in_the_store() -> None:
    people = [make_person(age=a) for a in (20, 30, 40)]
    store = _store(people)
    outsider = make_person(prefs=P(age_min=25))
    assert _rows(store.mask_for(outsider)) == {1, 2}


# -- the superset property over a varied population -----------------------------------------


def _only(prefs: PreferenceView, fields: tuple[str, ...]) -> PreferenceView:
    return dataclasses.replace(PreferenceView(), **{f: getattr(prefs, f) for f in fields})


def _criteria() -> dict[str, tuple[str, ...]]:
    """Each hard preference, by the PreferenceView fields that express it."""
    return {
        "age": ("age_min", "age_max"),
        "distance": ("distance_km",),
        "languages": ("languages",),
        "industries": ("industries",),
        "job_levels": ("job_levels",),
        "company_sizes": ("company_sizes",),
        "exclude_colleagues": ("exclude_colleagues",),
        "exclude_competitors": ("exclude_competitors",),
        "show_me": ("show_me",),
    }


def test_every_hard_filter_excludes_someone_in_the_population(population: list[Person]) -> None:
    """Guards the property tests below: a filter nobody trips would prove nothing."""
    sample = population[:120]
    for name, fields in _criteria().items():
        rejected = 0
        for a in sample:
            a_only = dataclasses.replace(a, prefs=_only(a.prefs, fields))
            if a_only.prefs == PreferenceView():
                continue
            rejected += sum(not accepts(a_only, b) for b in sample if b is not a)
        assert rejected > 0, name


def test_mask_is_a_superset_of_the_exact_rule(population: list[Person]) -> None:
    store = _store(population)
    strict_supersets = 0
    sizes = []
    for requester in population:
        allowed = _rows(store.mask_for(requester))
        exact = _exact_rows(store, functools.partial(mutually_acceptable, requester))
        missing = exact - allowed
        assert not missing, (requester.user_id, sorted(missing))
        strict_supersets += allowed != exact
        sizes.append(len(exact))
    # the population is varied: some requesters are very picky, some accept many
    assert min(sizes) == 0
    assert max(sizes) > 100
    assert 0 < strict_supersets < len(population)


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(*BERLIN, max_distance_km=50.0, age_min=25, age_max=45),
        SearchFilters(*PARIS, max_distance_km=600.0),
        SearchFilters(age_min=40),
    ],
)
def test_mask_with_search_filters_is_a_superset(
    population: list[Person], filters: SearchFilters
) -> None:
    store = _store(population)
    only_filters = _exact_rows(store, filters.accepts)
    assert _rows(store.mask_for(None, filters)) == only_filters  # no hashing involved
    assert 0 < len(only_filters) < len(population)
    for requester in population[::4]:
        allowed = _rows(store.mask_for(requester, filters))
        exact = _exact_rows(store, functools.partial(mutually_acceptable, requester))
        assert exact & only_filters <= allowed


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(genders=frozenset({"female", "non_binary"})),
        SearchFilters(job_levels=frozenset({"senior", "founder"}), languages=frozenset({"german"})),
        SearchFilters(industries=frozenset({"fintech", "media"})),
        dataclasses.replace(NAMED_ALL, named=(frozenset({"i:chess"}), frozenset({"r:engineer"}))),
        dataclasses.replace(NAMED_ONE, named=(frozenset({"i:chess"}), frozenset({"g:hiring"}))),
    ],
)
def test_mask_of_named_filters_is_a_superset(
    population: list[Person], filters: SearchFilters
) -> None:
    """Hashed fields (industries, languages, terms) may let extra rows through, never drop."""
    store = _store(population)
    only_filters = _exact_rows(store, filters.accepts)
    assert 0 < len(only_filters) < len(population)
    assert only_filters <= _rows(store.mask_for(None, filters))
    for requester in population[::8]:
        allowed = _rows(store.mask_for(requester, filters))
        exact = _exact_rows(store, functools.partial(mutually_acceptable, requester))
        assert exact & only_filters <= allowed


def test_dead_rows_never_pass(population: list[Person]) -> None:
    store = _store(population[:50])
    for p in population[:50:2]:
        store.remove(p.user_id)
    for requester in population[:50]:
        assert all(r % 2 == 1 for r in _rows(store.mask_for(requester)))
