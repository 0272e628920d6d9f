"""What every `matching` subcommand needs: settings from the environment, or a clear exit."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from matching.core.settings import Settings, SettingsError

# `subparsers` as argparse hands it out: each command module adds its parsers to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]


def settings() -> Settings:
    """Settings from the environment; a bad value exits with the setting's name."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"matching: {exc}") from exc


def require_database(settings: Settings) -> str:
    """The database URL, or exit: every command but `models` works on the database."""
    if not settings.database.url:
        raise SystemExit("matching: DATABASE_URL is not set (or use `matching up`)")
    return settings.database.url
