"""What a search names: hard terms that filter and soft terms that rank before meaning does.

Genders, ages, distance, job levels, industries and languages are hard filters. Interests
(matched against a person's interests and skills), networking goals and roles (matched
against the words of a job title) are named terms: a person with more of them ranks above
one with fewer, whatever the prompt's semantic similarity says.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from matching.core.domain.person import Person
from matching.core.domain.profile import MAX_TAGS, Gender, JobLevel, Tags

# A named term's parts, all of which a person must have: "i:hiking", "g:mentorship", or
# the singular words of a role ("r:data", "r:engineer" for "data engineers").
Group = frozenset[str]


def stem(word: str) -> str:
    """Plural, -er, -ing and a final -e to one stem ("hike", "hikers", "hiking" -> "hik")."""
    for suffix in ("ings", "ing", "ers", "er", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def singular(word: str) -> str:
    """Role nouns are matched singular ("engineers" ~ "engineer", "designing" is no designer)."""
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9+#]+", text.lower())


class SearchTerms(BaseModel):
    """What a prompt was read as (the `interpreted` chips), and what a client may send back
    instead: when given in a request, the prompt is used only for its meaning."""

    model_config = ConfigDict(extra="forbid")

    genders: list[Gender] = Field(default_factory=list, max_length=5)
    interests: Tags = Field(default_factory=list)
    networking_goals: Tags = Field(default_factory=list)
    industries: Tags = Field(default_factory=list)
    job_levels: list[JobLevel] = Field(default_factory=list, max_length=MAX_TAGS)
    roles: Tags = Field(default_factory=list)
    languages: Tags = Field(default_factory=list)
    age_min: int | None = Field(default=None, ge=16, le=120)
    age_max: int | None = Field(default=None, ge=16, le=120)

    @field_validator("age_max")
    @classmethod
    def _age_range(cls, v: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("age_min")
        if v is not None and low is not None and low > v:
            raise ValueError(f"age_max ({v}) must not be less than age_min ({low})")
        return v

    def groups(self) -> tuple[Group, ...]:
        """The soft terms, one group per named term (see `named_hits`)."""
        out = [frozenset({f"i:{t}"}) for t in self.interests]
        out += [frozenset({f"g:{t}"}) for t in self.networking_goals]
        out += [frozenset(f"r:{singular(w)}" for w in words(t)) for t in self.roles]
        return tuple(g for g in out if g)

    def chips(self) -> list[dict[str, str]]:
        """One removable chip per value read, as (field, value)."""
        out = []
        for name in ("genders", "interests", "networking_goals", "industries", "job_levels"):
            out += [{"field": name, "value": str(v)} for v in getattr(self, name)]
        out += [{"field": "roles", "value": v} for v in self.roles]
        out += [{"field": "languages", "value": v} for v in self.languages]
        if self.age_min is not None or self.age_max is not None:
            low, high = self.age_min or "", self.age_max or ""
            out.append({"field": "age", "value": f"{low}-{high}"})
        return out


def person_terms(p: Person) -> frozenset[str]:
    """What a person's profile offers for the named terms to match."""
    out = {f"i:{t}" for t in p.interests | p.skills}
    out |= {f"g:{t}" for t in p.networking_goals}
    out |= {f"r:{singular(w)}" for w in words(p.job_title or "")}
    return frozenset(out)


def hits(groups: tuple[Group, ...], terms: frozenset[str]) -> int:
    return sum(1 for g in groups if g <= terms)


def named_hits(groups: tuple[Group, ...], people: list[Person]) -> np.ndarray:
    """How many of the named terms each person has."""
    if not groups:
        return np.zeros(len(people))
    return np.array([hits(groups, person_terms(p)) for p in people], dtype=np.float64)
