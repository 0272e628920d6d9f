"""A pairing cycle's computation at 1k, 10k and 100k seekers: optimal (blossom) against
greedy, in one process and on a local Ray, and writes its section of --out (BENCHMARKS.md):

    python -m bench.pairing                      # 1k, 10k, 100k
    python -m bench.pairing --sizes 1000 --runs 1  # a quick look

The seekers are the unit tests' seeded random population (hard preferences, ages,
locations, companies) with SYNTHETIC vectors: clustered random unit vectors (dim --dim),
not the model's embeddings, at every size. Times cover the candidate search (index build
included) and the matching; the database reads and writes of a cycle are not included.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import numpy as np

from bench.report import read_report, replace_section
from matching.core.domain.filters import SearchFilters
from matching.core.settings import PairingSettings
from matching.pairing.graph import Seeker
from matching.pairing.plan import local_plan
from matching.pairing.scale import ray_plan
from matching.pairing.solve import Pairing
from tests.unit.factories import random_population

SECTION = "## Pairing: one cycle, optimal against greedy"
Plan = Callable[[Sequence[Seeker], Sequence[tuple[UUID, UUID]], PairingSettings], Pairing]


def seekers(n: int, dim: int, seed: int = 11) -> tuple[list[Seeker], list[tuple[UUID, UUID]]]:
    """A seeded pool: clustered vectors, waits of 0-5 cycles, a fifth with age criteria,
    and n/10 random blocks or past pairs."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    people = random_population(n, seed=seed)
    centres = nrng.normal(size=(max(8, n // 50), dim))
    vectors = centres[nrng.integers(0, len(centres), n)] + nrng.normal(scale=0.6, size=(n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for person, vector in zip(people, vectors.astype(np.float32), strict=True):
        criteria = SearchFilters()
        if rng.random() < 0.2:
            criteria = SearchFilters(age_min=rng.randint(20, 35), age_max=rng.randint(40, 70))
        out.append(Seeker(person, vector, rng.randint(0, 5), criteria))
    ids = [p.user_id for p in people]
    excluded = [(ids[rng.randrange(n)], ids[rng.randrange(n)]) for _ in range(n // 10)]
    return out, [(a, b) for a, b in excluded if a != b]


def timed(plan: Plan, pool: list[Seeker], excluded: list[tuple[UUID, UUID]], runs: int,
          s: PairingSettings) -> tuple[float, Pairing]:  # fmt: skip
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = plan(pool, excluded, s)
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    s = PairingSettings()
    rows: list[dict[str, object]] = []
    for n in args.sizes:
        pool, excluded = seekers(n, args.dim)
        runs = args.runs if n <= 10_000 else 1
        local_s, result = timed(local_plan, pool, excluded, runs, s)
        row: dict[str, object] = {
            "n": n, "runs": runs, "local_s": local_s, "pairs": len(result.pairs),
            "optimal": result.optimal_total, "greedy": result.greedy_total,
        }  # fmt: skip
        row["split"] = result.split_components
        if result.split_components and n <= args.exact_max:
            # the exact optimum of the same graph (one blossom per component), for scale
            whole = s.model_copy(update={"part_seekers": n})
            exact_s, exact = timed(local_plan, pool, excluded, 1, whole)
            row["exact"], row["exact_s"] = exact.optimal_total, exact_s
        if args.ray and n >= 2_000:
            ray_s, on_ray = timed(ray_plan, pool, excluded, runs, s)
            assert on_ray.optimal_objective == result.optimal_objective, "Ray and local differ"
            row["ray_s"] = ray_s
        rows.append(row)
        print(row, flush=True)
    return rows


def section(args: argparse.Namespace, rows: list[dict[str, object]]) -> str:
    def f(v: object, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    lines = [
        SECTION, "",
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; `python -m bench.pairing`. Seeded random population "
        f"with synthetic clustered vectors (dim {args.dim}) at every size; default "
        "PAIRING_* settings. Time: median of the runs shown (one at 100k), candidate search "
        "(index build included) and matching, without the database.", "",
        f"Components above PAIRING_PART_SEEKERS={PairingSettings().part_seekers} seekers are "
        f"matched by {PairingSettings().part_rounds} rounds over regions (`regions`: yes); "
        "the last two columns give the exact optimum of the same graph (one blossom per "
        f"component) where it was computed (up to {args.exact_max:,} seekers) and its time.",
        "",
        "| seekers | runs | one process (s) | local Ray (s) | pairs | optimal total "
        "| greedy total | optimal / greedy | regions | exact optimum (s) | total / exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]  # fmt: skip
    for r in rows:
        ratio = float(r["optimal"]) / float(r["greedy"]) if r["greedy"] else None  # type: ignore[arg-type]
        exact = r.get("exact")
        of_exact = float(r["optimal"]) / float(exact) if exact else None  # type: ignore[arg-type]
        exact_cell = "-" if exact is None else f"{float(exact):.2f} ({float(r['exact_s']):.1f})"  # type: ignore[arg-type]
        lines.append(
            f"| {r['n']:,} | {r['runs']} | {f(r['local_s'], '.2f')} | {f(r.get('ray_s'), '.2f')} "
            f"| {r['pairs']:,} | {f(r['optimal'], '.2f')} | {f(r['greedy'], '.2f')} "
            f"| {f(ratio, '.4f')} | {'yes' if r['split'] else 'no'} | {exact_cell} "
            f"| {f(of_exact, '.4f')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--no-ray", dest="ray", action="store_false")
    p.add_argument("--exact-max", type=int, default=10_000, help="exact optimum up to this")
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = p.parse_args()
    if args.ray:
        from training.jobs import init_ray

        init_ray()
    rows = measure(args)
    args.out.write_text(replace_section(read_report(args.out), section(args, rows), SECTION))


if __name__ == "__main__":
    main()
