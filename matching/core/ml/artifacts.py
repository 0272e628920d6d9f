"""Versioned artifact folders: written whole by a job, read by replicas, never edited."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def new_version(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def code_version() -> str:
    """The git commit of the code that wrote an artifact, when there is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def staging(root: Path, kind: str, version: str) -> Path:
    """An empty `root/kind/.version.tmp`; the caller fills it, then `publish` renames it."""
    tmp = root / kind / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def publish(tmp: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest last and rename into place: readers see all of it or nothing."""
    body = {"created_at": datetime.now(UTC).isoformat(), "code_version": code_version()}
    body.update(manifest)
    (tmp / MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True, default=str))
    final = tmp.parent / str(body["version"])
    os.replace(tmp, final)
    return final


def read_manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    return data


def versions(root: Path, kind: str) -> list[Path]:
    """Complete artifact folders of a kind, oldest first."""
    base = root / kind
    if not base.is_dir():
        return []
    return sorted(
        p for p in base.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def latest(root: Path, kind: str) -> Path | None:
    found = versions(root, kind)
    return found[-1] if found else None
