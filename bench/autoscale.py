"""Autoscaling, shown: the pipeline composition under rising then falling load, with the
replicas of each deployment read from Serve's status over time.

The deployments keep serve_config.yaml's options and autoscaling bounds; this run only makes
the autoscaler react within minutes (AUTOSCALING: short delays and look-back, small targets)
and reserves little CPU per replica (REPLICA_CPUS), so every deployment can reach its
max_replicas on a 2-core machine. Load is wrk: discover (Ingress, Retriever, Reranker) and,
at a quarter of its connections, search (the Embedder too), in phases of rising then falling
concurrency. Every phase must answer every request (no error, no non-2xx); the table and a
plot (bench/autoscale.png) go into BENCHMARKS.md under "## Autoscaling".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import prepare, wait_ready
from bench.discover import PROMPTS, _user_ids
from bench.load import LoadResult, run_wrk
from bench.report import read_report, replace_section
from bench.serve_apps import applications

SECTION = "## Autoscaling"
ROOT = Path(__file__).resolve().parent.parent
PLOT = ROOT / "bench" / "autoscale.png"
APP = "pipeline"
# (discover connections, seconds): up, a plateau, then down and idle long enough to scale in.
# Sized for 2 cores: at 32 and 64 connections a 2-core machine queues requests past wrk's
# timeout whatever the replica count (290 failed in the first run), which shows the machine,
# not the autoscaler; 16 keeps every request answered while still asking for more replicas.
PHASES = ((1, 30), (4, 30), (8, 45), (16, 60), (8, 30), (2, 30), (1, 75))
AUTOSCALING = {
    "upscale_delay_s": 5.0,
    "downscale_delay_s": 20.0,
    "look_back_period_s": 15.0,  # over metrics_interval_s (10 s), which Serve asks for
}
TARGETS = {"Ingress": 4, "Embedder": 1, "Retriever": 1, "Reranker": 1}
REPLICA_CPUS = 0.1  # 4 deployments x max 4 replicas = 1.6 CPUs reserved at most


@dataclass
class Run:
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    phases: list[tuple[float, float, int, LoadResult, LoadResult]] = field(default_factory=list)


def _pipeline() -> dict[str, Any]:
    (app,) = [a for a in applications() if a["name"] == APP]
    for d in app["deployments"]:
        d["autoscaling_config"] = {
            **d["autoscaling_config"],
            **AUTOSCALING,
            "target_ongoing_requests": TARGETS[d["name"]],
        }
        d["ray_actor_options"] = {**d.get("ray_actor_options", {}), "num_cpus": REPLICA_CPUS}
    return app


def _replicas() -> dict[str, int]:
    from ray import serve

    status = serve.status().applications.get(APP)
    if status is None:
        return {}
    return {name: int(d.replica_states.get("RUNNING", 0)) for name, d in status.deployments.items()}


def _sample(run: Run, started: float, stop: threading.Event) -> None:
    while not stop.is_set():
        run.samples.append((time.monotonic() - started, _replicas()))
        stop.wait(2.0)


def _start(port: int) -> None:
    import ray

    from serve_app.deploy import deploy

    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "30")  # 2 busy cores
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="serve")
    deploy([_pipeline()], "127.0.0.1", port, wait=False)
    wait_ready(f"http://127.0.0.1:{port}/{APP}/health/ready", time.monotonic() + 600, APP)


def drive(port: int, ids: list[str]) -> Run:
    """The phases of load, Serve's replicas sampled every 2 s meanwhile."""
    base, run, stop = f"http://127.0.0.1:{port}", Run(), threading.Event()
    run_wrk(base, f"/{APP}", "discover", 2, 5, ids, PROMPTS)  # warm-up
    started = time.monotonic()
    sampler = threading.Thread(target=_sample, args=(run, started, stop), daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            for conns, seconds in PHASES:
                t0 = time.monotonic() - started
                searches = max(1, conns // 4)
                discover = pool.submit(
                    run_wrk, base, f"/{APP}", "discover", conns, seconds, ids, PROMPTS
                )
                search = pool.submit(
                    run_wrk, base, f"/{APP}", "search", searches, seconds, ids, PROMPTS
                )
                d, s = discover.result(), search.result()
                run.phases.append((t0, time.monotonic() - started, conns, d, s))
                print(
                    f"c={conns:<3} discover {d.rps:6.1f}/s p99 {d.p99_ms:7.1f} err {d.errors} | "
                    f"search c={searches} {s.rps:5.1f}/s p99 {s.p99_ms:7.1f} err {s.errors} | "
                    f"replicas {run.samples[-1][1] if run.samples else {}}",
                    flush=True,
                )
    finally:
        stop.set()
        sampler.join()
    return run


def _peak(run: Run, t0: float, t1: float) -> dict[str, int]:
    inside = [r for t, r in run.samples if t0 <= t <= t1]
    names = sorted({n for r in inside for n in r})
    return {n: max(r.get(n, 0) for r in inside) for n in names}


def _plot(run: Run) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    names = sorted({n for _, r in run.samples for n in r})
    times = [t for t, _ in run.samples]
    for name in names:
        top.step(times, [r.get(name, 0) for _, r in run.samples], where="post", label=name)
    top.set_ylabel("running replicas")
    top.legend(loc="upper left", fontsize=8)
    for label, pick in (("discover p99", 3), ("search p99", 4)):
        xs, ys = [], []
        for phase in run.phases:
            xs += [phase[0], phase[1]]
            ys += [phase[pick].p99_ms] * 2
        bottom.plot(xs, ys, label=label)
    conns = bottom.twinx()
    conns.step(
        [p[0] for p in run.phases] + [run.phases[-1][1]],
        [p[2] for p in run.phases] + [run.phases[-1][2]],
        where="post",
        color="grey",
        linestyle=":",
        label="discover connections",
    )
    conns.set_ylabel("connections")
    bottom.set_ylabel("p99 ms (per phase)")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=90)


def _p99(r: LoadResult) -> str:
    """wrk reports a p99 of 0 when no request of the phase completed."""
    return f"{r.p99_ms:.0f}" if r.requests else "-"


def section(args: argparse.Namespace, run: Run) -> str:
    names = sorted({n for _, r in run.samples for n in r})
    rows = []
    for t0, t1, conns, d, s in run.phases:
        peak = _peak(run, t0, t1)
        rows.append(
            f"| {t0:.0f}-{t1:.0f} | {conns} / {max(1, conns // 4)} | {d.rps:.1f} | "
            f"{_p99(d)} | {s.rps:.1f} | {_p99(s)} | "
            + " | ".join(str(peak.get(n, 0)) for n in names)
            + f" | {d.errors + s.errors} |"
        )
    end = run.samples[-1][1] if run.samples else {}
    failed = sum(p[3].errors + p[4].errors for p in run.phases)
    return "\n".join(
        [
            SECTION,
            "",
            f"`python -m bench.autoscale --users {args.users}` on {platform.node()} "
            f"({os.cpu_count()} CPUs, shared), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. The "
            "pipeline composition with serve_config.yaml's options and replica bounds, "
            f"autoscaling sped up for the run ({AUTOSCALING}, targets {TARGETS}) and "
            f"{REPLICA_CPUS} CPU reserved per replica. wrk drives discover and, at a quarter "
            "of its connections, search; replicas are Serve's RUNNING count, sampled every "
            "2 s (the most seen in each phase).",
            "",
            "| seconds | connections discover / search | discover/s | discover p99 ms "
            "| search/s | search p99 ms | " + " | ".join(names) + " | failed |",
            "|---|---|---|---|---|---|" + "---|" * len(names) + "---|",
            *rows,
            "",
            f"Replicas at the end: {end}. Failed requests over the run: {failed}.",
            "",
            "![replicas and p99 over time](bench/autoscale.png)",
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--database", default="matching_bench_autoscale")
    p.add_argument("--artifacts", default="/tmp/matching-bench-autoscale")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = p.parse_args()
    # The queue mode needs Redis (every mode is on, as shipped); db 11 is the benchmarks'.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
    settings = prepare(args.users, args.database, args.artifacts)
    ids = asyncio.run(_user_ids(settings))
    _start(args.port)
    try:
        run = drive(args.port, ids)
    finally:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    _plot(run)
    body = section(args, run)
    args.out.write_text(replace_section(read_report(args.out), body, SECTION))
    print(body)


if __name__ == "__main__":
    main()
