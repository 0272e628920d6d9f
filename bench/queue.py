"""The real-time queue under load: users waiting across criteria, each on a WebSocket,
confirming the match it pushes; both arrival patterns side by side in one run.

    python -m bench.queue --users 1000 --criteria 20 --paced-s 10

Starts the queue mode's app under uvicorn in --workers processes sharing one port
(bench/queue_server.py) over the real PostgreSQL and Redis, then for each scenario opens one
WebSocket per user (token in the query), and once all are open each user POSTs a ticket
(`burst`: all at once; `paced`: arrivals spread evenly over --paced-s) on their own HTTP
connection, answers match_found with POST /v1/queue/confirm and stops at match_ready.
Measures tickets per second, the POST's own latency, and time to match and to session both
as the service stamped them (ticket created -> match_found / match_ready `at`) and as the
client saw them (POST sent -> event received); errors by kind (bench/queue_report.py).
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
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import api_key, ensure_database
from bench.queue_report import Run, Scenario, format_rows, section
from bench.report import read_report, replace_section
from matching.core.auth.tokens import mint_token
from matching.core.settings import Settings
from matching.devtools.services import free_port
from matching.queue.definition import QueueDefinition

SECTION = "## Queue"
HOST = "127.0.0.1"
SCENARIO_CAP_S = 60.0  # after the last arrival; a user still waiting then is an error


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


def _start_servers(
    env: dict[str, str], port: int, workers: int, folder: Path
) -> list[subprocess.Popen[bytes]]:
    """`workers` processes on one port (SO_REUSEPORT: the kernel spreads the connections), as
    replicas behind Serve's proxy are: each has its sockets, hub and a matcher (one holds
    the lease). Started one after another (each loads the stages)."""
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(workers):
            ready = folder / f"ready-{n}"
            command = [sys.executable, "-m", "bench.queue_server", str(port), str(ready)]
            servers.append(subprocess.Popen(command, env=env))
            _wait_ready(servers[-1], ready)
    except BaseException:
        _stop(servers)
        raise
    return servers


def _stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # sockets still draining
            server.kill()


def _wait_ready(server: subprocess.Popen[bytes], ready: Path) -> None:
    deadline = time.monotonic() + 300  # a loaded machine loads the stages slowly
    while time.monotonic() < deadline:
        if ready.exists():
            return
        time.sleep(0.2)
        if server.poll() is not None:
            raise RuntimeError("the queue server exited during start-up")
    server.kill()
    raise RuntimeError("the queue server never became live")


async def _user(
    http: aiohttp.ClientSession,
    ws: ClientConnection,
    token: str,
    criteria: dict[str, str],
    start_at: float,
    run: Run,
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        await _ticket_to_session(http, ws, token, criteria, run)
    except (aiohttp.ClientError, TimeoutError) as exc:  # counted, not fatal: the breakdown says
        run.errors.append(f"{'POST' if not run.answered else 'confirm'} {type(exc).__name__}")
    except ConnectionClosed:
        run.errors.append("socket closed")
    except asyncio.CancelledError:  # the scenario's time ran out first
        waiting = "POST answer" if not run.answered else "match_found" if run.found is None else ""
        run.errors.append(f"no {waiting or 'match_ready'} in time")
        raise


async def _ticket_to_session(
    http: aiohttp.ClientSession,
    ws: ClientConnection,
    token: str,
    criteria: dict[str, str],
    run: Run,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    run.sent = time.perf_counter()
    async with http.post("/v1/queue/requests", json={"criteria": criteria}, headers=headers) as r:
        ticket = await r.json() if r.status == 201 else None
        run.answered = time.perf_counter()
        if ticket is None:
            run.errors.append(f"POST {r.status}")
            return
    run.created_ms = datetime.fromisoformat(ticket["created_at"]).timestamp() * 1000
    async for raw in ws:
        event = json.loads(raw)
        if event["type"] == "match_found":
            run.found, run.found_ms = time.perf_counter(), float(event["at"])
            body = {"match_id": event["match_id"], "confirmed": True}
            async with http.post("/v1/queue/confirm", json=body, headers=headers) as answer:
                if answer.status != 200:
                    run.errors.append(f"confirm {answer.status}")
        elif event["type"] == "match_ready":
            run.ready, run.ready_ms = time.perf_counter(), float(event["at"])
            return
    run.errors.append("socket closed")


async def _scenario(
    port: int, settings: Settings, users: int, keys: list[dict[str, str]], spread_s: float
) -> list[Run]:
    tokens = [mint_token(settings.auth, uuid.uuid4(), frozenset(), 3600) for _ in range(users)]
    # No cap on connections, as users each have theirs: a shared capped pool queued the POSTs
    # in the client and counted that wait as the service's. aiohttp, not httpx: httpx's pool
    # scans every waiting request on each change, which at 1,000 connections held the
    # client's loop for a minute while the service had long answered.
    # Idle connections are dropped after 2 s, before uvicorn's 5 s keep-alive closes them:
    # a confirmation sent on a connection the server had closed failed as a reset.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=2)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        f"http://{HOST}:{port}", connector=connector, timeout=timeout
    ) as http:
        sockets = []
        for token in tokens:  # opened one after another: the server registers each
            sockets.append(
                await connect(
                    f"ws://{HOST}:{port}/v1/queue/ws?token={token}", max_queue=None, open_timeout=60
                )
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
            _, late = await asyncio.wait(tasks, timeout=spread_s + SCENARIO_CAP_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
    return runs


def _load() -> str:
    """The 1, 5 and 15 minute load averages (what else ran on the machine)."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--criteria", type=int, default=20)
    parser.add_argument("--paced-s", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--scenarios", default="burst,paced")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    args = parser.parse_args()
    api_key()
    url = asyncio.run(ensure_database("matching_bench_queue"))
    spreads = {"burst": 0.0, "paced": args.paced_s}
    results: list[Scenario] = []
    with tempfile.TemporaryDirectory() as artifacts:
        env = _environment(url, artifacts)
        settings = Settings.from_env({k: v for k, v in env.items() if k in {"AUTH_ACCESS_SECRET"}})
        definition = QueueDefinition.from_settings(Settings.from_env({}).queue)
        chosen = [definition.criteria(k) for k in definition.all_keys()[: args.criteria]]
        port = free_port()
        servers = _start_servers(env, port, args.workers, Path(artifacts))
        try:
            for name in args.scenarios.split(","):
                spread = spreads[name]
                label = (
                    f"burst ({args.users} at once)"
                    if not spread
                    else f"paced ({args.users} over {spread:g} s)"
                )
                before, started = _load(), time.perf_counter()
                pids = [os.getpid(), *(server.pid for server in servers)]
                cpu = [_cpu_s(pid) for pid in pids]
                runs = asyncio.run(_scenario(port, settings, args.users, chosen, spread))
                wall = time.perf_counter() - started
                used = [_cpu_s(pid) - c for pid, c in zip(pids, cpu, strict=True)]
                results.append(Scenario(label, runs, before, _load(), wall, used[0], used[1:]))
                print(format_rows(results[-1:]), flush=True)
        finally:
            _stop(servers)
    body = section(SECTION, _command(args), results)
    print(body)
    if not args.no_write:
        args.out.write_text(replace_section(read_report(args.out), body))


def _command(args: argparse.Namespace) -> str:
    workers = f" --workers {args.workers}" if args.workers != 1 else ""
    return (
        f"`python -m bench.queue --users {args.users} --criteria {args.criteria} "
        f"--paced-s {args.paced_s:g}{workers}` on {platform.node()} ({os.cpu_count()} CPUs, "
        f"shared), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.workers} uvicorn worker "
        f"process{'es' if args.workers != 1 else ''}"
    )


if __name__ == "__main__":
    main()
