"""Discover and search through the served app, beside the serving and compute floors.

    python -m bench.discover --users 100000

Seeds the population (idempotent), builds the index snapshot, then in one run:
  * the compute floor: the same pipeline called in-process (no HTTP, no Serve);
  * recall@10 of the live search path against exact search, filters keeping 100/10/1%;
  * through Serve, per Ray configuration: a no-op deployment (the serving floor), and
    discover and search in both compositions, at several concurrencies, with wrk.
Writes (replaces) its section of --out (BENCHMARKS.md), keeping the other sections and the
section's hand-written `### Reading` commentary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import prepare, wait_ready
from bench.discover_report import Run, Table, scale_row, scale_table, section
from bench.load import have_wrk, run_wrk
from bench.report import read_report, replace_section, replace_subsection
from matching.core.ml import artifacts
from matching.core.retrieval.candidates import KIND
from matching.core.settings import Settings

PROMPTS = [
    "Looking for hiking enthusiasts who mentor founders",
    "data engineers who like climbing",
    "someone to practice french with over coffee",
    "fintech founders raising a seed round",
    "product designers interested in photography",
    "nurses who enjoy trail running",
    "people hiring backend engineers in berlin",
    "mentors in healthcare policy",
]
# name: (environment of Ray, Ingress options over serve_config.yaml's)
CONFIGS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "default": ({}, {}),
    "throughput_optimized": (
        {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"},
        {},
    ),
    "max_ongoing_5": ({}, {"max_ongoing_requests": 5}),  # Serve's default
}
KEEPS = (1.0, 0.1, 0.01)
TARGETS = [
    ("noop", "noop"),
    ("noop_fastapi", "noop"),
    ("single", "discover"),
    ("single", "search"),
    ("pipeline", "discover"),
    ("pipeline", "search"),
]
SCALE_TARGETS = [("noop", "noop"), ("single", "discover")]
SECTION = "## Discover and search"  # the heading starts so; the rest names people and index


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def _floor(settings: Settings, ids: list[str], n: int) -> dict[str, Any]:
    """The pipeline in-process: what one request costs without HTTP or Serve."""
    from uuid import UUID

    from deployments.embedder import Embedder
    from deployments.reranker import Reranker
    from deployments.retriever import Retriever
    from matching.core.api.resources import Resources
    from matching.core.retrieval.recall import recall_at_k
    from matching.core.stages import LocalStage
    from matching.discovery.schemas import SearchRequest
    from matching.discovery.service import DiscoveryService

    retriever = Retriever(settings)
    await retriever.start()
    resources = Resources(
        settings,
        LocalStage(Embedder(settings.model)),
        LocalStage(retriever),
        LocalStage(Reranker(settings)),
    )
    await resources.start()
    service = DiscoveryService(resources)
    out: dict[str, Any] = {"index": retriever.info()}
    try:
        for kind in ("discover", "search", "embed"):
            times = []
            for i in range(n):
                started = time.perf_counter()
                if kind == "discover":
                    await service.discover(UUID(random.choice(ids)), 20)
                elif kind == "search":
                    await service.search(SearchRequest(prompt=PROMPTS[i % len(PROMPTS)], limit=20))
                else:  # one prompt's embedding: what search adds to the floor
                    await resources.embedder.embed.remote(PROMPTS[i % len(PROMPTS)])
                times.append((time.perf_counter() - started) * 1000)
            out[kind] = {
                "p50": _pct(times, 50),
                "p95": _pct(times, 95),
                "p99": _pct(times, 99),
                "rps": 1000 / statistics.mean(times),
            }
        cindex = retriever.index
        live = cindex.store.cols["alive"][: cindex.store.n_rows].copy()
        rows = np.flatnonzero(live)
        sample = np.random.default_rng(1).choice(rows, size=min(200, len(rows)), replace=False)
        queries = np.stack([cindex.index.vector(int(r)) for r in sample])
        out["recall"] = {keep: recall_at_k(cindex.index, queries, 10, keep, live) for keep in KEEPS}
    finally:
        await resources.close()
        await retriever.close()
    return out


def _start_serve(env: dict[str, str], ingress: dict[str, Any], port: int) -> None:
    import ray

    from bench.serve_apps import applications
    from serve_app.deploy import deploy

    os.environ.update(env)
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "30")  # 2 busy cores
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    deploy(applications(ingress), "127.0.0.1", port, wait=False)
    deadline = time.monotonic() + 600
    for name, path in (("noop", ""), ("single", "/health/ready"), ("pipeline", "/health/ready")):
        wait_ready(f"http://127.0.0.1:{port}/{name}{path}", deadline, name)


def _stop_serve(env: dict[str, str]) -> None:
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    for key in env:
        os.environ.pop(key, None)


def _replica_rss() -> dict[str, float]:
    """Resident MiB of each Serve replica this process started, by "app:deployment"."""
    import psutil

    out: dict[str, float] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            found = re.search(r"ServeReplica:(\w+):(\w+)", " ".join(proc.cmdline()))
            if found:
                key = f"{found[1]}:{found[2]}"
                out[key] = max(out.get(key, 0.0), proc.memory_info().rss / 2**20)
        except psutil.Error:
            continue
    return out


def _serve_runs(
    args: argparse.Namespace, ids: list[str]
) -> tuple[dict[str, Table], dict[str, dict[str, float]]]:
    results: dict[str, Table] = {}
    rss: dict[str, dict[str, float]] = {}
    base = f"http://127.0.0.1:{args.port}"
    targets = SCALE_TARGETS if args.scale_row else TARGETS
    for config in args.configs:
        env, ingress = CONFIGS[config]
        _start_serve(env, ingress, args.port)
        try:
            table: Table = {}
            for app, kind in targets:
                run_wrk(base, f"/{app}", kind, 4, 3, ids, PROMPTS)  # warm-up
                for c in args.concurrency:
                    table[(f"{app}:{kind}", c)] = r = run_wrk(
                        base, f"/{app}", kind, c, args.duration, ids, PROMPTS
                    )
                    print(
                        f"{config:22} {app}:{kind:9} c={c:<3} {r.rps:7.1f} req/s "
                        f"p50 {r.p50_ms:6.1f} p95 {r.p95_ms:6.1f} p99 {r.p99_ms:6.1f} "
                        f"err {r.errors}",
                        flush=True,
                    )
            results[config] = table
            rss[config] = _replica_rss()
        finally:
            _stop_serve(env)
    return results, rss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--no-seed", action="store_true", help="use the population already there")
    p.add_argument("--database", help="default: bench_discover_<users>, one per size")
    p.add_argument("--artifacts", help="default: .matching/bench-artifacts/<database>")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--floor-calls", type=int, default=300)
    p.add_argument("--port", type=int, default=8123)
    p.add_argument("--out", default="BENCHMARKS.md")
    p.add_argument(
        "--scale-row",
        action="store_true",
        help="write only this size's row of the scale table (no-op and discover, one config)",
    )
    args = p.parse_args()
    if not have_wrk():
        raise SystemExit("bench: wrk not found (apt-get install wrk)")
    database = args.database or f"bench_discover_{args.users}"
    artifacts_dir = args.artifacts or f".matching/bench-artifacts/{database}"
    settings = prepare(0 if args.no_seed else args.users, database, artifacts_dir)
    ids = asyncio.run(_user_ids(settings))
    floor = asyncio.run(_floor(settings, ids, args.floor_calls))
    print(f"floor: {floor}", flush=True)
    serve_results, rss = _serve_runs(args, ids)
    snapshot = artifacts.latest(settings.index.artifacts_dir, KIND)
    index_mib = 0.0 if snapshot is None else (snapshot / "index.faiss").stat().st_size / 2**20
    run = Run(len(ids), floor, serve_results, rss, index_mib)
    out = Path(args.out)
    doc = read_report(out)
    old = next((p for p in doc.split("\n## ") if p.startswith(SECTION[3:])), "")
    command = " ".join(["python -m bench.discover", *sys.argv[1:]])
    if args.scale_row:
        config = next(iter(serve_results))
        rows = scale_table(old, scale_row(run, config, floor["index"]["type"]), run.users)
        doc = replace_subsection(doc, SECTION, "\n".join(rows))
    else:
        doc = replace_section(doc, section(SECTION, command, args.duration, run, old), SECTION)
    out.write_text(doc)
    print(f"wrote {args.out}")


async def _user_ids(settings: Settings) -> list[str]:
    from matching.core.storage.db import connect

    conn = await connect(settings.database)
    try:
        return [str(r["id"]) for r in await conn.fetch("SELECT id FROM profiles WHERE active")]
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
