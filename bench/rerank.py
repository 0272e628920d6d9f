"""Reranker.rank in-process: the per-pair reference against the vectorised ranking.

Times `Reranker.rank` for --candidates candidates and top --k on a seeded population, with
the weighted score and with a small learned model, beside the per-pair code it replaced
(tests/unit/reranker_reference.py), and writes its section of --out (BENCHMARKS.md):

    python -m bench.rerank
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

from bench.report import read_report, replace_section
from deployments.reranker import WEIGHTED_VERSION, Reranker
from matching.core.domain.person import Person
from matching.core.ml import artifacts
from matching.core.ml.model import CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, StatsTable, pair_matrix
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from tests.unit.factories import NOW, random_population
from tests.unit.reranker_reference import ScalarReranker

SECTION = "## Reranker: one ranking in-process"


def publish_model(root: Path, people: list[Person]) -> None:
    """A small real model (gradient boosting on pair features), published as training does."""
    rng = np.random.default_rng(5)
    pick = rng.integers(0, len(people), (2000, 2))
    a, b = [people[i] for i, _ in pick], [people[j] for _, j in pick]
    stats = StatsTable.from_swipes(
        [(p.user_id, q.user_id, bool(rng.random() < 0.4)) for p, q in zip(a, b, strict=True)], 10
    )
    params = FeatureParams.from_settings()
    rows = pair_matrix(
        a,
        b,
        rng.uniform(0, 1, len(a)),
        [stats.get(p.user_id) for p in a],
        [stats.get(q.user_id) for q in b],
        NOW,
        params,
    )
    fit = rows[:, PAIR_FEATURES.index("ab_score")] + rng.normal(0, 0.05, len(a))
    estimator = HistGradientBoostingClassifier(max_iter=100).fit(rows, fit > np.median(fit))
    manifest = {
        "version": "bench",
        "sklearn_version": sklearn.__version__,
        "feature_params": params.to_dict(),
    }
    tmp = artifacts.staging(root, "models", "bench")
    CompatibilityModel(estimator, stats, params, manifest).save(tmp)
    artifacts.publish(tmp, manifest)


def median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def time_both(
    reranker: Reranker,
    reference: ScalarReranker,
    requester: Person,
    candidates: list[Candidate],
    args: argparse.Namespace,
) -> tuple[float, float]:
    """(per pair ms, arrays ms), medians."""
    now = datetime.now(UTC)
    scalar = median_ms(lambda: reference.rank(requester, candidates, args.k, None, now), args.runs)
    vector = median_ms(lambda: reranker.rank(requester, candidates, args.k), args.runs)
    return scalar, vector


def measure(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    people = random_population(args.candidates + 1, seed=7)
    requester = people[0]
    candidates = [Candidate(p, (i % 17) / 16, (i % 13) / 12) for i, p in enumerate(people[1:])]
    rows = []
    with tempfile.TemporaryDirectory() as root:
        publish_model(Path(root), people)
        settings = Settings.from_env({**os.environ, "MATCHING_ARTIFACTS_DIR": root})
        m = settings.matching
        for kind in ("weighted", "learned"):
            reranker, model = Reranker(settings), None
            if kind == "learned":
                reranker.reconfigure({"model_version": "bench"})
                model = CompatibilityModel.load(Path(root) / "models" / "bench")
            reference = ScalarReranker(
                m.weights, m.default_distance_km, m.similarity_threshold, WEIGHTED_VERSION, model
            )
            rows.append((kind, *time_both(reranker, reference, requester, candidates, args)))
    return rows


def section(args: argparse.Namespace, rows: list[tuple[str, float, float]]) -> str:
    load = os.getloadavg()[0]
    lines = [
        f"{SECTION} ({args.candidates} candidates, top {args.k})",
        "",
        f"Written by `python -m bench.rerank` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, median of {args.runs} "
        f"runs after one warm-up, 1-minute load {load:.1f} at the end (the machine is "
        "shared). Per pair: the code before the rewrite, kept as the test reference; arrays: "
        "`Reranker.rank` as served. Learned: a 100-tree gradient-boosted model on the pair "
        "features.",
        "",
        "| scoring | per pair ms | arrays ms | speed-up |",
        "|---|---|---|---|",
    ]
    lines += [f"| {k} | {s:.2f} | {v:.2f} | {s / v:.1f}x |" for k, s, v in rows]
    return "\n".join([*lines, ""])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--candidates", type=int, default=200)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--out", default="BENCHMARKS.md")
    args = p.parse_args()
    body = section(args, measure(args))
    out = Path(args.out)
    out.write_text(replace_section(read_report(out), body, SECTION))
    print(body)


if __name__ == "__main__":
    main()
