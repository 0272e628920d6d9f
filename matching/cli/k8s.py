"""`matching k8s render`: write (or, with --check, compare) the manifests generated from the
repository's single sources: the RayService's serveConfigV2 from serve_config.yaml, and the
RayCronJobs from the RayJobs (matching.cli.manifests says what each carries)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from matching.cli import manifests
from matching.cli.common import Subparsers


def _outputs(root: Path) -> dict[Path, str]:
    """Each generated file and the text it should have."""
    rayservice = root / "k8s" / "rayservice.yaml"
    config = manifests.serve_config_v2(yaml.safe_load((root / "serve_config.yaml").read_text()))
    rayjobs = [
        doc
        for name in manifests.RAYJOB_SOURCES
        for doc in yaml.safe_load_all((root / "k8s" / name).read_text())
    ]
    return {
        rayservice: manifests.rewritten(rayservice.read_text(), config),
        root / "k8s" / "raycronjobs.yaml": manifests.raycronjobs_text(
            manifests.raycronjobs(rayjobs)
        ),
    }


def drift(root: Path) -> list[str]:
    """Where the files on disk differ from what they are generated as, field by field."""
    lines = []
    for path, text in _outputs(root).items():
        on_disk = list(yaml.safe_load_all(path.read_text())) if path.exists() else []
        wanted = list(yaml.safe_load_all(text))
        if path.name == "rayservice.yaml":
            on_disk = [manifests.embedded(path.read_text())] if path.exists() else []
            wanted = [manifests.embedded(text)]
        name = path.relative_to(root)
        lines += [f"{name}{line}" for line in manifests.differences(wanted, on_disk)]
    return lines


def cmd_render(args: argparse.Namespace) -> int:
    """Rewrite the generated manifests, or list how they drifted (--check, exit 1)."""
    root = Path(args.root).resolve()
    if args.check:
        found = drift(root)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print(
                "matching k8s render: manifests drifted; run `matching k8s render`", file=sys.stderr
            )
        return 1 if found else 0
    for path, text in _outputs(root).items():
        path.write_text(text)
        print(f"wrote {path.relative_to(root)}")
    return 0


def register(sub: Subparsers) -> None:
    """Add k8s."""
    k8s = sub.add_parser("k8s", help="Kubernetes manifests generated from serve_config.yaml")
    actions = k8s.add_subparsers(dest="k8s_command", required=True)
    render = actions.add_parser(
        "render", help="write k8s/rayservice.yaml's serveConfigV2 and k8s/raycronjobs.yaml"
    )
    render.add_argument("--root", default=".", help="the repository's root (default: here)")
    render.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    render.set_defaults(fn=cmd_render)
