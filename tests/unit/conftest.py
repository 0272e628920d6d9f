"""Unit tier: pure domain code only. Ray must never start, and the process environment
must not leak into settings built from an explicit mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from factories import make_person as _make_person
from factories import random_population

from matching.core.domain.person import Person
from matching.core.settings import known_env_names


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("unit tests must not start Ray")

    monkeypatch.setattr(ray, "init", refuse)


@pytest.fixture(autouse=True)
def _clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of this service set in the shell (or CI) must not change unit results."""
    for name in known_env_names():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_person() -> Callable[..., Person]:
    """`make_person(**overrides)`: see tests/unit/factories.py."""
    return _make_person


@pytest.fixture(scope="session")
def population() -> list[Person]:
    """400 varied people (seed 7); treat as read-only."""
    return random_population(400, seed=7)
