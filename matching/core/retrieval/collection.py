"""Collections: the other kinds of item a Retriever keeps beside people.

A mode whose items are retrieved (request matching's providers) names its collection under
the `matching.collections` entry point; a Retriever replica opens it on first use, with the
replica's settings and model version, and from then on holds it as it holds the people's
index: loaded once, kept in step with its own change log before each answer. The core
names no mode: the entry point is how a collection arrives, as `matching.commands` does
for the CLI.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

import asyncpg

from matching.core.settings import Settings

GROUP = "matching.collections"


class Collection(Protocol):
    async def sync(self, pool: asyncpg.Pool) -> None:
        """Apply every change committed before this call."""

    async def query(self, pool: asyncpg.Pool, *args: Any) -> Any:
        """Answer a query over every item written before this call."""

    def info(self) -> dict[str, Any]: ...


class CollectionFactory(Protocol):
    def __call__(self, settings: Settings, model_version: str) -> Collection: ...


class UnknownCollection(LookupError):
    """No installed package provides a collection of that name."""


def names() -> list[str]:
    return sorted(e.name for e in entry_points(group=GROUP))


def factory(name: str) -> CollectionFactory:
    found = entry_points(group=GROUP, name=name)
    if not found:
        raise UnknownCollection(f"no collection {name!r} (installed: {names()})")
    loaded: CollectionFactory = next(iter(found)).load()
    return loaded
