"""The providers as columns, for ranking vectorised over all of them at once.

A `Catalogue` is an immutable snapshot: a provider write builds the next one, and a ranking
in flight keeps the one it started with. Its text vectors sit in the core `VectorIndex`
(the retrieval index discovery uses), row-numbered like the columns.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import numpy as np

from matching.core.retrieval.index import IndexParams, VectorIndex
from matching.requests import availability
from matching.requests.schemas import SESSION_TYPES, ProviderUpsert, minutes
from matching.requests.skills import level_index, normal

DIM = 384  # all-MiniLM-L6-v2; an empty catalogue still needs one


@dataclass(frozen=True, slots=True)
class Provider:
    provider_id: UUID
    body: ProviderUpsert
    vector: np.ndarray
    updated_at: datetime
    # One row per skill of `body`, in its order; None: stored before skills were embedded
    skill_vectors: np.ndarray | None = None


def session_bit(session_type: str) -> int:
    return 1 << SESSION_TYPES.index(session_type)


def completeness(p: ProviderUpsert) -> float:
    """The share of what ranking reads that the provider has filled in."""
    present = (
        bool(p.bio),
        bool(p.title),
        bool(p.skills),
        any(s.years > 0 for s in p.skills),
        bool(p.languages),
        bool(p.availability),
        p.rating_count > 0,
        p.sessions_completed > 0,
    )
    return sum(present) / len(present)


def weekly_slots(p: ProviderUpsert) -> list[availability.WeeklySlot]:
    return [(s.day_of_week, minutes(s.start), minutes(s.end), s.timezone) for s in p.availability]


@dataclass(slots=True)
class Catalogue:
    """Column arrays of every stored provider (inactive ones too: a filter removes them)."""

    providers: list[Provider]
    active: np.ndarray
    session_bits: np.ndarray
    capacity: np.ndarray
    rate: np.ndarray
    currency: np.ndarray
    languages: np.ndarray  # (N, L) bool
    language_index: dict[str, int]
    vocab: list[str]
    vocab_vectors: np.ndarray
    entry_row: np.ndarray  # one entry per (provider, skill)
    entry_skill: np.ndarray
    entry_level: np.ndarray
    entry_years: np.ndarray
    entry_certified: np.ndarray
    max_years: np.ndarray
    rating_avg: np.ndarray
    rating_n: np.ndarray
    sessions: np.ndarray
    success: np.ndarray
    complete: np.ndarray
    slots: list[list[availability.WeeklySlot]]
    index: VectorIndex
    _weeks: dict[datetime, np.ndarray] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.providers)

    def week(self, start: datetime) -> np.ndarray:
        """Every provider's bins of the window from `start` (kept for the two last windows)."""
        with self._lock:
            found = self._weeks.get(start)
        if found is None:
            found = availability.matrix(self.slots, start)
            with self._lock:
                if len(self._weeks) >= 2:
                    self._weeks.pop(min(self._weeks))
                self._weeks[start] = found
        return found


def _column(values: list[float], dtype: type = np.float64) -> np.ndarray:
    return np.asarray(values, dtype=dtype)


def build(providers: list[Provider], vocab_vectors: dict[str, np.ndarray]) -> Catalogue:
    """The columns of `providers`; `vocab_vectors` holds every normal skill name's vector."""
    bodies = [p.body for p in providers]
    languages = sorted({lang.casefold() for b in bodies for lang in b.languages})
    language_index = {lang: i for i, lang in enumerate(languages)}
    lang = np.zeros((len(bodies), len(languages)), dtype=bool)
    for row, b in enumerate(bodies):
        lang[row, [language_index[x.casefold()] for x in b.languages]] = True
    entries = [(row, s) for row, b in enumerate(bodies) for s in b.skills]
    vocab = sorted({normal(s.name) for _, s in entries})
    skill_index = {name: i for i, name in enumerate(vocab)}
    vectors = [vocab_vectors[v] for v in vocab]
    index = VectorIndex(IndexParams(kind="flat", dim=DIM))
    if providers:
        index.add(np.stack([p.vector for p in providers]))
    return Catalogue(
        providers=providers,
        active=_column([b.active for b in bodies], np.bool_),
        session_bits=_column(
            [sum(session_bit(t) for t in set(b.session_types)) for b in bodies], np.int64
        ),
        capacity=_column([b.max_participants for b in bodies], np.int64),
        rate=_column([b.hourly_rate for b in bodies]),
        currency=np.asarray([b.currency for b in bodies], dtype=object),
        languages=lang,
        language_index=language_index,
        vocab=vocab,
        vocab_vectors=np.stack(vectors) if vectors else np.zeros((0, DIM), np.float32),
        entry_row=_column([r for r, _ in entries], np.int64),
        entry_skill=_column([skill_index[normal(s.name)] for _, s in entries], np.int64),
        entry_level=_column([level_index(s.level) for _, s in entries], np.int64),
        entry_years=_column([s.years for _, s in entries]),
        entry_certified=_column([s.certified for _, s in entries], np.bool_),
        max_years=_column([max((s.years for s in b.skills), default=0.0) for b in bodies]),
        rating_avg=_column([b.rating_average for b in bodies]),
        rating_n=_column([b.rating_count for b in bodies]),
        sessions=_column([b.sessions_completed for b in bodies]),
        success=_column([b.success_rate for b in bodies]),
        complete=_column([completeness(b) for b in bodies]),
        slots=[weekly_slots(b) for b in bodies],
        index=index,
    )


def skill_names(body: ProviderUpsert) -> list[str]:
    return [normal(s.name) for s in body.skills]


def vocab_vectors(providers: list[Provider]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every normal skill name's vector, as stored with the providers who name it (the same
    model embedded them all); and the names no provider has a vector for, which get a zero
    vector and so match by name only (`skills.same_skill`'s lexical rules)."""
    found: dict[str, np.ndarray] = {}
    for p in providers:
        if p.skill_vectors is not None:
            for name, row in zip(skill_names(p.body), p.skill_vectors, strict=True):
                found.setdefault(name, row)
    missing = sorted({n for p in providers for n in skill_names(p.body)} - found.keys())
    for name in missing:
        found[name] = np.zeros(DIM, dtype=np.float32)
    return found, missing


def provider_text(p: ProviderUpsert) -> str:
    """The text a provider is embedded by (the service and the demo/bench use this one)."""
    head = " ".join(x for x in (p.name, "-", p.title or "", p.company or "") if x)
    skills = ", ".join(s.name for s in p.skills)
    return f"{head}. {p.bio or ''} Skills: {skills}.".strip()


def carry_weeks(old: Catalogue | None, new: Catalogue) -> None:
    """Give `new` the availability windows `old` had computed, re-placing only the providers
    that changed (an unchanged provider is the same `Provider` object in both)."""
    if old is None:
        return
    before = {id(p): row for row, p in enumerate(old.providers)}
    pairs = [(row, before[id(p)]) for row, p in enumerate(new.providers) if id(p) in before]
    kept = np.array([n for n, _ in pairs], dtype=np.int64)
    source = np.array([o for _, o in pairs], dtype=np.int64)
    fresh = sorted(set(range(len(new))) - set(kept.tolist()))
    for start, matrix in list(old._weeks.items()):
        out = np.zeros((len(new), availability.BINS), dtype=np.uint8)
        out[kept] = matrix[source]
        for row in fresh:
            if new.slots[row]:
                out[row] = availability.bins(new.slots[row], start)
        new._weeks[start] = out
