"""CandidateIndex: store and vectors row for row; searches that re-check the exact rule;
upserts, removals and the snapshot round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
from factories import CITIES, indexed, make_person, make_prefs, random_population, unit_vectors

from matching.core.domain.filters import SearchFilters, mutually_acceptable
from matching.core.domain.person import Person
from matching.core.domain.search_terms import person_terms
from matching.core.ml import artifacts
from matching.core.retrieval.candidates import KIND, Candidate, CandidateIndex
from matching.core.retrieval.index import IndexParams, VectorIndex
from matching.core.retrieval.store import CandidateStore
from matching.core.settings import IndexSettings, Settings
from matching.core.storage.profiles import IndexedPerson

DIM = 16


def _settings(**env: str) -> IndexSettings:
    return Settings.from_env(env).index


FLAT: dict[str, str] = {}
HNSW: dict[str, str] = {"MATCHING_INDEX_EXACT_MAX": "0", "MATCHING_INDEX_FILTERED_EXACT_MAX": "10"}


def _ids(found: list[Candidate]) -> list[str]:
    return [str(c.person.user_id) for c in found]


@pytest.fixture(scope="module")
def people() -> list[IndexedPerson]:
    return indexed(random_population(400, seed=21), dim=DIM, seed=22)


@pytest.fixture(scope="module")
def acceptable(people: list[IndexedPerson]) -> dict[UUID, set[UUID]]:
    """Requester -> everyone mutually acceptable to them, by the exact rule."""
    everyone = [p.person for p in people]
    return {a.user_id: {b.user_id for b in everyone if mutually_acceptable(a, b)} for a in everyone}


@pytest.fixture(scope="module", params=["flat", "hnsw"])
def built(request: pytest.FixtureRequest, people: list[IndexedPerson]) -> CandidateIndex:
    env = FLAT if request.param == "flat" else HNSW
    index = CandidateIndex.build(people, DIM, _settings(**env), version="v1")
    assert index.index.params.kind == request.param
    return index


# -- building and searching -------------------------------------------------------------------


def test_build_keeps_rows_aligned(built: CandidateIndex, people: list[IndexedPerson]) -> None:
    assert len(built) == 400
    assert built.store.n_rows == built.index.ntotal == 400
    for row in (0, 199, 399):
        assert built.store.people[row] is people[row].person
        assert np.allclose(built.index.vector(row), people[row].embedding)
    assert built.stats() == {
        "version": "v1",
        "type": built.index.params.kind,
        "size": 400,
        "rows": 400,
    }


def test_store_and_index_must_be_aligned() -> None:
    index = VectorIndex(IndexParams(kind="flat", dim=4))
    index.add(unit_vectors(2, 4))
    store = CandidateStore()
    store.append(make_person())
    with pytest.raises(AssertionError):
        CandidateIndex(index, store, "v1")


def test_build_of_nobody() -> None:
    empty = CandidateIndex.build([], DIM, _settings(), version="v0")
    assert len(empty) == 0
    assert empty.search(np.ones(DIM, dtype=np.float32), 5) == []


def test_search_returns_exactly_the_mutually_acceptable(
    built: CandidateIndex, people: list[IndexedPerson], acceptable: dict[UUID, set[UUID]]
) -> None:
    # every requester on the flat index; every third on HNSW (same code path, slower)
    step = 1 if built.index.params.kind == "flat" else 3
    for ip in people[::step]:
        requester = ip.person
        found = built.search(ip.embedding, k=len(people), requester=requester)
        ids = [c.person.user_id for c in found]
        assert len(ids) == len(set(ids))
        assert set(ids) == acceptable[requester.user_id]
        sims = [c.similarity for c in found]
        assert sims == sorted(sims, reverse=True)
        for c in found[:3]:
            assert c.similarity == pytest.approx(
                float(built.vector_of(c.person.user_id) @ ip.embedding), abs=1e-5
            )
            assert c.affinity == 0.0


def test_search_with_filters_returns_exactly_what_passes_both(
    built: CandidateIndex, people: list[IndexedPerson], acceptable: dict[UUID, set[UUID]]
) -> None:
    f = SearchFilters(*CITIES["berlin"], max_distance_km=60.0, age_min=25, age_max=50)
    everyone = [p.person for p in people]
    only_filters = {b.user_id for b in everyone if f.accepts(b)}
    assert 10 < len(only_filters) < 200
    query = unit_vectors(1, DIM, seed=3)[0]
    assert {c.person.user_id for c in built.search(query, 400, filters=f)} == only_filters
    for ip in people[::5]:
        r = ip.person
        found = {c.person.user_id for c in built.search(ip.embedding, 400, r, f)}
        assert found == acceptable[r.user_id] & only_filters


def test_search_top_k_is_the_best_k_of_the_acceptable(
    built: CandidateIndex, people: list[IndexedPerson], acceptable: dict[UUID, set[UUID]]
) -> None:
    """Requesters whose mask is exact; the tests below cover hashed false positives."""
    row_of = {p.person.user_id: i for i, p in enumerate(people)}
    vectors = np.stack([p.embedding for p in people])
    checked = 0
    for ip in people[::2]:
        r = ip.person
        ok = sorted(row_of[u] for u in acceptable[r.user_id])
        if len(ok) < 10 or np.count_nonzero(built.store.mask_for(r)) != len(ok):
            continue
        scores = vectors[ok] @ ip.embedding
        best = {people[ok[i]].person.user_id for i in np.argsort(-scores)[:5]}
        found = built.search(ip.embedding, 5, r)
        assert len(found) == 5
        overlap = len(best & {c.person.user_id for c in found})
        assert overlap == 5 if built.index.params.kind == "flat" else overlap >= 4
        checked += 1
    assert checked > 50


def test_search_fills_k_whenever_enough_people_are_acceptable(
    people: list[IndexedPerson], acceptable: dict[UUID, set[UUID]]
) -> None:
    ci = CandidateIndex.build(people, DIM, _settings(), "v1")
    for ip in people:
        r = ip.person
        found = ci.search(ip.embedding, 5, r)
        assert len(found) == min(5, len(acceptable[r.user_id])), r.user_id


def test_search_without_requester_or_filters_is_plain_top_k(people: list[IndexedPerson]) -> None:
    ci = CandidateIndex.build(people, DIM, _settings(), "v1")
    q = people[7].embedding
    found = ci.search(q, 3)
    assert found[0].person is people[7].person
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert len(found) == 3


# -- hashed false positives cost rounds, never results ---------------------------------------


def _index_of(pairs: list[tuple[Person, np.ndarray]]) -> CandidateIndex:
    items = [IndexedPerson(p, v.astype(np.float32)) for p, v in pairs]
    return CandidateIndex.build(items, len(pairs[0][1]), _settings(), "v1")


def _ranked_vectors(n: int) -> list[np.ndarray]:
    """n unit vectors whose similarity to e0 strictly decreases."""
    out = []
    for i in range(n):
        angle = 0.1 + 0.1 * i
        out.append(np.array([np.cos(angle), np.sin(angle), 0.0, 0.0]))
    return out


def test_a_false_positive_is_rechecked_and_the_next_round_fills_k() -> None:
    requester = make_person(prefs=make_prefs(languages=["english"]))
    lure = make_person(languages=["hungarian"])  # same hashed bit as english
    fits = make_person(languages=["english"])
    v = _ranked_vectors(2)
    ci = _index_of([(lure, v[0]), (fits, v[1])])
    assert ci.store.mask_for(requester).all()  # both pass the hashed mask
    found = ci.search(np.array([1.0, 0, 0, 0]), 1, requester)
    assert [c.person for c in found] == [fits]


def test_many_false_positives_never_hide_a_true_candidate() -> None:
    requester = make_person(prefs=make_prefs(languages=["english"]))
    lures = [make_person(languages=["hungarian"]) for _ in range(4)]
    fits = make_person(languages=["english"])
    v = _ranked_vectors(5)
    ci = _index_of([*zip(lures, v[:4], strict=True), (fits, v[4])])
    found = ci.search(np.array([1.0, 0, 0, 0]), 1, requester)
    assert [c.person for c in found] == [fits]


def test_a_dead_row_is_never_returned() -> None:
    a, b = make_person(), make_person()
    v = _ranked_vectors(2)
    ci = _index_of([(a, v[0]), (b, v[1])])
    assert ci.remove(a.user_id) is True
    assert ci.remove(a.user_id) is False
    assert _ids(ci.search(np.array([1.0, 0, 0, 0]), 2)) == [str(b.user_id)]
    assert ci.vector_of(a.user_id) is None
    assert len(ci) == 1


# -- upserts ---------------------------------------------------------------------------------


def test_upsert_with_the_same_vector_updates_in_place() -> None:
    a, b = make_person(age=30), make_person(age=30)
    v = _ranked_vectors(2)
    ci = _index_of([(a, v[0]), (b, v[1])])
    older = dataclasses.replace(a, age=60)
    ci.upsert(older, v[0].astype(np.float32) + 1e-8)
    assert ci.store.n_rows == ci.index.ntotal == 2
    assert ci.store.row_of[a.user_id] == 0
    found = ci.search(np.array([1.0, 0, 0, 0]), 5, filters=SearchFilters(age_min=50))
    assert [c.person for c in found] == [older]


def test_upsert_with_a_new_vector_takes_a_new_row() -> None:
    a, b = make_person(), make_person()
    v = _ranked_vectors(3)
    ci = _index_of([(a, v[0]), (b, v[1])])
    ci.upsert(a, v[2])
    assert ci.store.n_rows == ci.index.ntotal == 3
    assert ci.store.row_of[a.user_id] == 2
    assert ci.store.people[0] is None
    vector = ci.vector_of(a.user_id)
    assert vector is not None and np.allclose(vector, v[2])
    found = ci.search(np.array([1.0, 0, 0, 0]), 5)
    assert _ids(found) == [str(b.user_id), str(a.user_id)]  # once, at the new similarity
    assert found[1].similarity == pytest.approx(float(v[2][0]), abs=1e-6)


def test_upsert_of_a_new_person_appends() -> None:
    a = make_person()
    ci = _index_of([(a, _ranked_vectors(1)[0])])
    newcomer = make_person()
    ci.upsert(newcomer, np.array([0.0, 0.0, 1.0, 0.0]))
    assert len(ci) == 2
    assert ci.search(np.array([0.0, 0.0, 1.0, 0.0]), 1)[0].person is newcomer


def test_upsert_after_remove_revives_on_a_new_row() -> None:
    a = make_person()
    v = _ranked_vectors(1)[0]
    ci = _index_of([(a, v)])
    ci.remove(a.user_id)
    ci.upsert(a, v)
    assert ci.store.row_of[a.user_id] == 1
    assert [c.person for c in ci.search(np.array([1.0, 0, 0, 0]), 5)] == [a]


# -- snapshots -------------------------------------------------------------------------------


@pytest.fixture
def small() -> list[IndexedPerson]:
    return indexed([make_person(name=f"P{i}", age=20 + i) for i in range(30)], dim=8, seed=31)


def _saved(tmp_path: Path, people: list[IndexedPerson], **env: str) -> Path:
    ci = CandidateIndex.build(people, 8, _settings(**env), version="20250101T000000000000Z")
    folder = ci.save(tmp_path, {"model_version": "m1"})
    assert folder == tmp_path / KIND / "20250101T000000000000Z"
    return folder


def test_save_writes_a_manifest(tmp_path: Path, small: list[IndexedPerson]) -> None:
    ci = CandidateIndex.build(small, 8, _settings(), version="v7")
    ci.remove(small[0].person.user_id)
    folder = ci.save(tmp_path, {"model_version": "m1"})
    manifest = json.loads((folder / artifacts.MANIFEST).read_text())
    assert manifest["version"] == "v7"
    assert manifest["kind"] == KIND
    assert manifest["row_count"] == 30
    assert manifest["live_count"] == 29
    assert manifest["model_version"] == "m1"
    assert manifest["params"]["kind"] == "flat"
    assert (folder / "index.faiss").is_file()
    ids = np.load(folder / "user_ids.npy")
    assert ids.shape == (30, 16)
    assert not ids[0].any()  # a dead row has no owner
    assert bytes(ids[1]) == small[1].person.user_id.bytes
    assert artifacts.latest(tmp_path, KIND) == folder


def test_snapshot_with_the_same_people_reuses_every_row(
    tmp_path: Path, small: list[IndexedPerson]
) -> None:
    folder = _saved(tmp_path, small)
    loaded = CandidateIndex.from_snapshot(folder, small, _settings())
    assert loaded.version == "20250101T000000000000Z"
    assert loaded.store.n_rows == loaded.index.ntotal == 30
    assert len(loaded) == 30
    for row, ip in enumerate(small):
        assert loaded.store.row_of[ip.person.user_id] == row
    q = small[3].embedding
    assert loaded.search(q, 1)[0].person is small[3].person


def test_snapshot_gives_a_changed_vector_a_new_row(
    tmp_path: Path, small: list[IndexedPerson]
) -> None:
    folder = _saved(tmp_path, small)
    moved = small[5].person
    new_vector = unit_vectors(1, 8, seed=99)[0]
    current = list(small)
    current[5] = IndexedPerson(moved, new_vector)
    loaded = CandidateIndex.from_snapshot(folder, current, _settings())
    assert loaded.store.n_rows == loaded.index.ntotal == 31
    assert len(loaded) == 30
    assert loaded.store.row_of[moved.user_id] == 30
    assert loaded.store.people[5] is None
    vector = loaded.vector_of(moved.user_id)
    assert vector is not None and np.allclose(vector, new_vector)
    found = loaded.search(new_vector, 30)
    assert len(found) == 30
    assert _ids(found).count(str(moved.user_id)) == 1
    assert found[0].person is moved
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    # the old vector no longer finds them first
    assert loaded.search(small[5].embedding, 1)[0].person is not moved


def test_snapshot_forgets_people_who_are_gone(tmp_path: Path, small: list[IndexedPerson]) -> None:
    folder = _saved(tmp_path, small)
    gone = small[9].person
    loaded = CandidateIndex.from_snapshot(folder, small[:9] + small[10:], _settings())
    assert len(loaded) == 29
    assert loaded.store.n_rows == 30
    assert loaded.vector_of(gone.user_id) is None
    everyone = loaded.search(small[9].embedding, 100)
    assert len(everyone) == 29
    assert gone.user_id not in {c.person.user_id for c in everyone}


def test_snapshot_adds_newcomers_and_takes_new_attributes(
    tmp_path: Path, small: list[IndexedPerson]
) -> None:
    folder = _saved(tmp_path, small)
    newcomer = IndexedPerson(make_person(name="New"), unit_vectors(1, 8, seed=5)[0])
    renamed = IndexedPerson(dataclasses.replace(small[0].person, age=99), small[0].embedding)
    loaded = CandidateIndex.from_snapshot(folder, [renamed, *small[1:], newcomer], _settings())
    assert len(loaded) == 31
    assert loaded.store.row_of[newcomer.person.user_id] == 30
    assert loaded.store.row_of[renamed.person.user_id] == 0  # same vector: same row
    stored = loaded.store.person(renamed.person.user_id)
    assert stored is not None and stored.age == 99


def test_snapshot_search_knobs_follow_this_replica(
    tmp_path: Path, small: list[IndexedPerson]
) -> None:
    folder = _saved(tmp_path, small, MATCHING_INDEX_EXACT_MAX="0", MATCHING_HNSW_M="8")
    here = _settings(MATCHING_HNSW_EF_SEARCH="300", MATCHING_INDEX_FILTERED_EXACT_MAX="3")
    loaded = CandidateIndex.from_snapshot(folder, small, here)
    params = loaded.index.params
    assert (params.kind, params.hnsw_m) == ("hnsw", 8)  # built into the snapshot
    assert (params.ef_search, params.filtered_exact_max) == (300, 3)
    found = loaded.search(small[2].embedding, 1)
    assert found[0].person is small[2].person


def test_snapshot_round_trip_keeps_search_results(tmp_path: Path) -> None:
    people = indexed(random_population(120, seed=41), dim=8, seed=42)
    ci = CandidateIndex.build(people, 8, _settings(), "v1")
    folder = ci.save(tmp_path, {})
    loaded = CandidateIndex.from_snapshot(folder, people, _settings())
    for ip in people[::10]:
        a = _ids(ci.search(ip.embedding, 20, ip.person))
        b = _ids(loaded.search(ip.embedding, 20, ip.person))
        assert a == b


# -- hybrid: named terms first ----------------------------------------------------------------


def test_named_terms_take_the_pool_before_closer_people_without_them(
    built: CandidateIndex, people: list[IndexedPerson]
) -> None:
    """Tiers: the best by cosine with all named terms, then with some, then the rest."""
    named = (frozenset({"i:chess"}), frozenset({"r:engineer"}))
    filters = SearchFilters(named=named)
    q = unit_vectors(1, DIM, seed=99)[0]
    vectors = np.stack([p.embedding for p in people])
    terms = [sum(g <= _terms(p.person) for g in named) for p in people]  # named terms each has
    k = 5
    found = built.search(q, k, filters=filters)
    tiers = [sum(g <= _terms(c.person) for g in named) for c in found]
    assert tiers == sorted(tiers, reverse=True)  # all, then some, then none
    for need in (2, 1, 0):
        rows = [i for i, t in enumerate(terms) if t == need]
        best = sorted(rows, key=lambda i: -float(vectors[i] @ q))[:k]
        got = [c for c in found if sum(g <= _terms(c.person) for g in named) == need]
        assert {c.person.user_id for c in got} == {people[i].person.user_id for i in best}
    assert 0 < tiers.count(2) and 0 < tiers.count(0)  # the premise: every tier is there
    plain = built.search(q, k)  # without terms: cosine only, the usual k
    assert len(plain) == k


def _terms(p: Person) -> frozenset[str]:
    return person_terms(p)
