"""`matching models`: list, promote (gated by the evaluation) and roll back registry versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from matching.cli.common import Subparsers, settings

if TYPE_CHECKING:
    from matching.core.ml.registry import Registry


def cmd_models(args: argparse.Namespace) -> int:
    """List versions, promote one (gated by its evaluation unless --force), roll back."""
    from matching.core.ml.registry import PromotionRefused, Registry, RegistryError

    registry = Registry.from_settings(settings())
    try:
        if args.action == "list":
            print(json.dumps(registry.describe(), indent=2, default=str))
            return 0
        if args.action == "promote":
            live = registry.promote(args.kind, args.version, force=args.force, by=args.by)
        else:
            live = registry.rollback(args.kind, by=args.by)
    except (PromotionRefused, RegistryError) as exc:
        print(f"matching models {args.action}: {exc}", file=sys.stderr)
        return 1
    if args.print_patch:  # stdout is the command alone, so it can be piped or reviewed
        print(json.dumps(live, indent=2, default=str), file=sys.stderr)
        return _print_cluster_patch(registry, args)
    print(json.dumps(live, indent=2, default=str))
    if not args.no_apply:
        from serve_app.deploy import apply_live

        applied = apply_live(registry)
        if applied:
            print(f"applied to running Serve applications: {', '.join(applied)}")
        else:
            print("no running Serve application found: replicas load it when they start")
    return 0


def _print_cluster_patch(registry: Registry, args: argparse.Namespace) -> int:
    """Print the `kubectl patch` that gives a cluster's RayService the registry's live versions."""
    import yaml

    from matching.cli.manifests import rayservice_patch, serve_config_v2
    from serve_app.deploy import live_user_config

    source = Path(args.source)
    if not source.is_file():
        print(f"matching models: --source {source} is not a file", file=sys.stderr)
        return 1
    config = serve_config_v2(
        yaml.safe_load(source.read_text()), user_config=live_user_config(registry)
    )
    print(rayservice_patch(args.rayservice, config))
    return 0


def register(sub: Subparsers) -> None:
    """Add models."""
    models = sub.add_parser("models", help="the model registry: list, promote, rollback")
    models.add_argument("action", choices=["list", "promote", "rollback"])
    models.add_argument("version", nargs="?", help="version to promote, or latest")
    models.add_argument("--kind", choices=["models", "index", "weightings"], default="models")
    models.add_argument("--force", action="store_true", help="promote even if metrics are worse")
    models.add_argument("--by", default="cli", help="who promotes (kept in the history)")
    models.add_argument(
        "--no-apply", action="store_true", help="only move the live pointer in the registry"
    )
    models.add_argument(
        "--print-patch",
        action="store_true",
        help="print the kubectl patch that sets these versions on a cluster's RayService "
        "(serveConfigV2 from --source); nothing local is updated",
    )
    models.add_argument("--rayservice", default="matching", help="the RayService's name")
    models.add_argument("--source", default="serve_config.yaml", help="the Serve config source")
    models.set_defaults(fn=cmd_models)
