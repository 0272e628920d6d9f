"""The queue definition: which criteria a ticket names, their allowed values, and how each
relaxes after a wait. Pure: the matcher, the service and the tests share it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from matching.core.settings import QueueSettings, SettingsError

Relax = Literal["none", "adjacent", "any"]
SEP = "|"  # joins criteria values into a key; values may not contain it


class Criterion(BaseModel):
    """One field of a ticket's criteria."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    values: tuple[str, ...] = Field(min_length=1, max_length=200)
    relax: Relax = "none"
    relax_after_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _clean_values(self) -> Criterion:
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"{self.name}: values repeat")
        if any(not v or SEP in v or len(v) > 64 for v in self.values):
            raise ValueError(f"{self.name}: values must be 1-64 characters without {SEP!r}")
        return self


class Item(BaseModel):
    """Something a session can be about (a question id), for the criteria it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    criteria: dict[str, str] = Field(default_factory=dict)


class QueueDefinition(BaseModel):
    """The whole definition; `from_settings` validates MATCHING_QUEUE_DEFINITION."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: tuple[Criterion, ...] = Field(min_length=1, max_length=8)
    items: tuple[Item, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> QueueDefinition:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names repeat")
        return self

    @classmethod
    def from_settings(cls, settings: QueueSettings) -> QueueDefinition:
        try:
            return cls.model_validate(settings.definition_dict)
        except ValidationError as exc:
            raise SettingsError(f"MATCHING_QUEUE_DEFINITION: {exc}") from exc

    def problem(self, criteria: Mapping[str, Any]) -> tuple[str, str] | None:
        """(field, message) for the first thing wrong with a ticket's criteria, or None."""
        known = {f.name for f in self.fields}
        for name in criteria:
            if name not in known:
                return f"criteria.{name}", f"criteria.{name}: not a field of this queue"
        for f in self.fields:
            value = criteria.get(f.name)
            if value is None:
                return f"criteria.{f.name}", f"criteria.{f.name}: required"
            if value not in f.values:
                allowed = ", ".join(f.values[:20])
                return f"criteria.{f.name}", f"criteria.{f.name}: must be one of {allowed}"
        return None

    def key(self, criteria: Mapping[str, str]) -> str:
        """The criteria as one key, values in field order (a sorted set per key)."""
        return SEP.join(criteria[f.name] for f in self.fields)

    def criteria(self, key: str) -> dict[str, str]:
        return dict(zip((f.name for f in self.fields), key.split(SEP), strict=True))

    def all_keys(self) -> list[str]:
        """Every combination of values, in definition order."""
        return [SEP.join(c) for c in itertools.product(*(f.values for f in self.fields))]

    def relax_after(self, default_s: float) -> dict[str, float]:
        """When each relaxable field relaxes; by default the n-th one after n waits."""
        out, n = {}, 0
        for f in self.fields:
            if f.relax != "none":
                n += 1
                out[f.name] = f.relax_after_s if f.relax_after_s is not None else default_s * n
        return out

    def relaxation(
        self, a: str, b: str, waited_s: float, relax_after: Mapping[str, float]
    ) -> dict[str, str] | None:
        """How two keys' tickets may meet when both have waited `waited_s`: {} for the
        same criteria, the relaxed fields and how, or None when they may not (yet)."""
        used: dict[str, str] = {}
        for f, va, vb in zip(self.fields, a.split(SEP), b.split(SEP), strict=True):
            if va == vb:
                continue
            if f.relax == "none" or waited_s < relax_after[f.name]:
                return None
            if f.relax == "adjacent" and abs(f.values.index(va) - f.values.index(vb)) != 1:
                return None
            used[f.name] = f.relax
        return used

    def item_for(self, criteria: Mapping[str, str], pick: int) -> str | None:
        """The `pick`-th (mod) item whose criteria the session's match, or None."""
        fits = [
            i.id for i in self.items if all(criteria.get(k) == v for k, v in i.criteria.items())
        ]
        return fits[pick % len(fits)] if fits else None
