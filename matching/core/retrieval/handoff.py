"""Candidates as they travel between stages: columns of arrays and joined strings.

In the pipeline composition the retriever's ~200 candidates are pickled to the ingress and
again to the reranker. Pickled as objects (a Person, its PreferenceView, a UUID, a datetime
and nine frozensets each) a hop cost ~15 ms at 200; as columns it costs what a no-op hop
does. In one process (the single composition) nothing is packed: `CandidateList` is a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, overload
from uuid import UUID

import numpy as np

from matching.core.domain.person import Person, PreferenceView
from matching.core.retrieval.candidates import Candidate

_ROW, _ITEM = "\x1e", "\x1f"  # ASCII record and unit separators: never in profile text
_TEXT = (
    "name",
    "headline",
    "industry",
    "company",
    "job_level",
    "company_size",
    "gender",
    "job_title",
)
_SETS = ("interests", "networking_goals", "languages", "skills")
_PREF_SETS = (
    "industries",
    "job_levels",
    "company_sizes",
    "interests",
    "networking_goals",
    "languages",
    "show_me",
)
_PREF_NUMBERS = ("age_min", "age_max", "distance_km")
_PREF_FLAGS = ("exclude_colleagues", "exclude_competitors")
_LONE_EMPTY = frozenset({""})


class CandidateList(Sequence[Candidate]):
    """Candidates that pickle as columns and unpickle lazily: the pipeline's ingress only
    passes the retriever's candidates on to the reranker, so it never builds the objects and
    sends on the block it received (see the module's docstring)."""

    __slots__ = ("_block", "_items")

    def __init__(self, items: Iterable[Candidate] = ()) -> None:
        self._items: list[Candidate] | None = list(items)
        self._block: dict[str, Any] | None = None

    @classmethod
    def packed(cls, block: dict[str, Any]) -> CandidateList:
        """The candidates of `block`, built when first read."""
        out = cls.__new__(cls)
        out._items, out._block = None, block
        return out

    def _list(self) -> list[Candidate]:
        if self._items is None:
            assert self._block is not None
            self._items = unpack(self._block)
        return self._items

    @overload
    def __getitem__(self, i: int) -> Candidate: ...
    @overload
    def __getitem__(self, i: slice) -> list[Candidate]: ...
    def __getitem__(self, i: int | slice) -> Candidate | list[Candidate]:
        return self._list()[i]

    def __len__(self) -> int:
        return len(self._list())

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CandidateList | list):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable contents, as a list's

    def __repr__(self) -> str:
        return f"CandidateList({self._list()!r})"

    def __reduce__(self) -> tuple[Callable[..., CandidateList], tuple[Any, ...]]:
        block = self._block if self._block is not None else pack(self._list())
        return CandidateList.packed, (block,)


def pack(candidates: Sequence[Candidate]) -> dict[str, Any]:
    """The candidates as columns; `unpack` gives them back equal."""
    people = [c.person for c in candidates]
    prefs = [p.prefs for p in people]
    sets = {f: [getattr(p, f) for p in people] for f in _SETS}
    pref_sets = {f: [getattr(q, f) for q in prefs] for f in _PREF_SETS}
    joined = {f: _join_sets(v) for f, v in sets.items()}
    pref_joined = {f: _join_sets(v) for f, v in pref_sets.items()}
    pairs = [(sets[f], joined[f]) for f in _SETS] + [
        (pref_sets[f], pref_joined[f]) for f in _PREF_SETS
    ]
    if people and not all(_separable(v, j) for v, j in pairs):
        return {"candidates": list(candidates)}  # a separator inside someone's text
    return {
        "similarity": np.array([c.similarity for c in candidates], dtype=np.float64),
        "affinity": np.array([c.affinity for c in candidates], dtype=np.float64),
        "ids": b"".join(p.user_id.bytes for p in people),
        "text": {f: [getattr(p, f) for p in people] for f in _TEXT},
        "sets": joined,
        "numbers": _numbers([(p.latitude, p.longitude, p.age) for p in people]),
        "zone": people[0].last_active_at.tzinfo if people else None,
        "active": np.array([p.last_active_at.timestamp() for p in people], dtype=np.float64),
        "prefs": {
            "sets": pref_joined,
            "numbers": _numbers([tuple(getattr(q, f) for f in _PREF_NUMBERS) for q in prefs]),
            "flags": np.array([[getattr(q, f) for f in _PREF_FLAGS] for q in prefs], dtype=bool),
            "weights": [q.weights for q in prefs],
        },
    }


def unpack(block: dict[str, Any]) -> list[Candidate]:
    """The candidates `pack` packed."""
    if "candidates" in block:
        return list(block["candidates"])
    n = len(block["similarity"])
    text = block["text"]
    sets = {f: _split_sets(block["sets"][f], n) for f in _SETS}
    lat, lon, age = _columns(block["numbers"], 3, n)
    zone = block["zone"]
    active = [datetime.fromtimestamp(ts, zone) for ts in block["active"].tolist()]
    prefs = _unpack_prefs(block["prefs"], n)
    ids = block["ids"]
    people = [
        Person(
            user_id=UUID(bytes=ids[16 * i : 16 * i + 16]),
            name=text["name"][i],
            headline=text["headline"][i],
            industry=text["industry"][i],
            company=text["company"][i],
            job_level=text["job_level"][i],
            company_size=text["company_size"][i],
            interests=sets["interests"][i],
            networking_goals=sets["networking_goals"][i],
            languages=sets["languages"][i],
            gender=text["gender"][i],
            skills=sets["skills"][i],
            job_title=text["job_title"][i],
            latitude=lat[i],
            longitude=lon[i],
            age=_int(age[i]),
            last_active_at=active[i],
            prefs=prefs[i],
        )
        for i in range(n)
    ]
    sims, affinities = block["similarity"].tolist(), block["affinity"].tolist()
    return [Candidate(p, s, a) for p, s, a in zip(people, sims, affinities, strict=True)]


def _unpack_prefs(block: dict[str, Any], n: int) -> list[PreferenceView]:
    sets = {f: _split_sets(block["sets"][f], n) for f in _PREF_SETS}
    age_min, age_max, distance = _columns(block["numbers"], 3, n)
    flags = block["flags"].reshape(n, len(_PREF_FLAGS)).tolist()
    return [
        PreferenceView(
            age_min=_int(age_min[i]),
            age_max=_int(age_max[i]),
            distance_km=distance[i],
            exclude_colleagues=flags[i][0],
            exclude_competitors=flags[i][1],
            weights=block["weights"][i],
            **{f: sets[f][i] for f in _PREF_SETS},
        )
        for i in range(n)
    ]


def _separable(values: list[frozenset[str]], joined: str) -> bool:
    """Whether `joined` splits back into `values`: no separator inside an item (the counts
    of separators tell, in C) and no set of just the empty string (joined as an empty set)."""
    items = sum(len(v) - 1 for v in values if v)
    return (
        joined.count(_ROW) == len(values) - 1
        and joined.count(_ITEM) == items
        and _LONE_EMPTY not in values
    )


def _join_sets(values: list[frozenset[str]]) -> str:
    return _ROW.join(_ITEM.join(v) for v in values)


def _split_sets(joined: str, n: int) -> list[frozenset[str]]:
    if n == 0:
        return []
    empty: frozenset[str] = frozenset()
    return [frozenset(row.split(_ITEM)) if row else empty for row in joined.split(_ROW)]


def _numbers(rows: list[tuple[float | int | None, ...]]) -> np.ndarray:
    """Optional numbers as float64, NaN for None (ints up to 2**53 stay exact)."""
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


def _columns(values: np.ndarray, width: int, n: int) -> list[list[float | None]]:
    cols = values.reshape(n, width).T
    return [[None if v != v else v for v in col.tolist()] for col in cols]  # NaN: None


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)
