"""Reads the structured part of a search prompt into `SearchTerms` (its meaning is embedded
apart): phrases of the vocabulary, longest first, each word read once."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from matching.core.domain import vocabulary as v
from matching.core.domain.profile import MAX_TAGS
from matching.core.domain.search_terms import SearchTerms, singular, stem, words

# Words that read as a skill or interest far more often than they mean one.
_AMBIGUOUS = frozenset({"go", "r", "c", "film", "books", "history", "languages", "learning"})
_OBJECTS = frozenset({"job_levels", "roles", "genders"})
_NEGATIONS = frozenset({"not", "no", "without", "except", "excluding", "non"})
_DECADES = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6}
_PART = {"early": (0, 3), "mid": (3, 6), "late": (7, 9)}
_DECADE = re.compile(
    r"\b(?:(early|mid|late)[\s-]+)?(?:(\d)0s|(twenties|thirties|forties|fifties|sixties))\b"
)
_NOT_DISTANCE = r"(?!\s*(?:km|kilomet|mi\b|miles?))"
_RANGE = re.compile(
    r"\b(?:aged?|ages|between)\s+(\d{2})\s*(?:-|to|and)\s*(\d{2})\b" + _NOT_DISTANCE
)
_UNDER = re.compile(r"\b(?:under|younger than|below)\s+(\d{2})\b" + _NOT_DISTANCE)
_OVER = re.compile(r"\b(?:over|older than|above)\s+(\d{2})\b" + _NOT_DISTANCE)
_PLUS = re.compile(r"\b(\d{2})\s*\+")


@dataclass(frozen=True, slots=True)
class _Phrase:
    tokens: tuple[str, ...]
    field: str
    value: str
    match: Callable[[str], str] | None  # how words compare: stem, singular or as written


def _phrases() -> list[_Phrase]:
    def of(table: dict[str, str], field: str, how: Callable[[str], str] | None) -> list[_Phrase]:
        return [
            _Phrase(tuple(how(w) if how else w for w in words(k)), field, val, how)
            for k, val in table.items()
        ]

    def tags(values: frozenset[str]) -> dict[str, str]:
        # sorted: which of two terms sharing a stem is read must not depend on set order
        return {t: t for t in sorted(values) if t not in _AMBIGUOUS}

    goals = of(dict(v.GOAL_PHRASES), "networking_goals", stem) + of(
        dict(v.GOAL_VERBS), "goal_verb", None
    )
    out = of(dict(v.GENDER_WORDS), "genders", None)
    out += of(dict(v.LEVEL_WORDS), "job_levels", None)
    out += of(tags(v.ROLES), "roles", singular)
    out += of(tags(v.INDUSTRIES), "industries", None)
    out += of(tags(v.LANGUAGES), "languages", None)
    out += of(tags(v.GOALS), "networking_goals", stem)
    # A term as written before any stemmed one: "podcasts" is the interest, though the skill
    # "podcasting" shares its stem.
    out += of(tags(v.INTERESTS | v.SKILLS), "interests", None)
    out += of(tags(v.INTERESTS | v.SKILLS), "interests", stem)
    # Goals named by a phrase or a verb first (a verb's object is dropped before anything
    # reads it), then the longest first; among equal lengths, the order above.
    by_length: Callable[[_Phrase], int] = lambda p: -len(p.tokens)  # noqa: E731
    return sorted(goals, key=by_length) + sorted(out, key=by_length)


_PHRASES = _phrases()


class _Reader:
    def __init__(self, prompt: str) -> None:
        self.tokens = words(prompt)
        self.forms: dict[Callable[[str], str] | None, list[str]] = {
            None: self.tokens,
            stem: [stem(t) for t in self.tokens],
            singular: [singular(t) for t in self.tokens],
        }
        self.used = [False] * len(self.tokens)
        self.found: list[tuple[int, str, str]] = []  # (position, field, value)

    def at(self, i: int, p: _Phrase) -> bool:
        n = len(p.tokens)
        if i + n > len(self.tokens) or any(self.used[i : i + n]):
            return False
        return tuple(self.forms[p.match][i : i + n]) == p.tokens

    def terms(self) -> dict[str, list[str]]:
        """What was read, each field's values in the order the prompt names them."""
        out: dict[str, dict[str, None]] = {}
        for _, name, value in sorted(self.found):
            out.setdefault(name, {})[value] = None
        # A 500-character prompt can name more terms than a request may send back: keep
        # the first MAX_TAGS of each, so the reading always validates.
        return {name: list(values)[:MAX_TAGS] for name, values in out.items()}

    def read(self) -> None:
        for p in _PHRASES:
            for i in range(len(self.tokens)):
                if self.at(i, p):
                    self._take(i, p)

    def _take(self, i: int, p: _Phrase) -> None:
        end = i + len(p.tokens)
        self.used[i:end] = [True] * (end - i)
        negated = i > 0 and self.tokens[i - 1] in _NEGATIONS
        if p.field == "goal_verb":
            self._record(i, "networking_goals", p.value, negated)
            self._drop_object(end)
        else:
            self._record(i, p.field, p.value, negated)

    def _drop_object(self, start: int) -> None:
        """ "mentor founders", "hire senior backend engineers": whom they mentor or hire, not
        who they are. The object's words run on from the verb; one other word may come first."""
        pos, spare = start, 1
        while pos < len(self.tokens):
            found = next((p for p in _PHRASES if p.field in _OBJECTS and self.at(pos, p)), None)
            if found is not None:
                self.used[pos : pos + len(found.tokens)] = [True] * len(found.tokens)
                pos, spare = pos + len(found.tokens), 0
            elif spare and not self.used[pos]:
                pos, spare = pos + 1, 0
            else:
                return

    def _record(self, at: int, name: str, value: str, negated: bool) -> None:
        if not negated:
            self.found.append((at, name, value))


def read_terms(prompt: str) -> SearchTerms:
    """What a prompt names, as terms a client may show, remove and send back."""
    reader = _Reader(prompt)
    reader.read()
    low, high = read_ages(prompt.lower())
    return SearchTerms.model_validate(reader.terms() | {"age_min": low, "age_max": high})


def read_ages(text: str) -> tuple[int | None, int | None]:
    """An age range the prompt names ("in their 30s", "aged 25-35", "under 40"), if any."""
    clamp: Callable[[int], int] = lambda a: min(max(a, 16), 120)  # noqa: E731
    if m := _RANGE.search(text):
        first, second = sorted((int(m.group(1)), int(m.group(2))))
        return clamp(first), clamp(second)
    if m := _DECADE.search(text):
        decade = int(m.group(2)) if m.group(2) else _DECADES[m.group(3)]
        first, last = _PART.get(m.group(1) or "", (0, 9))
        return clamp(10 * decade + first), clamp(10 * decade + last)
    low: int | None = None
    high: int | None = None
    if m := _OVER.search(text):
        low = clamp(int(m.group(1)) + 1)
    if m := _PLUS.search(text):
        low = clamp(int(m.group(1)))
    if m := _UNDER.search(text):
        high = clamp(int(m.group(1)) - 1)
    if low is not None and high is not None and low > high:
        return None, None
    return low, high
