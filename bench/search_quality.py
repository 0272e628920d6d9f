"""Search quality: precision@10 on what a prompt names, per kind of prompt.

    python -m bench.search_quality --users 20000

Seeds the demo population (idempotent) into its own database, then generates prompts of
several kinds from the search vocabulary (matching.core.domain.vocabulary), each with the
attributes it names known from how it was generated (not from the parser). Ground truth is
computed from the database's rows: the people with every named attribute within the radius.
precision@10 = (top ten with every named attribute) / min(10, such people); prompts nobody
fits are skipped. The hybrid search (what the prompt names filters and ranks first) runs
beside the semantic-only one (the same request with empty `terms`) in the same process.
Writes (replaces) its section of --out (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import prepare
from bench.report import read_report, replace_section
from matching.core.domain import vocabulary as vocab
from matching.core.domain.geo import public_km
from matching.core.domain.prompt import NEAR_ME_KM
from matching.core.domain.search_terms import SearchTerms, singular, words
from matching.core.domain.vocabulary_tables import CITIES
from matching.core.settings import Settings

SECTION = "## Search quality"
K = 10
Row = dict[str, Any]
Check = Callable[[Row], bool]
GOAL_PROMPTS = {  # goal -> how a person would ask for someone with it
    "mentorship": "people who mentor others",
    "find a mentor": "people looking for a mentor",
    "find a cofounder": "people looking for a cofounder",
    "hiring": "people who are hiring",
    "job seeking": "people job hunting",
    "investing": "investors",
    "fundraising": "people raising money",
    "friendship": "people looking for friendship",
    "partnerships": "people open to partnerships",
    "collaboration": "people open to collaboration",
}
LEVELS = {"founder": "founders", "senior": "senior people", "executive": "executives"}
GENDERS = {"female": "women", "male": "men"}
# Role nouns that are not also job-level words ("senior executives" names two levels).
ROLE_NOUNS = sorted({r.split()[-1] for r in vocab.ROLES} - set(vocab.LEVEL_WORDS))


@dataclass(slots=True)
class Prompt:
    kind: str
    text: str
    checks: dict[str, Check]  # named attribute -> does a row have it
    near: tuple[float, float] | None = None
    results: dict[str, float] = field(default_factory=dict)


def _interest(i: str) -> Check:
    return lambda r: i in r["interests"] or i in r["skills"]


def _role(noun: str) -> Check:
    return lambda r: noun in {singular(w) for w in words(r["job_title"] or "")}


def _eq(column: str, value: object) -> Check:
    return lambda r: r[column] == value


def _has(column: str, value: str) -> Check:
    return lambda r: value in r[column]


def _ages(low: int, high: int) -> Check:
    return lambda r: r["age"] is not None and low <= r["age"] <= high


def _generators(rng: random.Random) -> dict[str, Callable[[], Prompt]]:
    interests = sorted(vocab.INTERESTS - {"mentoring", "film", "books", "history", "languages"})
    skills = sorted(s for s in vocab.SKILLS if len(s) > 3 and s not in vocab.INTERESTS)
    langs = sorted(vocab.LANGUAGES - {"english"})
    industries = sorted(vocab.INDUSTRIES)

    def near() -> tuple[float, float]:
        city = rng.choice(CITIES)
        return city.lat, city.lon

    def gender_interest() -> Prompt:
        g, i = rng.choice(sorted(GENDERS)), rng.choice(interests)
        text = f"{GENDERS[g]} who love {i} near me"
        return Prompt("gender + interest", text, {g: _eq("gender", g), i: _interest(i)}, near())

    def issue_like() -> Prompt:
        g, i = rng.choice(sorted(GENDERS)), rng.choice(interests)
        text = f"{GENDERS[g]} who love {i} and mentor founders near me"
        checks = {g: _eq("gender", g), i: _interest(i), "mentorship": _has("goals", "mentorship")}
        return Prompt("gender + interest + goal", text, checks, near())

    def level_industry() -> Prompt:
        level, ind = rng.choice(sorted(LEVELS)), rng.choice(industries)
        checks = {level: _eq("job_level", level), ind: _eq("industry", ind)}
        return Prompt("job level + industry", f"{LEVELS[level]} in {ind}", checks)

    def level_role() -> Prompt:
        noun = rng.choice(ROLE_NOUNS)
        checks = {"senior": _eq("job_level", "senior"), noun: _role(noun)}
        return Prompt("job level + role", f"senior {noun}s", checks)

    def language() -> Prompt:
        lang = rng.choice(langs)
        return Prompt(
            "language", f"people who speak {lang} near me", {lang: _has("languages", lang)}, near()
        )

    def goal() -> Prompt:
        g = rng.choice(sorted(GOAL_PROMPTS))
        return Prompt("networking goal", GOAL_PROMPTS[g], {g: _has("goals", g)})

    def age_interest() -> Prompt:
        i, decade = rng.choice(interests), rng.choice((2, 3, 4, 5))
        checks = {i: _interest(i), f"{decade}0s": _ages(10 * decade, 10 * decade + 9)}
        return Prompt("age + interest", f"{i} lovers in their {decade}0s", checks)

    def skill() -> Prompt:
        s = rng.choice(skills)
        return Prompt("skill", f"people who know {s}", {s: _interest(s)})

    return {
        "gender + interest": gender_interest,
        "gender + interest + goal": issue_like,
        "job level + industry": level_industry,
        "job level + role": level_role,
        "language": language,
        "networking goal": goal,
        "age + interest": age_interest,
        "skill": skill,
    }


def make_prompts(per_kind: int, seed: int = 3) -> list[Prompt]:
    rng = random.Random(seed)
    return [p() for p in _generators(rng).values() for _ in range(per_kind)]


async def _rows(settings: Settings) -> dict[str, Row]:
    from matching.core.storage.db import connect

    conn = await connect(settings.database)
    try:
        rows = await conn.fetch(
            "SELECT id, gender, interests, skills, networking_goals AS goals, job_level, "
            "job_title, lower(industry) AS industry, languages, age, latitude, longitude "
            "FROM profiles WHERE active"
        )
    finally:
        await conn.close()
    return {str(r["id"]): dict(r) for r in rows}


def relevant(p: Prompt, rows: dict[str, Row]) -> set[str]:
    """Who has every attribute the prompt names, within its radius (the service's distance)."""

    def near(r: Row) -> bool:
        if p.near is None:
            return True
        if r["latitude"] is None:
            return False
        return public_km(p.near[0], p.near[1], r["latitude"], r["longitude"]) <= NEAR_ME_KM

    return {i for i, r in rows.items() if near(r) and all(c(r) for c in p.checks.values())}


def show_me_recall(cindex: Any, n: int = 200) -> dict[str, tuple[float, float]]:
    """Recall@10 of the live index under requesters' own two-sided masks, without and with a
    show_me (real people made to want one gender): (mean share of rows kept, recall)."""
    from matching.core.retrieval.recall import recall_under_masks

    store = cindex.store
    alive = np.flatnonzero(store.cols["alive"][: store.n_rows])
    rows = np.random.default_rng(2).choice(alive, size=min(n, len(alive)), replace=False)
    queries = np.stack([cindex.index.vector(int(r)) for r in rows])
    out = {}
    for label, show in (("own preferences", frozenset()), ("+ show_me one gender", None)):
        masks = []
        for i, r in enumerate(rows.tolist()):
            me = store.people[r]
            wanted = show if show is not None else frozenset({("female", "male")[i % 2]})
            me = dataclasses.replace(me, prefs=dataclasses.replace(me.prefs, show_me=wanted))
            masks.append(store.mask_for(me))
        kept = float(np.mean([m.mean() for m in masks]))
        out[label] = (kept, recall_under_masks(cindex.index, queries, masks))
    return out


async def _run(
    settings: Settings, prompts: list[Prompt], rows: dict[str, Row]
) -> tuple[int, dict[str, tuple[float, float]]]:
    """Each prompt both ways; returns how many were skipped (nobody fits), and the recall
    under show_me."""
    from deployments.embedder import Embedder
    from deployments.reranker import Reranker
    from deployments.retriever import Retriever
    from matching.core.api.resources import Resources
    from matching.core.stages import LocalStage
    from matching.discovery.schemas import SearchRequest
    from matching.discovery.service import DiscoveryService

    retriever = Retriever(settings)
    await retriever.start()
    resources = Resources(
        settings, LocalStage(Embedder(settings.model)), LocalStage(retriever),
        LocalStage(Reranker(settings)),
    )  # fmt: skip
    await resources.start()
    service, skipped = DiscoveryService(resources), 0
    try:
        for p in prompts:
            truth = relevant(p, rows)
            if not truth:
                skipped += 1
                continue
            lat, lon = p.near if p.near is not None else (None, None)
            for mode, terms in (("hybrid", None), ("semantic", SearchTerms())):
                req = SearchRequest(
                    prompt=p.text, limit=K, terms=terms, latitude=lat, longitude=lon
                )
                started = time.perf_counter()
                ranked, _ = await service.search(req)
                p.results[f"{mode}_ms"] = (time.perf_counter() - started) * 1000
                got = [m.user_id for m in ranked]
                p.results[mode] = len(set(got) & truth) / min(K, len(truth))
            p.results["relevant"] = len(truth)
        recall = show_me_recall(retriever.index)
    finally:
        await resources.close()
        await retriever.close()
    return skipped, recall


def _table(prompts: list[Prompt]) -> list[str]:
    lines = [
        "| kind | prompts | example | hybrid precision@10 | semantic-only precision@10 | "
        "hybrid ÷ semantic | median relevant | hybrid p50 ms | semantic p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    kinds = dict.fromkeys(p.kind for p in prompts)
    for kind in kinds:
        done = [p for p in prompts if p.kind == kind and p.results]
        if not done:
            continue
        h = statistics.mean(p.results["hybrid"] for p in done)
        s = statistics.mean(p.results["semantic"] for p in done)
        ratio = f"{h / s:.2f}" if s else "n/a"
        rel = statistics.median(p.results["relevant"] for p in done)
        hm = statistics.median(p.results["hybrid_ms"] for p in done)
        sm = statistics.median(p.results["semantic_ms"] for p in done)
        lines.append(
            f'| {kind} | {len(done)} | "{done[0].text}" | {h:.3f} | {s:.3f} | {ratio} | '
            f"{rel:.0f} | {hm:.1f} | {sm:.1f} |"
        )
    return lines


def _recall_table(recall: dict[str, tuple[float, float]]) -> list[str]:
    lines = ["| requester's mask | rows kept (mean) | recall@10 |", "|---|---|---|"]
    for label, (kept, value) in recall.items():
        lines.append(f"| {label} | {kept:.1%} | {value:.4f} |")
    return lines


def _write(
    args: argparse.Namespace,
    n: int,
    prompts: list[Prompt],
    skipped: int,
    recall: dict[str, tuple[float, float]],
) -> str:
    worst = min(
        statistics.mean(p.results["hybrid"] for p in prompts if p.kind == k and p.results)
        for k in {p.kind for p in prompts if p.results}
    )
    lines = [
        f"{SECTION}: precision@10 on what a prompt names, {n:,} people",
        "",
        f"Written by `python -m bench.search_quality --users {args.users} --per-kind "
        f"{args.per_kind}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, "
        f"{platform.python_version()}. Prompts are generated from the search vocabulary; "
        "the truth is every person in the database with all the named attributes within the "
        'radius (50 km around a demo city for "near me"); precision@10 is the share of the '
        "top ten with them all, of min(10, such people). Both columns come from one run, "
        f"in-process; {skipped} prompts that nobody fits were skipped. Target: >= 0.9 for "
        f"every kind; the worst kind here: {worst:.3f}.",
        "",
        *_table(prompts),
        "",
        "### Recall@10 under show_me (tie-aware, live index vs exact search, same masks)",
        "",
        *_recall_table(recall),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--per-kind", type=int, default=25)
    p.add_argument("--database", default="matching_bench_search")
    p.add_argument("--artifacts", default=".matching/bench-search-artifacts")
    p.add_argument("--out", default="BENCHMARKS.md")
    args = p.parse_args()
    settings = prepare(args.users, args.database, args.artifacts)
    rows = asyncio.run(_rows(settings))
    prompts = make_prompts(args.per_kind)
    skipped, recall = asyncio.run(_run(settings, prompts, rows))
    for line in _table(prompts) + _recall_table(recall):
        print(line)
    out = Path(args.out)
    body = _write(args, len(rows), prompts, skipped, recall)
    out.write_text(replace_section(read_report(out), body, SECTION))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
