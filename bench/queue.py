"""The real-time queue under load: users waiting across criteria, each on a WebSocket,
confirming the match it pushes; both arrival patterns side by side in one run.

    python -m bench.queue --users 1000 --criteria 20 --paced-s 10

Starts the queue mode's app under uvicorn in its own process (bench/queue_server.py) over
the real PostgreSQL and Redis, then for each scenario opens one WebSocket per user (token in
the query), and once all are open each user POSTs a ticket (`burst`: all at once; `paced`:
arrivals spread evenly over --paced-s), answers match_found with POST /v1/queue/confirm and
stops at match_ready. Measures tickets per second (accepted POSTs over the time from the
first POST to the last answer), the POST's own latency, time to match (POST sent ->
match_found received) and time to session (POST sent -> match_ready received), p50 / p99.
Writes (replaces) its section of --out (BENCHMARKS.md), keeping the `### Reading` commentary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import api_key, ensure_database
from bench.report import read_report, replace_section
from matching.core.auth.tokens import mint_token
from matching.core.settings import Settings
from matching.devtools.services import free_port
from matching.queue.definition import QueueDefinition

SECTION = "## Queue"
HOST = "127.0.0.1"


@dataclass
class Run:
    """One user's timeline (perf_counter seconds)."""

    sent: float = 0.0
    answered: float = 0.0
    found: float | None = None
    ready: float | None = None
    errors: list[str] = field(default_factory=list)


def _environment(database_url: str, artifacts: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "MATCHING_QUEUE_REDIS_PREFIX": "{bench" + uuid.uuid4().hex[:8] + "}:",
        "MATCHING_ARTIFACTS_DIR": artifacts,
        "AUTH_ACCESS_SECRET": secrets.token_urlsafe(48),
        "MATCHING_QUEUE_RELAX_AFTER_S": "3600",  # exact criteria only: the pairing is measured
        "MATCHING_DB_POOL_MAX": "8",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        # One process serves every socket: on a busy machine its event loop, not Redis, is
        # what is slow to read a reply, and a 1 s read timeout would close sockets for it.
        "MATCHING_REDIS_TIMEOUT_S": "5",
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # the outbox keeps match.found; no relay here
    return env


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", "bench.queue_server", str(port)], env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/health/live", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise RuntimeError("the queue server exited during start-up")
    server.kill()
    raise RuntimeError("the queue server never became live")


async def _user(
    http: httpx.AsyncClient,
    ws: ClientConnection,
    token: str,
    criteria: dict[str, str],
    start_at: float,
    run: Run,
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        await _ticket_to_session(http, ws, token, criteria, run)
    except (httpx.HTTPError, ConnectionClosed) as exc:  # counted, not fatal: the row says
        run.errors.append(type(exc).__name__)


async def _ticket_to_session(
    http: httpx.AsyncClient, ws: ClientConnection, token: str, criteria: dict[str, str], run: Run
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    run.sent = time.perf_counter()
    response = await http.post("/v1/queue/requests", json={"criteria": criteria}, headers=headers)
    run.answered = time.perf_counter()
    if response.status_code != 201:
        run.errors.append(f"ticket {response.status_code}")
        return
    async for raw in ws:
        event = json.loads(raw)
        if event["type"] == "match_found":
            run.found = time.perf_counter()
            body = {"match_id": event["match_id"], "confirmed": True}
            answer = await http.post("/v1/queue/confirm", json=body, headers=headers)
            if answer.status_code != 200:
                run.errors.append(f"confirm {answer.status_code}")
        elif event["type"] == "match_ready":
            run.ready = time.perf_counter()
            return


async def _scenario(
    port: int, settings: Settings, users: int, keys: list[dict[str, str]], spread_s: float
) -> list[Run]:
    tokens = [mint_token(settings.auth, uuid.uuid4(), frozenset(), 3600) for _ in range(users)]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", timeout=120, limits=limits
    ) as http:
        sockets = []
        for token in tokens:  # opened one after another: the server registers each
            sockets.append(
                await connect(f"ws://{HOST}:{port}/v1/queue/ws?token={token}", max_queue=None)
            )
        runs = [Run() for _ in range(users)]
        t0 = time.perf_counter() + 0.5
        step = spread_s / users
        try:
            tasks = [
                asyncio.create_task(_user(http, ws, tok, keys[i % len(keys)], t0 + i * step, run))
                for i, (ws, tok, run) in enumerate(zip(sockets, tokens, runs, strict=True))
            ]
            # Bounded: a user whose partner's POST failed waits out the confirmation window.
            _, late = await asyncio.wait(tasks, timeout=spread_s + 60)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
    return runs


def _ms(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    p50, p99 = np.percentile(np.array(values) * 1000, [50, 99])
    return f"{p50:.0f}", f"{p99:.0f}"


def _row(name: str, runs: list[Run]) -> str:
    row = _format_row(name, runs)
    print(row, flush=True)
    return row


def _format_row(name: str, runs: list[Run]) -> str:
    sent = [r for r in runs if r.sent and not r.errors]
    span = max(r.answered for r in sent) - min(r.sent for r in sent) if sent else 0.0
    rate = len(sent) / span if span else 0.0
    post = _ms([r.answered - r.sent for r in sent])
    found = _ms([r.found - r.sent for r in sent if r.found is not None])
    ready = _ms([r.ready - r.sent for r in sent if r.ready is not None])
    sessions = sum(r.ready is not None for r in runs)
    errors = sum(len(r.errors) for r in runs)
    return (
        f"| {name} | {len(runs)} | {rate:.0f} | {post[0]} / {post[1]} | {found[0]} / {found[1]} "
        f"| {ready[0]} / {ready[1]} | {sessions} | {errors} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--criteria", type=int, default=20)
    parser.add_argument("--paced-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    api_key()
    url = asyncio.run(ensure_database("matching_bench_queue"))
    with tempfile.TemporaryDirectory() as artifacts:
        env = _environment(url, artifacts)
        settings = Settings.from_env({k: v for k, v in env.items() if k in {"AUTH_ACCESS_SECRET"}})
        definition = QueueDefinition.from_settings(Settings.from_env({}).queue)
        chosen = [definition.criteria(k) for k in definition.all_keys()[: args.criteria]]
        port = free_port()
        server = _start_server(env, port)
        try:
            rows = [
                _row(
                    f"burst ({args.users} at once)",
                    asyncio.run(_scenario(port, settings, args.users, chosen, 0.0)),
                ),
                _row(
                    f"paced ({args.users} over {args.paced_s:.0f} s)",
                    asyncio.run(_scenario(port, settings, args.users, chosen, args.paced_s)),
                ),
            ]
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:  # sockets still draining
                server.kill()
    _write(args, rows)


def _write(args: argparse.Namespace, rows: list[str]) -> None:
    body = "\n".join(
        [
            SECTION,
            "",
            f"`python -m bench.queue --users {args.users} --criteria {args.criteria} "
            f"--paced-s {args.paced_s:g}` on {platform.node()} ({os.cpu_count()} CPUs, shared), "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. One uvicorn process serving the queue mode "
            "(matcher, pub/sub hub, every WebSocket) over local PostgreSQL and Redis; the clients "
            "(one WebSocket per user) in one asyncio process on the same machine. Times in ms, "
            "p50 / p99; tickets/s counts accepted POSTs from the first sent to the last answered.",
            "",
            "| arrivals | users | tickets/s | POST ticket | time to match | time to session "
            "| sessions | errors |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    report = replace_section(read_report(args.out), body)
    args.out.write_text(report)
    print(body)


if __name__ == "__main__":
    main()
