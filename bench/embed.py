"""The embed job's Ray Data path beside sentence-transformers called directly, same texts.

    python -m bench.embed --texts 4000            # profile texts
    python -m bench.embed --texts 4000 --short    # short sentences (headlines)

On the same texts (the demo population's `profile_text`, or with --short each person's
headline), interleaved, --reps times each:
  (a) direct: `matching.embedding.encode` (model.encode) at --batch-size with --threads torch
      threads, model loaded and warmed up beforehand;
  (b) Ray Data: `training.embed.embed_dataset` (map_batches over one actor pool holding the
      model) from an in-memory dataset (`ray.data.from_items`), consumed by the driver;
      timed from the start of execution to the last row, so actor start and model load are
      in it (end to end), and from the first output batch to the last (steady state).
No database is involved. Writes (replaces) its subsection of "## Embedding job throughput"
in --out (BENCHMARKS.md) and prints it.
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

from matching.embedding import encode, load_model
from matching.population import generate_population
from matching.settings import ModelSettings
from matching.text import profile_text

SECTION = "## Embedding job throughput"
COMMENTARY = "### Reading"


@dataclass
class Rep:
    direct_s: float
    ray_s: float  # end to end
    steady_rows: int  # rows after the first output batch
    steady_s: float  # first output batch -> last


def make_texts(n: int, short: bool) -> list[str]:
    people = generate_population(n)
    if short:
        return [p.profile.headline or p.profile.name for p in people]
    return [profile_text(p.profile) for p in people]


def time_ray(texts: list[str], model: ModelSettings, args: argparse.Namespace) -> Rep:
    import ray.data

    from training.embed import EmbedConfig, embed_dataset

    blocks = max(1, len(texts) // args.block_rows)
    ds = ray.data.from_items([{"text": t} for t in texts], override_num_blocks=blocks)
    cfg = EmbedConfig(batch_size=args.batch_size, threads=args.threads)
    out = embed_dataset(ds, model, cfg, gpus=0)
    rows, first_at, first_rows = 0, 0.0, 0
    started = time.perf_counter()
    for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
        assert isinstance(batch, pa.Table)
        if not rows:
            first_at, first_rows = time.perf_counter(), batch.num_rows
        rows += batch.num_rows
    ended = time.perf_counter()
    if rows != len(texts):
        raise SystemExit(f"bench: Ray Data returned {rows} rows for {len(texts)} texts")
    return Rep(0.0, ended - started, rows - first_rows, ended - first_at)


def measure(args: argparse.Namespace) -> tuple[list[str], list[Rep]]:
    from ray.data import DataContext

    from training.jobs import init_ray

    texts = make_texts(args.texts, args.short)
    model_settings = ModelSettings(device="cpu", torch_threads=args.threads)
    model = load_model(model_settings)
    encode(model, texts[: args.batch_size], args.batch_size)  # warm-up
    init_ray(num_cpus=args.threads)
    DataContext.get_current().enable_progress_bars = False
    reps = []
    for i in range(args.reps):
        started = time.perf_counter()
        encode(model, texts, args.batch_size)
        direct_s = time.perf_counter() - started
        rep = time_ray(texts, model_settings, args)
        rep.direct_s = direct_s
        reps.append(rep)
        print(
            f"rep {i + 1}: direct {len(texts) / direct_s:.0f}/s, ray {len(texts) / rep.ray_s:.0f}/s"
            f" end to end, {rep.steady_rows / rep.steady_s:.0f}/s steady",
            flush=True,
        )
    return texts, reps


def _row(label: str, texts: list[str], reps: list[Rep]) -> str:
    n = len(texts)
    direct = statistics.median(n / r.direct_s for r in reps)
    e2e = statistics.median(n / r.ray_s for r in reps)
    steady = statistics.median(r.steady_rows / r.steady_s for r in reps)
    words = statistics.mean(len(t.split()) for t in texts)
    return (
        f"| {label} | {n:,} | {words:.0f} | {direct:.0f} | {e2e:.0f} | {steady:.0f} | "
        f"{e2e / direct:.2f} | {steady / direct:.2f} | "
        f"{statistics.median(r.direct_s for r in reps):.1f} | "
        f"{statistics.median(r.ray_s for r in reps):.1f} |"
    )


def subsection(args: argparse.Namespace, texts: list[str], reps: list[Rep]) -> str:
    label = "short sentences (headlines)" if args.short else "profile texts"
    command = f"python -m bench.embed --texts {args.texts}" + (" --short" if args.short else "")
    return "\n".join(
        [
            f"### {label.capitalize()}",
            "",
            f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, CPU, "
            f"{args.threads} torch threads, batch {args.batch_size}, one actor "
            f"({args.block_rows} rows per input block), medians of {args.reps} interleaved "
            "repetitions. Rates are texts per second.",
            "",
            "| texts | n | words/text | direct | Ray Data end to end | Ray Data steady | "
            "end to end ÷ direct | steady ÷ direct | direct s | Ray Data s |",
            "|---|---|---|---|---|---|---|---|---|---|",
            _row(label, texts, reps),
            "",
        ]
    )


def replace_subsection(doc: str, title: str, body: str, intro: str) -> str:
    """`doc` with SECTION's subsection `title` replaced by `body` (added when missing)."""
    lines = doc.rstrip("\n").split("\n")
    if SECTION not in lines:
        lines += ["", SECTION, "", intro, ""]
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    subs = [i for i in range(start + 1, end) if lines[i].startswith("### ")]
    at = next((i for i in subs if lines[i] == title), None)
    if at is None:  # new ones go before the hand-written commentary
        at = next((i for i in subs if lines[i].startswith(COMMENTARY)), end)
        stop = at
    else:
        stop = next((i for i in subs if i > at), end)
    new = [*body.rstrip("\n").split("\n"), ""]
    return "\n".join(lines[:at] + new + lines[stop:]).rstrip("\n") + "\n"


INTRO = (
    "`matching jobs embed` (training/embed.py) embeds with Ray Data: `map_batches` over a "
    "pool of actors that each load all-MiniLM-L6-v2 once. `python -m bench.embed` runs its "
    "`embed_dataset` on the same texts as sentence-transformers called directly in one "
    "process (`model.encode`), with the same batch size and torch threads, from an in-memory "
    "dataset (no database). End to end includes starting the actor and loading the model; "
    "steady state runs from the first output batch to the last."
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--short", action="store_true", help="headlines instead of profile texts")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="torch threads (and Ray CPUs)")
    p.add_argument("--block-rows", type=int, default=512, help="rows per input block")
    p.add_argument("--out", default="BENCHMARKS.md")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, reps = measure(args)
    body = subsection(args, texts, reps)
    out = Path(args.out)
    doc = out.read_text() if out.is_file() else "# Benchmarks\n"
    title = body.split("\n", 1)[0]
    out.write_text(replace_subsection(doc, title, body, INTRO))
    print(body)


if __name__ == "__main__":
    main()
