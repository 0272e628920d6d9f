"""Request matching at scale: HTTP request -> ranked answer beside the no-op floor, and the
Kafka round trip (request published -> reply consumed), in one run.

    python -m bench.requests --providers 10000

Seeds the demo catalogue (idempotent; provider vectors from a seeded generator unless
--embed, which runs the real model over every provider's text), then serves the real ASGI
app (requests mode, in-process stages, uvicorn) and measures, interleaved so both see the
same machine: POST /v1/requests (each a new request id: ranked, not cached) and
GET /health/live (the no-op floor through the same server and middleware). Then the Kafka
path through a tansu broker: the service's consumer, ranking, the outbox and its relay.
Writes (replaces) its section of --out (BENCHMARKS.md), keeping its `### Reading` part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import api_key, ensure_database
from bench.report import read_report, replace_section
from matching.core.settings import Settings
from matching.devtools.demo_requests import demo_providers, embed_providers, insert_providers
from matching.devtools.services import TansuBroker, free_port

SECTION = "## Request matching"
SKILLS = ["Python", "React", "ML", "Leadership", "Figma", "Spanish", "SQL", "Fundraising"]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def request_body(rng: random.Random) -> dict[str, Any]:
    skills = rng.sample(SKILLS, 2)
    return {
        "request_id": f"bench-{uuid.uuid4().hex}",
        "title": f"Help with {skills[0]}",
        "description": f"Looking for someone experienced in {skills[0]} and {skills[1]}.",
        "session_type": rng.choice(["one_on_one", "one_on_one", "group"]),
        "skills_required": [
            {"name": skills[0], "level": "intermediate", "mandatory": rng.random() < 0.5},
            {"name": skills[1], "level": "beginner", "weight": 0.5},
        ],
        "budget": {"max_hourly_rate": rng.choice([80, 120, 200]), "currency": "USD"},
        "availability": {
            "days_of_week": sorted(rng.sample(range(7), 3)),
            "time_slots": [{"start": "09:00", "end": "13:00"}],
            "timezone": rng.choice(ZONES),
        },
    }


class FastEncoder:
    """Unit vectors seeded by each text: the catalogue's size without 10k model calls."""

    def __init__(self, model_version: str) -> None:
        self.model_version = model_version  # the served embedder's: the index keeps only those

    def encode(self, texts: list[str]) -> np.ndarray:
        seeds = [int.from_bytes(t.encode()[:8].ljust(8, b"_"), "little") ^ len(t) for t in texts]
        rows = [np.random.default_rng(s).standard_normal(384) for s in seeds]
        out = np.stack(rows).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


async def seed(settings: Settings, n: int, embed: bool) -> str:
    """Replace the catalogue with the demo's first `n` providers."""
    from matching.core.ml.embedding import ModelEncoder, model_path, model_version
    from matching.core.storage.db import connect
    from matching.core.storage.migrate import migrate

    version = model_version(model_path(settings.model))
    model = ModelEncoder(settings.model)
    encoder = model if embed else FastEncoder(version)
    providers = demo_providers(n)
    started = time.perf_counter()
    # skill names always by the model (a few hundred of them): the service embeds a
    # request's skills by it, and "React" must still meet "React.js"
    embedded = await asyncio.to_thread(embed_providers, encoder, providers, model)
    conn = await connect(settings.database)
    try:
        await migrate(conn)
        # this run's broker starts its offsets at 0: forget the last run's requests too
        await conn.execute(
            "TRUNCATE providers, provider_changes, match_requests, consumer_inbox CASCADE"
        )
        await insert_providers(conn, providers, embedded, version)
    finally:
        await conn.close()
    kind = "model" if embed else "generated"
    return f"{n} providers seeded in {time.perf_counter() - started:.0f} s ({kind} vectors)"


async def start_app(settings: Settings) -> tuple[Any, uvicorn.Server, asyncio.Task[None], str]:
    """The requests mode's real app on uvicorn in this process (stages in-process)."""
    from deployments.embedder import Embedder
    from deployments.reranker import Reranker
    from deployments.retriever import Retriever
    from matching.core.api.resources import Resources
    from matching.core.stages import LocalStage
    from serve_app.http import create_http_app
    from serve_app.services import build_services

    retriever = Retriever(settings)
    await retriever.start()
    stages = (LocalStage(Embedder(settings.model)), LocalStage(retriever))
    resources = Resources(settings, *stages, LocalStage(Reranker(settings)))
    await resources.start()
    services = build_services(resources, ("requests",))
    port = free_port()
    config = uvicorn.Config(
        create_http_app(services), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    return services, server, task, f"http://127.0.0.1:{port}"


async def http_run(url: str, n: int, concurrency: int, rng: random.Random) -> dict[str, Any]:
    """n ranked requests and n no-op calls, interleaved, `concurrency` at a time."""
    headers = {"X-API-Key": api_key()}
    times: dict[str, list[float]] = {"request": [], "noop": []}
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def one(kind: str) -> None:
            async with sem:
                started = time.perf_counter()
                if kind == "request":
                    r = await client.post("/v1/requests", json=request_body(rng))
                else:
                    r = await client.get("/health/live")
                r.raise_for_status()
                times[kind].append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(k) for _ in range(n) for k in ("request", "noop")))
    return {k: (_pct(v, 50), _pct(v, 99)) for k, v in times.items()}


async def kafka_run(
    settings: Settings, services: Any, n: int, rng: random.Random
) -> tuple[float, float]:
    """Sequential round trips: publish a request, wait for its reply."""
    from matching.core.events.relay import OutboxRelay

    relay = OutboxRelay(settings.database, settings.kafka, election_interval_s=0.3)
    await relay.start()
    mode = services.mode("requests")
    await mode.start()
    bootstrap = settings.kafka.bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    replies = AIOKafkaConsumer(
        # the broker is this run's own: from the start, so no reply races the assignment
        settings.requests.replies_topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
    )
    await producer.start()
    await replies.start()
    times: list[float] = []
    try:
        await asyncio.sleep(2.0)  # the consumer joins its group
        for i in range(n + 3):  # the first three warm the path up
            correlation = uuid.uuid4().hex
            body = {**request_body(rng), "correlation_id": correlation}
            started = time.perf_counter()
            await producer.send_and_wait(
                settings.requests.requests_topic, json.dumps(body).encode()
            )
            while True:
                try:
                    record = await asyncio.wait_for(replies.getone(), 120)
                except TimeoutError:
                    print({"consumer": mode.info(), "relay": relay.info()}, flush=True)
                    raise
                if json.loads(record.value)["correlation_id"] == correlation:
                    break
            if i >= 3:
                times.append((time.perf_counter() - started) * 1000)
    finally:
        await replies.stop()
        await producer.stop()
        await mode.stop()
        await relay.stop()
    return _pct(times, 50), _pct(times, 99)


def _table(args: argparse.Namespace, seeded: str, http: dict[int, Any], kafka: Any) -> str:
    load = os.getloadavg()[0]
    lines = [
        f"{SECTION} ({args.providers:,} providers)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python -m bench.requests --providers "
        f"{args.providers} --requests {args.requests}`; {os.cpu_count()} cores, load "
        f"{load:.1f} at the end; {seeded}. One process: uvicorn serving the real app "
        "(requests mode, stages in-process), the load client on the same event loop.",
        "",
        "### HTTP: POST /v1/requests beside the no-op floor (GET /health/live), interleaved",
        "",
        "| concurrency | request p50 ms | request p99 ms | no-op p50 ms | no-op p99 ms "
        "| p50 ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c, t in http.items():
        (rp50, rp99), (np50, np99) = t["request"], t["noop"]
        lines.append(
            f"| {c} | {rp50:.1f} | {rp99:.1f} | {np50:.1f} | {np99:.1f} | {rp50 / np50:.1f}x |"
        )
    lines += [
        "",
        "### Kafka: request published -> reply consumed (sequential)",
        "",
        "| round trips | p50 ms | p99 ms |",
        "|---:|---:|---:|",
        f"| {args.kafka} | {kafka[0]:.1f} | {kafka[1]:.1f} |",
    ]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    api_key()
    os.environ["DATABASE_URL"] = await ensure_database(args.database)
    os.environ.setdefault("MATCHING_RATE_LIMIT_SEARCH", "0")
    os.environ.setdefault("MATCHING_RELAY_POLL_S", "0.05")
    topics = {"matching-requests": 1, "matching-responses": 1, "matching-errors": 1}
    with TansuBroker(Path(tempfile.mkdtemp(prefix="bench-kafka-")), topics=topics) as broker:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        settings = Settings.from_env()
        seeded = await seed(settings, args.providers, args.embed)
        print(seeded, flush=True)
        services, server, task, url = await start_app(settings)
        rng = random.Random(11)
        try:
            await http_run(url, 5, 1, rng)  # builds the catalogue and the skill vectors
            http = {c: await http_run(url, args.requests, c, rng) for c in (1, 8)}
            print(http, flush=True)
            kafka = await kafka_run(settings, services, args.kafka, rng)
            print(kafka, flush=True)
        finally:
            server.should_exit = True
            await task
            await services.resources.close()
    out = Path(args.out)
    out.write_text(replace_section(read_report(out), _table(args, seeded, http, kafka), SECTION))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--kafka", type=int, default=100)
    parser.add_argument("--embed", action="store_true", help="embed every provider's text")
    parser.add_argument("--database", default="matching_bench_requests")
    parser.add_argument("--out", default="BENCHMARKS.md")
    asyncio.run(main(parser.parse_args()))
