"""The `matching` command: migrate, build-index, expire-matches, jobs, models (what RayJobs
run), plus the subcommands of installed plugins (entry-point group `matching.commands`; the
dev tools add up, seed and simulate)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points

from matching.cli import database, jobs, k8s, models, pairing
from matching.cli.common import Subparsers
from matching.core import logs

PLUGIN_GROUP = "matching.commands"


def plugins() -> list[EntryPoint]:
    """The installed `matching.commands` entry points, by name (so --help reads the same)."""
    return sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name)


def _add_plugins(sub: Subparsers, found: Iterable[EntryPoint]) -> None:
    for ep in found:
        try:
            register = ep.load()
        except Exception as exc:  # a broken or half-removed plugin must not take the CLI down
            print(f"matching: plugin {ep.name} ({ep.value}) not loaded: {exc}", file=sys.stderr)
            continue
        # a name clash with a built-in command raises here: that is a bug in the plugin
        register(sub)


def parser(found: Iterable[EntryPoint] | None = None) -> argparse.ArgumentParser:
    """The full parser: built-in commands, then those of `found` (default: installed plugins)."""
    p = argparse.ArgumentParser(prog="matching", description=__doc__)
    p.add_argument("--log-level", default="INFO")
    p.add_argument(
        "--log-encoding",
        choices=["JSON", "TEXT"],
        type=str.upper,
        default=os.environ.get("MATCHING_LOG_ENCODING", "JSON").upper(),
        help="log lines as JSON objects (default) or text (env MATCHING_LOG_ENCODING)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for module in (database, jobs, models, k8s, pairing):
        module.register(sub)
    _add_plugins(sub, plugins() if found is None else found)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, configure logging, run the chosen command; its return value is the exit status."""
    args = parser().parse_args(argv)
    logs.configure(args.log_level, args.log_encoding)
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
