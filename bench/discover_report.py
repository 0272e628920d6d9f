"""The tables bench.discover writes: floor, recall, targets, Serve runs, and the scale table.

The scale table has one row per population size; a run replaces its own row and keeps the
others, so `--users 10000`, `100000` and `1000000` runs build it together.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.load import LoadResult

Table = dict[tuple[str, int], LoadResult]
SCALE = "### Scale: the same run at each population size"
_SCALE_HEAD = [
    "| people | index | index MiB | single discover p50 ms (1 client) | no-op p50 ms | "
    "p50 ÷ no-op | discover req/s (4 clients) | req/s ÷ no-op | single replica RSS MiB | "
    "pipeline Retriever RSS MiB | written |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]


@dataclass(frozen=True, slots=True)
class Run:
    """What one run measured: the in-process floor, the Serve tables per configuration, and
    the replicas' resident memory (MiB, by "app:deployment") and the index file's size."""

    users: int
    floor: dict[str, Any]
    serve: dict[str, Table]
    rss: dict[str, dict[str, float]]
    index_mib: float


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _targets(run: Run, config: str) -> list[str]:
    """Issue 10's targets against this run's measurements, met or by how much not."""
    t, embed = run.serve[config], run.floor["embed"]["p50"]
    rows: list[tuple[str, float, str, bool]] = []
    for c in (1, 4):
        if ("single:discover", c) in t:
            d, n = t[("single:discover", c)], t[("noop:noop", c)]
            rows.append(
                (
                    f"single discover p50 ÷ no-op, {c} client(s)",
                    d.p50_ms / n.p50_ms,
                    "≤ 1.5",
                    d.p50_ms <= 1.5 * n.p50_ms,
                )
            )
            rows.append(
                (
                    f"single discover req/s ÷ no-op, {c} client(s)",
                    d.rps / n.rps,
                    "≥ 0.6",
                    d.rps >= 0.6 * n.rps,
                )
            )
    if ("single:discover", 16) in t and ("single:discover", 4) in t:
        r16, r4 = t[("single:discover", 16)].rps, t[("single:discover", 4)].rps
        rows.append(("single discover req/s at 16 ÷ at 4 clients", r16 / r4, "≥ 1.0", r16 >= r4))
    for app, limit in (("single", 1.5), ("pipeline", 1.5)):
        if (f"{app}:search", 1) in t:
            s, n = t[(f"{app}:search", 1)], t[("noop:noop", 1)]
            floor = n.p50_ms + embed
            rows.append(
                (
                    f"{app} search p50 ÷ (no-op p50 + one embedding {embed:.1f} ms), 1 client",
                    s.p50_ms / floor,
                    f"≤ {limit}",
                    s.p50_ms <= limit * floor,
                )
            )
    if ("pipeline:discover", 1) in t:
        d, n = t[("pipeline:discover", 1)], t[("noop:noop", 1)]
        rows.append(
            (
                "pipeline discover p50 ÷ no-op, 1 client",
                d.p50_ms / n.p50_ms,
                "≤ 3",
                d.p50_ms <= 3 * n.p50_ms,
            )
        )
    for keep, value in run.floor["recall"].items():
        rows.append((f"recall@10, filter keeps {keep:.0%}", value, "≥ 0.99", value >= 0.99))
    lines = [
        f"### Targets (`{config}`, discover cache off)",
        "",
        "| target | measured | wanted | met |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {v:.2f} | {want} | {'yes' if ok else '**no**'} |" for name, v, want, ok in rows
    ]
    return lines


def scale_row(run: Run, config: str, index_type: str) -> str:
    t = run.serve[config]
    d1, n1 = t[("single:discover", 1)], t[("noop:noop", 1)]
    d4, n4 = t.get(("single:discover", 4)), t.get(("noop:noop", 4))
    rps = f"{d4.rps:.0f} | {_ratio(d4.rps, n4.rps)}" if d4 and n4 else "n/a | n/a"
    rss = run.rss.get(config, {})
    single, retriever = rss.get("single:Ingress"), rss.get("pipeline:Retriever")
    return (
        f"| {run.users:,} | {index_type} | {run.index_mib:.0f} | {d1.p50_ms:.1f} | "
        f"{n1.p50_ms:.1f} | {_ratio(d1.p50_ms, n1.p50_ms)} | {rps} | "
        f"{'n/a' if single is None else f'{single:.0f}'} | "
        f"{'n/a' if retriever is None else f'{retriever:.0f}'} | "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} |"
    )


def scale_table(old_section: str, row: str, users: int) -> list[str]:
    """The scale table of `old_section` with this size's row replaced (rows by size)."""
    kept: dict[int, str] = {}
    inside = False
    for line in old_section.split("\n"):
        if line.startswith("### "):
            inside = line.startswith(SCALE)
        elif inside and line.startswith("| ") and line[2:3].isdigit():
            kept[int(line[2:].split(" |")[0].replace(",", ""))] = line
    kept[users] = row
    return [SCALE, "", *_SCALE_HEAD, *(kept[n] for n in sorted(kept))]


def serve_tables(table: Table, config: str) -> list[str]:
    lines = [
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
    return lines


def section(heading: str, command: str, duration: int, run: Run, old_section: str) -> str:
    """The whole `## Discover and search` section of this run (commentary kept by the caller)."""
    index = run.floor["index"]
    lines = [
        f"{heading}, {run.users:,} people (index: {index['type']}, {index['size']:,} live rows)",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} "
        f"cores shared with other work (1-minute load {os.getloadavg()[0]:.1f} at the end), "
        f"Python {platform.python_version()}, wrk, {duration}s per cell. Everything below "
        "but the scale table comes from one run; compare ratios and medians, not absolute "
        "numbers.",
        "",
    ]
    for config in run.serve:
        lines += [*_targets(run, config), ""]
    lines += [
        "### Compute floor: the same pipeline in-process (sequential calls)",
        "",
        "| call | p50 ms | p95 ms | p99 ms | calls/s |",
        "|---|---|---|---|---|",
    ]
    for kind in ("discover", "search", "embed"):
        f = run.floor[kind]
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
    lines += [f"| {keep:.0%} | {value:.4f} |" for keep, value in run.floor["recall"].items()]
    for config, table in run.serve.items():
        lines += ["", *serve_tables(table, config)]
        rss = run.rss.get(config, {})
        if rss:
            lines += [
                "",
                "Replica RSS after the run (MiB): "
                + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rss.items())),
            ]
    first = next(iter(run.serve))
    lines += ["", *scale_table(old_section, scale_row(run, first, index["type"]), run.users)]
    return "\n".join(lines) + "\n"
