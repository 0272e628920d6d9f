"""Columnar, in-memory attributes of every indexed person, for vectorised hard filters.

Rows are append-only (a FAISS id is a row number); a replaced or deleted person's row is
killed, and the offline index build compacts. The mask is a superset of the exact rule in
`core.domain.filters` (multi-valued fields are hashed into 64 bits), so callers re-check the
few survivors exactly and never lose a true candidate. Locations are stored as their grid
cells' centres, as the rule measures them (`geo.public_km`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import zlib
from datetime import datetime
from typing import get_args
from uuid import UUID

import numpy as np

from matching.core.domain.filters import SearchFilters
from matching.core.domain.geo import cell_centre, cos_of_distance, unit_vector
from matching.core.domain.person import Person
from matching.core.domain.profile import GENDERS, CompanySize, JobLevel
from matching.core.domain.search_terms import person_terms

_JOB_LEVEL_BIT = {v: 1 << i for i, v in enumerate(get_args(JobLevel))}
_GENDER_BIT: dict[str, int] = {v: 1 << i for i, v in enumerate(GENDERS)}
_SIZE_BIT = {v: 1 << i for i, v in enumerate(get_args(CompanySize))}
_ANY_DISTANCE = -2.0  # below any cosine: "no radius"
_SLACK_KM = 0.01  # float rounding at the radius must not drop someone exactly on it

_COLUMNS: dict[str, tuple[type, object]] = {
    "alive": (np.bool_, False),
    "age": (np.float64, np.nan),
    "has_loc": (np.bool_, False),
    "industry": (np.int64, 0),
    "company": (np.int64, 0),
    "industry_bit": (np.uint64, 0),
    "job_bit": (np.uint64, 0),
    "size_bit": (np.uint64, 0),
    "lang_bits": (np.uint64, 0),
    "gender_bit": (np.uint64, 0),
    "term_bits": (np.uint64, 0),
    "p_age_min": (np.float64, -np.inf),
    "p_age_max": (np.float64, np.inf),
    "p_cos": (np.float64, _ANY_DISTANCE),
    "p_langs": (np.uint64, 0),
    "p_industries": (np.uint64, 0),
    "p_jobs": (np.uint64, 0),
    "p_sizes": (np.uint64, 0),
    "p_show_me": (np.uint64, 0),
    "x_colleagues": (np.bool_, False),
    "x_competitors": (np.bool_, False),
}


def code(value: str | None) -> int:
    """A stable non-zero 63-bit code for a case-folded string; 0 means unknown.

    Equality of codes must imply equality of strings (an exclusion uses it), so 64 bits.
    """
    if value is None:
        return 0
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 1) | 1


def bit(value: str | None) -> int:
    return 0 if value is None else 1 << (zlib.crc32(value.encode()) % 64)


def bits(values: frozenset[str]) -> int:
    out = 0
    for v in values:
        out |= bit(v)
    return out


def _radius_cos(distance_km: float | None) -> float:
    """The dot of cells the rule's radius admits: whole km rounded down <= r is d < floor(r) + 1."""
    if distance_km is None:
        return _ANY_DISTANCE
    return cos_of_distance(math.floor(distance_km) + 1 + _SLACK_KM)


def _cell_vector(lat: float, lon: float) -> tuple[float, float, float]:
    return unit_vector(*cell_centre(lat, lon))


class CandidateStore:
    """Attributes by row; `row_of` maps a user to their one live row."""

    def __init__(self, capacity: int = 1024) -> None:
        self._cap = max(16, capacity)
        self._n = 0
        self.people: list[Person | None] = []
        self.row_of: dict[UUID, int] = {}
        self.cols: dict[str, np.ndarray] = {
            k: np.full(self._cap, fill, dtype=t) for k, (t, fill) in _COLUMNS.items()
        }
        self.xyz = np.zeros((self._cap, 3), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.row_of)

    @property
    def n_rows(self) -> int:
        return self._n

    def person(self, user_id: UUID) -> Person | None:
        row = self.row_of.get(user_id)
        return None if row is None else self.people[row]

    def append(self, person: Person) -> int:
        """Add a row for `person`, killing their previous row if any."""
        self.remove(person.user_id)
        if self._n == self._cap:
            self._grow()
        row = self._n
        self._n += 1
        self.people.append(None)
        self.write(row, person)
        return row

    def extend_dead(self, n: int) -> None:
        """Reserve `n` dead rows (a loaded index's rows, before they are matched to people)."""
        while self._n + n > self._cap:
            self._grow()
        self._n += n
        self.people.extend([None] * n)

    def write(self, row: int, person: Person) -> None:
        """(Re)write the attributes of a live row in place."""
        self.people[row] = person
        self.row_of[person.user_id] = row
        for name, value in _row_values(person).items():
            self.cols[name][row] = value
        lat, lon = person.latitude, person.longitude
        self.xyz[row] = _cell_vector(lat, lon) if lat is not None and lon is not None else 0.0

    def set_last_active(self, user_id: UUID, at: datetime) -> None:
        """Move a live row's last activity forward; no filter column depends on it."""
        row = self.row_of.get(user_id)
        person = None if row is None else self.people[row]
        if row is not None and person is not None and at > person.last_active_at:
            self.people[row] = dataclasses.replace(person, last_active_at=at)

    def remove(self, user_id: UUID) -> int | None:
        row = self.row_of.pop(user_id, None)
        if row is not None:
            self.cols["alive"][row] = False
            self.people[row] = None
        return row

    def _grow(self) -> None:
        self._cap *= 2
        for name, (dtype, fill) in _COLUMNS.items():
            col: np.ndarray = np.full(self._cap, fill, dtype=dtype)
            col[: self._n] = self.cols[name][: self._n]
            self.cols[name] = col
        xyz = np.zeros((self._cap, 3), dtype=np.float64)
        xyz[: self._n] = self.xyz[: self._n]
        self.xyz = xyz

    def mask_for(
        self,
        requester: Person | None,
        filters: SearchFilters | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Rows that may pass every hard filter, both ways when there is a requester: over
        every row, or over `rows` only (the mask then lines up with `rows`), for a caller
        that holds a few candidate rows already (a batch search's)."""
        if rows is None:
            n = self._n
            c = {k: v[:n] for k, v in self.cols.items()}
            xyz = self.xyz[:n]
        else:
            c = {k: v[rows] for k, v in self.cols.items()}
            xyz = self.xyz[rows]
        mask = c["alive"].copy()
        if filters is not None:
            mask &= _filter_mask(c, xyz, filters)
        if requester is not None:
            row = self.row_of.get(requester.user_id)
            if row is not None:
                if rows is None:
                    mask[row] = False
                else:
                    mask &= rows != row
            mask &= _requester_side(c, xyz, requester)
            mask &= _candidate_side(c, xyz, requester)
        return mask


def _row_values(p: Person) -> dict[str, object]:
    pr = p.prefs
    return {
        "alive": True,
        "age": np.nan if p.age is None else float(p.age),
        "has_loc": p.has_location,
        "industry": code(p.industry),
        "company": code(p.company),
        "industry_bit": bit(p.industry),
        "job_bit": _JOB_LEVEL_BIT.get(p.job_level or "", 0),
        "size_bit": _SIZE_BIT.get(p.company_size or "", 0),
        "lang_bits": bits(p.languages),
        "gender_bit": _GENDER_BIT.get(p.gender or "", 0),
        "term_bits": bits(person_terms(p)),
        "p_age_min": -np.inf if pr.age_min is None else float(pr.age_min),
        "p_age_max": np.inf if pr.age_max is None else float(pr.age_max),
        # A radius without a location of one's own filters nobody (as in filters.accepts).
        "p_cos": _radius_cos(pr.distance_km) if p.has_location else _ANY_DISTANCE,
        "p_langs": bits(pr.languages),
        "p_industries": bits(pr.industries),
        "p_jobs": sum(_JOB_LEVEL_BIT[j] for j in pr.job_levels),
        "p_sizes": sum(_SIZE_BIT[s] for s in pr.company_sizes),
        "p_show_me": _gender_bits(pr.show_me),
        "x_colleagues": pr.exclude_colleagues,
        "x_competitors": pr.exclude_competitors,
    }


def _gender_bits(genders: frozenset[str]) -> int:
    return sum(_GENDER_BIT[g] for g in genders)


def _any_bits(col: np.ndarray, wanted: int) -> np.ndarray:
    """Rows with one of `wanted`'s bits; all rows when nothing is wanted."""
    if not wanted:
        return np.ones(len(col), dtype=bool)
    out: np.ndarray = (col & np.uint64(wanted)) != 0
    return out


def _dots(xyz: np.ndarray, lat: float, lon: float) -> np.ndarray:
    return xyz @ np.asarray(_cell_vector(lat, lon), dtype=np.float64)


def _filter_mask(c: dict[str, np.ndarray], xyz: np.ndarray, f: SearchFilters) -> np.ndarray:
    mask = np.ones(len(c["alive"]), dtype=bool)
    if f.age_min is not None:
        mask &= c["age"] >= f.age_min  # NaN (unknown age) compares False
    if f.age_max is not None:
        mask &= c["age"] <= f.age_max
    if f.max_distance_km is not None and f.latitude is not None and f.longitude is not None:
        dots = _dots(xyz, f.latitude, f.longitude)
        mask &= c["has_loc"] & (dots >= _radius_cos(f.max_distance_km))
    mask &= _any_bits(c["gender_bit"], _gender_bits(f.genders))
    mask &= _any_bits(c["job_bit"], sum(_JOB_LEVEL_BIT[j] for j in f.job_levels))
    mask &= _any_bits(c["industry_bit"], bits(f.industries))
    mask &= _any_bits(c["lang_bits"], bits(f.languages))
    if f.min_named >= len(f.named) > 0:  # every group's every part
        for group in f.named:
            wanted = np.uint64(bits(group))
            mask &= (c["term_bits"] & wanted) == wanted
    elif f.min_named > 0:  # a superset of "at least one group"
        mask &= _any_bits(c["term_bits"], bits(frozenset().union(*f.named)))
    return mask


def _requester_side(c: dict[str, np.ndarray], xyz: np.ndarray, r: Person) -> np.ndarray:
    """Candidates that satisfy the requester's preferences."""
    p = r.prefs
    mask = np.ones(len(c["alive"]), dtype=bool)
    if p.age_min is not None:
        mask &= c["age"] >= p.age_min
    if p.age_max is not None:
        mask &= c["age"] <= p.age_max
    if p.distance_km is not None and r.latitude is not None and r.longitude is not None:
        mask &= c["has_loc"] & (_dots(xyz, r.latitude, r.longitude) >= _radius_cos(p.distance_km))
    for col, wanted in (
        ("lang_bits", bits(p.languages)),
        ("industry_bit", bits(p.industries)),
        ("job_bit", sum(_JOB_LEVEL_BIT[j] for j in p.job_levels)),
        ("size_bit", sum(_SIZE_BIT[s] for s in p.company_sizes)),
        ("gender_bit", _gender_bits(p.show_me)),
    ):
        if wanted:
            mask &= (c[col] & np.uint64(wanted)) != 0
    return mask & ~_excluded_by_company(c, r, p.exclude_colleagues, p.exclude_competitors)


def _candidate_side(c: dict[str, np.ndarray], xyz: np.ndarray, r: Person) -> np.ndarray:
    """Candidates whose own preferences the requester satisfies."""
    if r.age is None:
        mask = np.isneginf(c["p_age_min"]) & np.isposinf(c["p_age_max"])
    else:
        mask = (c["p_age_min"] <= r.age) & (c["p_age_max"] >= r.age)
    if r.latitude is not None and r.longitude is not None:
        mask &= _dots(xyz, r.latitude, r.longitude) >= c["p_cos"]
    else:
        mask &= c["p_cos"] == _ANY_DISTANCE
    for col, mine in (
        ("p_langs", bits(r.languages)),
        ("p_industries", bit(r.industry)),
        ("p_jobs", _JOB_LEVEL_BIT.get(r.job_level or "", 0)),
        ("p_sizes", _SIZE_BIT.get(r.company_size or "", 0)),
        ("p_show_me", _GENDER_BIT.get(r.gender or "", 0)),
    ):
        mask &= (c[col] == 0) | ((c[col] & np.uint64(mine)) != 0)
    return mask & ~_excluded_by_company(c, r, c["x_colleagues"], c["x_competitors"])


def _excluded_by_company(
    c: dict[str, np.ndarray],
    r: Person,
    colleagues: bool | np.ndarray,
    competitors: bool | np.ndarray,
) -> np.ndarray:
    """Same company (colleagues) or same industry at another known company (competitors)."""
    mine, my_industry = code(r.company), code(r.industry)
    out = np.zeros(len(c["alive"]), dtype=bool)
    if mine:
        out |= (c["company"] == mine) & colleagues
        if my_industry:
            rival = (c["industry"] == my_industry) & (c["company"] != 0) & (c["company"] != mine)
            out |= rival & competitors
    return out
