"""The built wheel, installed (not editable) in a fresh virtual environment, carries what the
RayJobs and the replicas read at run time: every job's config and the SQL migrations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from training.jobs import JOBS

ROOT = Path(__file__).resolve().parents[2]

# Runs inside the new environment, with cwd outside the repository.
CHECK = """
import json, sys
from importlib import resources
import matching, training
from training import jobs
from matching.core.storage.migrate import migration_files
print(json.dumps({
    "files": [matching.__file__, training.__file__],
    "configs": {name: jobs.load_config(name) for name in jobs.JOBS},
    "migrations": sorted(
        e.name for e in resources.files("matching.core.storage").joinpath("migrations").iterdir()
        if e.name.endswith(".sql")
    ),
    "migration_files": len(migration_files()),
    "admin_page": __import__("serve_app.admin_page").admin_page._page()[:15],
}))
"""


def _build_context(dest: Path) -> Path:
    """What the Dockerfile's build stage copies (COPY lines without --from): the wheel the
    image installs is built from exactly these files."""
    dest.mkdir(parents=True)
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] != ["COPY"] or any(w.startswith("--") for w in words):
            continue
        for source in words[1:-1]:
            src = ROOT / source
            if src.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info")
                shutil.copytree(src, dest / source, ignore=ignore)
            else:
                shutil.copy2(src, dest / source)
    return dest


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Builds the wheel, installs it into a new venv, runs CHECK there; returns its report."""
    tmp = tmp_path_factory.mktemp("wheel")
    context = _build_context(tmp / "context")
    # No build isolation: setuptools comes from this venv, so the build needs no network.
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    _run([*pip_wheel, "-w", str(tmp / "dist"), str(context)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("matching_service-*.whl")

    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = _run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], tmp)
    # Third-party dependencies (ray, torch, pydantic, ...) from this venv instead of
    # reinstalling them: a plain path line, so this venv's editable-install hook (a .pth
    # with an import) is not processed and the project can only come from the wheel.
    (Path(site.strip()) / "deps.pth").write_text(sysconfig.get_paths()["purelib"])
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    _run([*pip, "--no-index", str(wheel)], cwd=tmp)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MATCHING_CONFIG_DIR")}
    out = _run([str(python), "-c", CHECK], cwd=tmp, env=env)
    return {"venv": env_dir.resolve(), **json.loads(out.strip().splitlines()[-1])}


def test_the_project_comes_from_the_wheel(installed: dict[str, Any]) -> None:
    for file in installed["files"]:
        assert Path(file).resolve().is_relative_to(installed["venv"]), file
        assert not Path(file).resolve().is_relative_to(ROOT), file


def test_every_job_config_ships_with_the_package(installed: dict[str, Any]) -> None:
    assert set(installed["configs"]) == set(JOBS)
    for name, config in installed["configs"].items():
        source = ROOT / "training" / "configs" / f"{name.replace('-', '_')}.yaml"
        assert config == yaml.safe_load(source.read_text()), name


def test_the_migrations_ship_with_the_package(installed: dict[str, Any]) -> None:
    source = ROOT / "matching" / "core" / "storage" / "migrations"
    expected = sorted(p.name for p in source.glob("*.sql"))
    assert expected and installed["migrations"] == expected
    assert installed["migration_files"] == len(expected)


def test_the_admin_page_ships_with_the_package(installed: dict[str, Any]) -> None:
    assert installed["admin_page"] == "<!doctype html>"
