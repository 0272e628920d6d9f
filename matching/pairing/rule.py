"""`graph.acceptable` over arrays: the pair rule of one cycle for many (seeker, other) pairs
at once, so the candidate search checks a batch's fetched rows, or a block of seekers
against the whole pool, with numpy instead of one Python call per pair.

It restates the scalar rule (`core.domain.filters.accepts` both ways, each side's pool
criteria, the exclusions) over columns with exact codes: a value's code is its position in
the cycle's own vocabulary, so, unlike the serving store's hashed bits, nothing passes that
the scalar rule rejects. `tests/unit/test_pairing_rule.py` pins it to `graph.acceptable`
on the seeded random population. Distances go through the cells' unit vectors (accurate to
far below a metre); a pair within 1 m of a radius's edge is decided by `geo.public_km`
itself, so both forms draw the edge at the same place.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import numpy as np

from matching.core.domain.filters import SearchFilters, within_age_array
from matching.core.domain.geo import EARTH_RADIUS_KM, cell_centre, public_km, unit_vector
from matching.core.domain.person import Person
from matching.core.domain.search_terms import Group, hits, person_terms

if TYPE_CHECKING:
    from matching.pairing.graph import Seeker

_EDGE_KM = 1e-3  # pairs this close to a radius's edge are measured by geo.public_km
_NO_CUT = -2.0  # below any dot of unit vectors


class _Sets:
    """Each row's set of values as bits over a vocabulary (words of up to 64 bits)."""

    def __init__(self, rows: Sequence[Iterable[str | None]], vocab: dict[str, int]) -> None:
        codes = [sum(1 << vocab[v] for v in set(values) if v is not None) for values in rows]
        size = len(vocab)
        dtype = (
            np.uint8 if size <= 8 else
            np.uint16 if size <= 16 else
            np.uint32 if size <= 32 else np.uint64
        )  # fmt: skip
        self.words = [
            np.array([(c >> (64 * w)) & (2**64 - 1) for c in codes], dtype=dtype)
            for w in range(max(1, -(-size // 64)))
        ]
        self.empty = np.array([c == 0 for c in codes], dtype=bool)
        self.used = not bool(self.empty.all())  # some row names a value

    def shares(self, have: _Sets, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """Row ia's set shares a value with row ib's set in `have` (an empty set asks
        nothing: the caller tests only the rows that ask)."""
        out: np.ndarray | None = None
        for mine, theirs in zip(self.words, have.words, strict=True):
            hit = (mine[ia] & theirs[ib]) != 0
            out = hit if out is None else out | hit
        assert out is not None
        return out


def _where(
    out: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    asks: np.ndarray,
    test: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> None:
    """out &= test(ia, ib) where asks[ia], and nothing elsewhere: over only the rows (ia a
    column of seekers) or columns (ia a row of the pool) that ask, so a test few people ask
    costs little over a (seekers x pool) block."""
    flag = asks[ia]
    if not flag.any():
        return
    if ia.ndim == 2 and ia.shape[1] == 1 and ia.shape[0] == out.shape[0]:
        rows = np.flatnonzero(flag[:, 0])
        out[rows] &= test(ia[rows], ib if ib.shape[0] == 1 else ib[rows])
    elif ia.ndim == 2 and ia.shape[0] == 1 and ia.shape[1] == out.shape[1] > 1:
        cols = np.flatnonzero(flag[0])
        out[:, cols] &= test(ia[:, cols], ib if ib.shape[1] == 1 else ib[:, cols])
    else:
        out &= ~flag | test(ia, ib)


def _vocab(*groups: Iterable[Iterable[str | None]]) -> dict[str, int]:
    values = {v for group in groups for values in group for v in values if v is not None}
    return {v: k for k, v in enumerate(sorted(values))}


class _Radius:
    """Within r km of an origin, per seeker (inactive rows admit everyone), as
    `filters.distance_between(lat, lon, b) <= r` with b located."""

    def __init__(self, origins: Sequence[tuple[float, float, float] | None]) -> None:
        n = len(origins)
        self.active = np.array([o is not None for o in origins], dtype=bool)
        self.lat = np.zeros(n)
        self.lon = np.zeros(n)
        self.km = np.zeros(n)
        self.xyz = np.zeros((n, 3))
        self.cos_in = np.full(n, _NO_CUT)  # a dot above: surely within
        self.cos_out = np.full(n, _NO_CUT)  # a dot below: surely not
        for row, origin in enumerate(origins):
            if origin is None:
                continue
            lat, lon, km = origin
            self.lat[row], self.lon[row], self.km[row] = lat, lon, km
            self.xyz[row] = unit_vector(*cell_centre(lat, lon))
            # public_km <= km  <=>  the cells' distance + a hair < floor(km) + 1
            limit = math.floor(km) + 1
            self.cos_in[row] = _cos_km(limit - _EDGE_KM)
            self.cos_out[row] = _cos_km(limit + _EDGE_KM)
        self.used = bool(self.active.any())

    def admits(self, a: np.ndarray, b: np.ndarray, people: _People) -> np.ndarray:
        out = np.ones(len(a), dtype=bool)
        act = np.flatnonzero(self.active[a])
        if len(act) == 0:
            return out
        ra, rb = a[act], b[act]
        dots = np.einsum("ij,ij->i", self.xyz[ra], people.xyz[rb])
        located = people.located[rb]
        inside = located & (dots > self.cos_in[ra])
        edge = np.flatnonzero(located & ~inside & (dots >= self.cos_out[ra]))
        for e in edge.tolist():  # within a metre of the radius: the scalar measure decides
            i, j = int(ra[e]), int(rb[e])
            km = public_km(self.lat[i], self.lon[i], people.lat[j], people.lon[j])
            inside[e] = km <= self.km[i]
        out[act] = inside
        return out


def _cos_km(km: float) -> float:
    """The dot of two unit vectors `km` apart; past the antipode, below any dot."""
    angle = km / EARTH_RADIUS_KM
    return math.cos(angle) if angle < math.pi else _NO_CUT


class _People:
    """Where the others are: their cells' unit vectors and raw coordinates."""

    def __init__(self, seekers: Sequence[Seeker]) -> None:
        people = [s.person for s in seekers]
        self.located = np.array([p.has_location for p in people], dtype=bool)
        self.lat = np.array([p.latitude if p.has_location else 0.0 for p in people], dtype=float)
        self.lon = np.array([p.longitude if p.has_location else 0.0 for p in people], dtype=float)
        self.xyz = np.zeros((len(people), 3))
        for row, p in enumerate(people):
            if p.latitude is not None and p.longitude is not None:
                self.xyz[row] = unit_vector(*cell_centre(p.latitude, p.longitude))


def _nan(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


class PairRule:
    """`graph.acceptable(seekers[i], seekers[j], excluded)` for arrays of positions."""

    def __init__(self, seekers: Sequence[Seeker], excluded: Mapping[UUID, set[UUID]]) -> None:
        people = [s.person for s in seekers]
        prefs = [p.prefs for p in people]
        crit: list[SearchFilters] = [s.criteria for s in seekers]
        self.n = len(seekers)
        ids: dict[UUID, int] = {}
        self.uid = np.array([ids.setdefault(p.user_id, len(ids)) for p in people], np.int64)
        # what each person is
        lang = _vocab([p.languages for p in people], [x.languages for x in prefs],
                      [c.languages for c in crit])  # fmt: skip
        gender = _vocab([[p.gender] for p in people], [x.show_me for x in prefs],
                        [c.genders for c in crit])  # fmt: skip
        industry = _vocab([[p.industry] for p in people], [x.industries for x in prefs],
                          [c.industries for c in crit])  # fmt: skip
        job = _vocab([[p.job_level] for p in people], [x.job_levels for x in prefs],
                     [c.job_levels for c in crit])  # fmt: skip
        size = _vocab([[p.company_size] for p in people], [x.company_sizes for x in prefs])
        self.lang = _Sets([p.languages for p in people], lang)
        self.gender = _Sets([[p.gender] for p in people], gender)
        self.industry = _Sets([[p.industry] for p in people], industry)
        self.job = _Sets([[p.job_level] for p in people], job)
        self.size = _Sets([[p.company_size] for p in people], size)
        self.age = _nan(p.age for p in people)
        names = _vocab([[p.company, p.industry] for p in people])
        self.company = np.array([0 if p.company is None else names[p.company] + 1 for p in people])
        self.sector = np.array([0 if p.industry is None else names[p.industry] + 1 for p in people])
        self.people = _People(seekers)
        # what each person asks of the other (core.domain.filters.accepts)
        self.p_lang = _Sets([x.languages for x in prefs], lang)
        self.p_gender = _Sets([x.show_me for x in prefs], gender)
        self.p_industry = _Sets([x.industries for x in prefs], industry)
        self.p_job = _Sets([x.job_levels for x in prefs], job)
        self.p_size = _Sets([x.company_sizes for x in prefs], size)
        self.p_age_min = _nan(x.age_min for x in prefs)
        self.p_age_max = _nan(x.age_max for x in prefs)
        self.p_asks_age = ~(np.isnan(self.p_age_min) & np.isnan(self.p_age_max))
        self.p_aged = bool(self.p_asks_age.any())
        self.x_colleagues = np.array([x.exclude_colleagues for x in prefs], dtype=bool)
        self.x_competitors = np.array([x.exclude_competitors for x in prefs], dtype=bool)
        self.p_radius = _Radius([
            (p.latitude, p.longitude, p.prefs.distance_km)
            if p.prefs.distance_km is not None and p.latitude is not None
            and p.longitude is not None else None
            for p in people
        ])  # fmt: skip
        # and the pool criteria (SearchFilters.accepts)
        self.c_lang = _Sets([c.languages for c in crit], lang)
        self.c_gender = _Sets([c.genders for c in crit], gender)
        self.c_industry = _Sets([c.industries for c in crit], industry)
        self.c_job = _Sets([c.job_levels for c in crit], job)
        self.c_age_min = _nan(c.age_min for c in crit)
        self.c_age_max = _nan(c.age_max for c in crit)
        self.c_asks_age = ~(np.isnan(self.c_age_min) & np.isnan(self.c_age_max))
        self.c_aged = bool(self.c_asks_age.any())
        self.c_radius = _Radius([
            (c.latitude, c.longitude, c.max_distance_km)
            if c.max_distance_km is not None and c.latitude is not None
            and c.longitude is not None else None
            for c in crit
        ])  # fmt: skip
        self.named_key, self.named_ok = _named(crit, people)
        self.excluded = _exclusion_keys(people_ids=[p.user_id for p in people], excluded=excluded)

    def ok(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """Whether seeker ia and seeker ib may be paired, element-wise over the broadcast of
        the two position arrays (e.g. (seekers, 1) against (1, pool) or (seekers, fetched))."""
        ia, ib = np.asarray(ia), np.asarray(ib)
        out = self.most(ia, ib)
        if not out.any():
            return out
        a = np.broadcast_to(ia, out.shape)[out]
        b = np.broadcast_to(ib, out.shape)[out]
        keep = self.rest(a, b)
        if len(self.excluded):
            keys = a * self.n + b
            at = np.minimum(np.searchsorted(self.excluded, keys), len(self.excluded) - 1)
            keep &= self.excluded[at] != keys
        out[out] = keep
        return out

    def most(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """The rule but for radii, named terms and exclusions (`rest`): a superset of `ok`,
        for a search that checks the rest on the few rows it fetches."""
        theirs = (  # the pool's asks of a block of seekers: rows of the pool compact best
            self._cheap(ib.T, ia.T).T
            if ia.ndim == 2 and ib.ndim == 2 and ia.shape[1] == 1 and ib.shape[0] == 1
            else self._cheap(ib, ia)
        )
        return (self.uid[ia] != self.uid[ib]) & self._cheap(ia, ib) & theirs

    def rest(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Radii and named terms both ways, over 1-d arrays of pairs that passed `most`."""
        return self._costly(a, b) & self._costly(b, a)

    def excluded_for(self, i: int) -> np.ndarray:
        """The positions seeker i is excluded from (blocks, recent partners)."""
        lo, hi = np.searchsorted(self.excluded, [i * self.n, (i + 1) * self.n])
        out: np.ndarray = self.excluded[lo:hi] - i * self.n
        return out

    def _cheap(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """ia's preferences and criteria met by ib, but for radii and named terms. Each
        test runs only where ia asks it (rows or columns of a (seekers x pool) block)."""
        out = np.ones(np.broadcast_shapes(ia.shape, ib.shape), dtype=bool)
        for want, have in (
            (self.p_lang, self.lang),
            (self.p_gender, self.gender),
            (self.p_industry, self.industry),
            (self.p_job, self.job),
            (self.p_size, self.size),
            (self.c_lang, self.lang),
            (self.c_gender, self.gender),
            (self.c_industry, self.industry),
            (self.c_job, self.job),
        ):
            if want.used:
                _where(out, ia, ib, ~want.empty, functools.partial(want.shares, have))
        if self.p_aged:
            _where(out, ia, ib, self.p_asks_age, self._in_age_range)
        if self.c_aged:
            _where(out, ia, ib, self.c_asks_age, self._in_age_bounds)
        if self.x_colleagues.any():
            _where(out, ia, ib, self.x_colleagues & (self.company != 0), self._not_colleague)
        if self.x_competitors.any():
            asks = self.x_competitors & (self.company != 0) & (self.sector != 0)
            _where(out, ia, ib, asks, self._not_competitor)
        return out

    def _in_age_range(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        return within_age_array(self.p_age_min[ia], self.p_age_max[ia], self.age[ib])

    def _in_age_bounds(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """SearchFilters' ages: an unknown age meets no bound."""
        age, low, high = self.age[ib], self.c_age_min[ia], self.c_age_max[ia]
        out: np.ndarray = (np.isnan(low) | (age >= low)) & (np.isnan(high) | (age <= high))
        return out

    def _not_colleague(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.company[ia] != self.company[ib]
        return out

    def _not_competitor(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        mine, theirs = self.company[ia], self.company[ib]
        same_sector = self.sector[ia] == self.sector[ib]
        out: np.ndarray = ~(same_sector & (theirs != 0) & (mine != theirs))
        return out

    def _costly(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a's radii and named terms met by b, over the pairs that passed the rest."""
        out = np.ones(len(a), dtype=bool)
        for radius in (self.p_radius, self.c_radius):
            if radius.used:
                out &= radius.admits(a, b, self.people)
        if self.named_ok is not None:
            key = self.named_key[a]
            asks = np.flatnonzero(key >= 0)
            out[asks] &= self.named_ok[key[asks], b[asks]]
        return out


def _named(
    crit: Sequence[SearchFilters], people: Sequence[Person]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per seeker, which distinct (named, min_named) they ask (-1: none), and per distinct
    ask, who meets it (SearchFilters.accepts's named-term test, by `hits` itself)."""
    asks: dict[tuple[tuple[Group, ...], int], int] = {}
    key = np.array(
        [asks.setdefault((c.named, c.min_named), len(asks)) if c.min_named else -1 for c in crit],
        dtype=np.int64,
    )
    if not asks:
        return key, None
    terms = [person_terms(p) for p in people]
    return key, np.array([[hits(g, t) >= m for t in terms] for g, m in asks], dtype=bool)


def _exclusion_keys(people_ids: Sequence[UUID], excluded: Mapping[UUID, set[UUID]]) -> np.ndarray:
    """Sorted `i * n + j` of every excluded ordered pair of positions."""
    n = len(people_ids)
    rows: dict[UUID, list[int]] = {}
    for row, user_id in enumerate(people_ids):
        rows.setdefault(user_id, []).append(row)
    keys = [
        i * n + j
        for user_id, others in excluded.items()
        for i in rows.get(user_id, ())
        for other in others
        for j in rows.get(other, ())
    ]
    return np.unique(np.array(keys, dtype=np.int64))
