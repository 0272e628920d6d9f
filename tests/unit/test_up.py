"""`matching up`'s env file: what another shell sources to run jobs against the service."""

from __future__ import annotations

import subprocess
from pathlib import Path

from matching.devtools.up import write_env_file


def test_env_file_exports_the_shared_settings_quoted_and_private(tmp_path: Path) -> None:
    artifacts = str(tmp_path / "it's here")
    environ = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5/matching",
        "MATCHING_ARTIFACTS_DIR": artifacts,
        "KAFKA_BOOTSTRAP_SERVERS": "",  # unset: left out
        "HOME": "/root",  # not shared
    }
    path = write_env_file(tmp_path / "env", environ)
    assert path.stat().st_mode & 0o777 == 0o600
    show = '"$DATABASE_URL|$MATCHING_ARTIFACTS_DIR|${KAFKA_BOOTSTRAP_SERVERS-unset}"'
    out = subprocess.run(
        ["bash", "-c", f"source {path} && echo {show}"],
        capture_output=True,
        text=True,
        check=True,
        env={},
    )
    assert out.stdout.strip() == f"{environ['DATABASE_URL']}|{artifacts}|unset"
    assert "HOME" not in path.read_text()
