"""The embed job's Ray Data path beside sentence-transformers called directly, same texts.

    python -m bench.embed --texts 2000            # profile texts
    python -m bench.embed --texts 8000 --short    # short sentences (headlines)

On the same texts (the demo population's `profile_text`, or with --short each person's
headline), interleaved, --reps times each:
  (a) direct: `matching.core.ml.embedding.encode` (model.encode) at --batch-size, --threads torch
      threads in this process, the model loaded and warmed up beforehand;
  (b) Ray Data: `training.embed.embed_dataset` (map_batches over a pool of one actor holding
      the model) from an in-memory dataset (`ray.data.from_items`), consumed here. End to end:
      from the start of execution to the last row (actor start and model load included).
      Steady: from the actor's first batch start to its last batch end, on its own clock
      (Ray Data's work between batches included, start-up not).
No database is involved. Writes (replaces) its subsection of "## Embedding job throughput"
in --out (BENCHMARKS.md), keeping the other subsections, the hand-written `### Reading`
commentary and the other sections, and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from bench.report import read_report, replace_subsection
from matching.core.domain.text import profile_text
from matching.core.ml.embedding import encode, load_model
from matching.core.settings import ModelSettings
from matching.devtools.population import generate_population
from training.embed import EmbedActor, EmbedConfig, embed_dataset

SECTION = "## Embedding job throughput"
INTRO = (
    "`matching jobs embed` (training/embed.py) embeds with Ray Data: `map_batches` over a "
    "pool of actors that each load all-MiniLM-L6-v2 once. `python -m bench.embed` runs its "
    "`embed_dataset` on the same texts as sentence-transformers called directly in one "
    "process (`model.encode`), same batch size and torch threads, from an in-memory dataset "
    "(no database). Ray Data end to end includes starting the actor and loading the model; "
    "steady runs from the actor's first batch to its last (Ray Data's own work between "
    "batches included); start-up is the difference."
)


@dataclass
class Rep:
    load: float  # the machine's 1-minute load average when the repetition started
    direct_s: float
    ray_s: float  # end to end
    window_s: float  # the actor's first batch start -> last batch end


class TimedEmbedActor(EmbedActor):
    """EmbedActor that also returns when each batch started and ended (its own clock)."""

    def __call__(self, batch: pa.Table) -> pa.Table:
        started = time.time()
        out = super().__call__(batch)
        n = out.num_rows
        out = out.append_column("started", pa.array([started] * n, pa.float64()))
        return out.append_column("ended", pa.array([time.time()] * n, pa.float64()))


def make_texts(n: int, short: bool) -> list[str]:
    people = generate_population(n)
    if short:
        return [p.profile.headline or p.profile.name for p in people]
    return [profile_text(p.profile) for p in people]


def time_ray(texts: list[str], model: ModelSettings, args: argparse.Namespace) -> Rep:
    import ray.data

    blocks = max(1, len(texts) // args.block_rows)
    ds = ray.data.from_items([{"text": t} for t in texts], override_num_blocks=blocks)
    cfg = EmbedConfig(
        batch_size=args.batch_size, rows_per_call=args.rows_per_call, threads=args.threads
    )
    out = embed_dataset(ds, model, cfg, gpus=0, actor=TimedEmbedActor)
    rows, first, last = 0, float("inf"), 0.0
    started = time.perf_counter()
    for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
        assert isinstance(batch, pa.Table)
        rows += batch.num_rows
        first = min(first, pc.min(batch.column("started")).as_py())
        last = max(last, pc.max(batch.column("ended")).as_py())
    ray_s = time.perf_counter() - started
    if rows != len(texts):
        raise SystemExit(f"bench: Ray Data returned {rows} rows for {len(texts)} texts")
    return Rep(0.0, 0.0, ray_s, last - first)


def measure(args: argparse.Namespace) -> tuple[list[str], list[Rep]]:
    from ray.data import DataContext

    from training.jobs import init_ray

    texts = make_texts(args.texts, args.short)
    model_settings = ModelSettings(device="cpu", torch_threads=args.threads)
    model = load_model(model_settings)
    encode(model, texts[: args.batch_size], args.batch_size)  # warm-up
    # Ray starts its workers at nice 15; on a shared machine that alone loses to the direct
    # path (nice 0) whatever Ray Data costs, so both run at the same priority by default.
    os.environ["RAY_worker_niceness"] = str(args.ray_niceness)
    init_ray(num_cpus=args.threads)
    DataContext.get_current().enable_progress_bars = False
    reps = []
    for i in range(args.reps):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        encode(model, texts, args.batch_size)
        direct_s = time.perf_counter() - started
        rep = time_ray(texts, model_settings, args)
        rep.load, rep.direct_s = load, direct_s
        reps.append(rep)
        n = len(texts)
        print(
            f"rep {i + 1}: load {load:.1f}, direct {n / rep.direct_s:.0f}/s, Ray Data "
            f"{n / rep.ray_s:.0f}/s end to end, {n / rep.window_s:.0f}/s steady",
            flush=True,
        )
    return texts, reps


# load, direct, end to end, steady, the two ratios, direct s, Ray Data s, start-up s
_FORMATS = (".1f", ".0f", ".0f", ".0f", ".2f", ".2f", ".1f", ".1f", ".1f")


def _columns(n: int, r: Rep) -> list[float]:
    direct, e2e, steady = n / r.direct_s, n / r.ray_s, n / r.window_s
    ratios = [e2e / direct, steady / direct]
    return [r.load, direct, e2e, steady, *ratios, r.direct_s, r.ray_s, r.ray_s - r.window_s]


def _cells(values: list[float]) -> str:
    return " | ".join(format(v, f) for f, v in zip(_FORMATS, values, strict=True)) + " |"


def subsection(args: argparse.Namespace, texts: list[str], reps: list[Rep]) -> str:
    label = "short sentences (headlines)" if args.short else "profile texts"
    command = f"python -m bench.embed --texts {args.texts}" + (" --short" if args.short else "")
    n = len(texts)
    words = statistics.mean(len(t.split()) for t in texts)
    rows = [_columns(n, r) for r in reps]
    medians = [statistics.median(column) for column in zip(*rows, strict=True)]
    lines = [
        f"### {label.capitalize()}",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, CPU, {n:,} texts of "
        f"{words:.0f} words on average, {args.threads} torch threads, batch "
        f"{args.batch_size}, one actor ({args.rows_per_call} texts per call, "
        f"{args.block_rows} rows per input block) at nice "
        f"{args.ray_niceness} like the direct path, "
        f"{args.reps} interleaved repetitions. Rates are texts per second; load: the "
        "machine's 1-minute load average as the repetition started (the machine is shared); "
        "median: each column's median.",
        "",
        "| repetition | load | direct | Ray Data end to end | Ray Data steady | "
        "end to end ÷ direct | steady ÷ direct | direct s | Ray Data s | start-up s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {i + 1} | {_cells(row)}" for i, row in enumerate(rows)]
    lines += [f"| **median** | {_cells(medians)}", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--short", action="store_true", help="headlines instead of profile texts")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="torch threads (and Ray CPUs)")
    p.add_argument("--rows-per-call", type=int, default=1024, help="texts per actor call")
    p.add_argument("--block-rows", type=int, default=1024, help="rows per input block")
    p.add_argument(
        "--ray-niceness", type=int, default=0, help="Ray workers' nice value (Ray's default: 15)"
    )
    p.add_argument("--out", default="BENCHMARKS.md")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, reps = measure(args)
    body = subsection(args, texts, reps)
    out = Path(args.out)
    out.write_text(replace_subsection(read_report(out), SECTION, body, INTRO))
    print(body)


if __name__ == "__main__":
    main()
