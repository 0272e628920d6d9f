"""Evaluate request-ranking weightings on what clients booked, and publish the best.

For every completed request with a `booked` (or `completed`) outcome, the stored result's
matches are scored again with each weighting over their five stored factor scores; the
booked provider's rank gives MRR and hit@3 (a booked provider the result did not list
counts as a miss). The best weighting is written as a registry version (kind `weightings`,
`weights.json` and its evaluation, whose `baseline` is the serving weighting on the same
outcomes), so `matching models promote --kind weightings` gates it like a model.

    python -m training.evaluate_requests [--no-push]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from matching.core.ml import artifacts
from matching.core.ml.registry import EVALUATION, Registry
from matching.core.settings import Settings
from matching.core.storage.db import connect
from matching.requests.weighting import live_weights

KIND = "weightings"
FACTORS = ("skill_match", "experience", "rating", "availability", "price")
CANDIDATES: dict[str, dict[str, float]] = {
    "equal": dict.fromkeys(FACTORS, 0.2),
    "skills_first": dict(zip(FACTORS, (0.5, 0.2, 0.15, 0.1, 0.05), strict=True)),
    "rating_first": dict(zip(FACTORS, (0.2, 0.2, 0.4, 0.1, 0.1), strict=True)),
    "price_first": dict(zip(FACTORS, (0.25, 0.15, 0.15, 0.15, 0.3), strict=True)),
}
_BOOKED = """
SELECT r.request_id, r.result, o.provider_id::text AS booked
FROM request_outcomes o JOIN match_requests r USING (request_id)
WHERE o.outcome IN ('booked', 'completed') AND r.status = 'completed'
ORDER BY o.id
"""


@dataclass(frozen=True, slots=True)
class Booked:
    """One booking: the listed providers' factor scores and which of them was booked."""

    factors: np.ndarray  # (listed, 5)
    providers: list[str]
    booked: str


async def load_booked(conn: asyncpg.Connection) -> list[Booked]:
    out = []
    for row in await conn.fetch(_BOOKED):
        matches = (row["result"] or {}).get("matches", [])
        factors = np.array([[m["factors"][f] for f in FACTORS] for m in matches], dtype=float)
        ids = [m["provider_id"] for m in matches]
        out.append(Booked(factors.reshape(len(ids), len(FACTORS)), ids, row["booked"]))
    return out


def rank_of(b: Booked, weights: np.ndarray) -> int | None:
    """The booked provider's 1-based rank under `weights`; None when it was not listed."""
    if b.booked not in b.providers:
        return None
    scores = b.factors @ weights
    mine = scores[b.providers.index(b.booked)]
    return int(np.count_nonzero(scores > mine)) + 1  # ties rank the booked one first


def metrics(booked: list[Booked], weights: Mapping[str, float]) -> dict[str, Any]:
    w = np.array([weights[f] for f in FACTORS])
    ranks = [rank_of(b, w) for b in booked]
    n = max(len(ranks), 1)
    return {
        "booked_mrr": round(sum(1.0 / r for r in ranks if r) / n, 6),
        "booked_hit_at_3": round(sum(1 for r in ranks if r and r <= 3) / n, 6),
        "outcomes": len(ranks),
    }


def publish(
    settings: Settings, name: str, weights: Mapping[str, float], report: dict[str, Any]
) -> Path:
    """The weighting as a registry version with its evaluation."""
    version = artifacts.new_version()
    tmp = artifacts.staging(settings.index.artifacts_dir, KIND, version)
    (tmp / "weights.json").write_text(json.dumps(dict(weights), indent=2))
    (tmp / EVALUATION).parent.mkdir(parents=True, exist_ok=True)
    (tmp / EVALUATION).write_text(json.dumps(report, indent=2))
    return artifacts.publish(
        tmp, {"version": version, "kind": KIND, "name": name, "metrics": report["metrics"]}
    )


async def run(settings: Settings, push: bool = True) -> dict[str, Any]:
    """Every candidate's metrics; the best is published when it has outcomes to show."""
    registry = Registry.from_settings(settings)
    live = registry.live().get(KIND)
    current = live_weights(settings) or settings.requests.weights
    conn = await connect(settings.database)
    try:
        booked = await load_booked(conn)
    finally:
        await conn.close()
    results = {name: metrics(booked, w) for name, w in {"serving": current, **CANDIDATES}.items()}
    best = max(CANDIDATES, key=lambda n: (results[n]["booked_mrr"], results[n]["booked_hit_at_3"]))
    report: dict[str, Any] = {"weightings": results, "best": best}
    if push and booked:
        evaluation = {
            "metrics": results[best],
            "baseline": {"weighting": live, "metrics": results["serving"]},
        }
        folder = publish(settings, best, CANDIDATES[best], evaluation)
        registry.push(KIND, folder)
        report["version"] = folder.name
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-push", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(Settings.from_env(), push=not args.no_push)), indent=2))
