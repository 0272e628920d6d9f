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
import platform
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import prepare
from bench.load import LoadResult, have_wrk, run_wrk
from bench.report import read_report, replace_section
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
CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "throughput_optimized": {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
    },
}
KEEPS = (1.0, 0.1, 0.01)
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
        for kind in ("discover", "search"):
            times = []
            for i in range(n):
                started = time.perf_counter()
                if kind == "discover":
                    await service.discover(UUID(random.choice(ids)), 20)
                else:
                    await service.search(SearchRequest(prompt=PROMPTS[i % len(PROMPTS)], limit=20))
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


def _noop_apps() -> dict[str, Any]:
    from fastapi import FastAPI
    from ray import serve

    @serve.deployment(name="Noop")
    class Noop:
        async def __call__(self, _: Any) -> dict[str, bool]:
            return {"ok": True}

    app = FastAPI()

    @serve.deployment(name="NoopFastAPI")
    @serve.ingress(app)
    class NoopFastAPI:
        @app.get("/")
        async def root(self) -> dict[str, bool]:
            return {"ok": True}

    return {"noop": Noop.bind(), "noop_fastapi": NoopFastAPI.bind()}


def _start_serve(env: dict[str, str], port: int) -> None:
    import httpx
    import ray
    from ray import serve

    from serve_app.app import build_app

    os.environ.update(env)
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "30")  # 2 busy cores
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    apps = {
        **_noop_apps(),
        "single": build_app({"composition": "single"}),
        "pipeline": build_app({"composition": "pipeline"}),
    }
    for name, app in apps.items():
        serve.run(app, name=name, route_prefix=f"/{name}", blocking=False)
    deadline = time.monotonic() + 600
    for name in ("single", "pipeline"):
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/{name}/health/ready", timeout=5).is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            raise RuntimeError(f"{name} never became ready")


def _stop_serve(env: dict[str, str]) -> None:
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    for key in env:
        os.environ.pop(key, None)


def _serve_runs(
    args: argparse.Namespace, ids: list[str]
) -> dict[str, dict[tuple[str, int], LoadResult]]:
    results: dict[str, dict[tuple[str, int], LoadResult]] = {}
    base = f"http://127.0.0.1:{args.port}"
    targets = [
        ("noop", "noop"),
        ("noop_fastapi", "noop"),
        ("single", "discover"),
        ("single", "search"),
        ("pipeline", "discover"),
        ("pipeline", "search"),
    ]
    for config in args.configs:
        env = CONFIGS[config]
        _start_serve(env, args.port)
        try:
            table: dict[tuple[str, int], LoadResult] = {}
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
        finally:
            _stop_serve(env)
    return results


def _write(
    args: argparse.Namespace,
    n_users: int,
    floor: dict[str, Any],
    serve_results: dict[str, dict[tuple[str, int], LoadResult]],
) -> str:
    lines = [
        f"{SECTION}, {n_users:,} people "
        f"(index: {floor['index']['type']}, {floor['index']['size']:,} live rows)",
        "",
        f"Written by `python -m bench.discover --users {args.users}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, "
        f"{platform.python_version()}, wrk, {args.duration}s per cell. Everything below "
        "comes from one run; compare ratios and medians, not absolute numbers.",
        "",
        "### Compute floor: the same pipeline in-process (sequential calls)",
        "",
        "| call | p50 ms | p95 ms | p99 ms | calls/s |",
        "|---|---|---|---|---|",
    ]
    for kind in ("discover", "search"):
        f = floor[kind]
        lines.append(
            f"| {kind} | {f['p50']:.1f} | {f['p95']:.1f} | {f['p99']:.1f} | {f['rps']:.0f} |"
        )
    lines += [
        "",
        "### Recall@10 of the live search path vs exact search",
        "",
        "| filter keeps | recall@10 |",
        "|---|---|",
    ]
    for keep, value in floor["recall"].items():
        lines.append(f"| {keep:.0%} | {value:.4f} |")
    for config, table in serve_results.items():
        lines += [
            "",
            f"### Through Serve over HTTP: `{config}`",
            "",
            "| target | clients | req/s | p50 ms | p95 ms | p99 ms | errors | "
            "p50 ÷ no-op p50 | req/s ÷ no-op req/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for (target, c), r in table.items():
            noop = table[("noop:noop", c)]
            lines.append(
                f"| {target} | {c} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.errors} | {r.p50_ms / noop.p50_ms:.2f} | "
                f"{r.rps / noop.rps:.2f} |"
            )
    return "\n".join(lines) + "\n"


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
    args = p.parse_args()
    if not have_wrk():
        raise SystemExit("bench: wrk not found (apt-get install wrk)")
    database = args.database or f"bench_discover_{args.users}"
    artifacts_dir = args.artifacts or f".matching/bench-artifacts/{database}"
    settings = prepare(0 if args.no_seed else args.users, database, artifacts_dir)
    ids = asyncio.run(_user_ids(settings))
    floor = asyncio.run(_floor(settings, ids, args.floor_calls))
    print(f"floor: {floor}", flush=True)
    serve_results = _serve_runs(args, ids)
    out = Path(args.out)
    body = _write(args, len(ids), floor, serve_results)
    out.write_text(replace_section(read_report(out), body, SECTION))
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
