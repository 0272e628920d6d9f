"""`matching build-index` and `matching jobs`: the offline Ray Data jobs."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from matching.cli.common import Subparsers, require_database, settings


def cmd_build_index(_: argparse.Namespace) -> int:
    """Build and publish one FAISS index snapshot, without Ray."""
    from training.build_index import build_index

    current = settings()
    require_database(current)
    folder, manifest = asyncio.run(build_index(current))
    print(f"index snapshot {folder}")
    print(json.dumps({k: manifest[k] for k in ("row_count", "params", "metrics")}, indent=2))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """Run one offline job (or `all` of them in order) on local Ray or RAY_ADDRESS."""
    from training import jobs

    current = settings()
    require_database(current)
    names = list(jobs.PIPELINE) if args.job == "all" else [args.job]
    try:
        if args.job == "all" and args.config:
            raise jobs.JobError("--config names one job's file; use --set JOB.KEY=VALUE")
        configs = {}
        for name in names:
            own = [s.partition(".")[2] for s in args.set if s.partition(".")[0] == name]
            plain = [] if args.job == "all" else [s for s in args.set if "." not in s]
            path = Path(args.config) if args.config else None
            configs[name] = jobs.load_config(name, path, own + plain)
        jobs.init_ray()
        summaries = jobs.run_pipeline(current, configs, names)
    except Exception as exc:  # every failure: one clear line and a non-zero exit
        logging.getLogger("matching.jobs").debug("job failed", exc_info=True)
        print(f"matching jobs {args.job}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for summary in summaries:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return 0


def register(sub: Subparsers) -> None:
    """Add build-index and jobs."""
    from training.jobs import JOBS

    sub.add_parser("build-index", help="build and publish a FAISS index snapshot").set_defaults(
        fn=cmd_build_index
    )
    jobs = sub.add_parser("jobs", help="offline Ray Data jobs (local Ray or RAY_ADDRESS)")
    jobs.add_argument("job", choices=[*JOBS, "all"])
    jobs.add_argument(
        "--config",
        help="config file (default: the packaged training/configs/<job>.yaml)",
    )
    jobs.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key (JOB.KEY=VALUE with `all`)",
    )
    jobs.set_defaults(fn=cmd_jobs)
