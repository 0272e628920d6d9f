"""Versioned artifact folders: written whole by a job, read by replicas, never edited.

`publish` records the sha256 of every file in the manifest (`sha256`: path -> digest);
replicas `verify` a folder against it before loading anything from it (a model file is a
pickle: loading a tampered one runs its code).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
CHECKSUMS = "sha256"  # manifest key: relative path -> hex digest of each file
_CHUNK = 1 << 20


class ArtifactMismatch(RuntimeError):
    """A version's files do not match the checksums its manifest recorded (or it has none)."""


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` but the manifest, by POSIX relative path."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != MANIFEST
    }


def publish(tmp: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest (with every file's sha256) last and rename into place: readers
    see all of it or nothing."""
    body = manifest_text(manifest, checksums(tmp))
    (tmp / MANIFEST).write_text(body)
    final = tmp.parent / str(manifest["version"])
    os.replace(tmp, final)
    return final


def manifest_text(manifest: dict[str, Any], sums: dict[str, str]) -> str:
    """The manifest file's text: when and by which code, `manifest`, the files' sha256."""
    body: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(),
        "code_version": code_version(),
    }
    body.update(manifest)
    body[CHECKSUMS] = sums
    return json.dumps(body, indent=2, sort_keys=True, default=str)


def read_manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    return data


def verify(folder: Path, required: Iterable[str]) -> dict[str, Any]:
    """The manifest, once every file it lists matches its sha256 and every `required` file
    (what the loader will read) is listed; ArtifactMismatch says which file does not."""
    try:
        manifest = read_manifest(folder)
    except (OSError, ValueError) as exc:
        raise ArtifactMismatch(f"{folder.name}: unreadable {MANIFEST}: {exc}") from exc
    listed = manifest.get(CHECKSUMS)
    if not isinstance(listed, dict) or not listed:
        raise ArtifactMismatch(f"{folder.name}: the manifest records no checksums")
    unlisted = sorted(set(required) - set(listed))
    if unlisted:
        raise ArtifactMismatch(f"{folder.name}: no checksum for {', '.join(unlisted)}")
    root = folder.resolve()
    for name, expected in sorted(listed.items()):
        path = (folder / str(name)).resolve()
        if not path.is_relative_to(root):  # a manifest must not make us read elsewhere
            raise ArtifactMismatch(f"{folder.name}: {name} is outside the version folder")
        if not path.is_file():
            raise ArtifactMismatch(f"{folder.name}: {name} is missing")
        if sha256_file(path) != expected:
            raise ArtifactMismatch(f"{folder.name}: {name} does not match its sha256")
    return manifest


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
