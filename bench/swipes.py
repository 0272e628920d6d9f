"""Swipes through the served app: throughput beside the no-op floor, and swipe -> Kafka delay.

    python -m bench.swipes --users 2000 --duration 10 --concurrency 1 4 16

Seeds the population (idempotent), starts a tansu broker, then Ray + Serve with the app and
a no-op deployment, and measures:
  * POST /v1/swipes with wrk at each concurrency, beside the no-op floor. Pairs are random,
    a share of them inside a small hot set so reciprocal likes happen and matches form. The
    action is a fixed function of the ordered pair (like 75%, super_like 5%, pass 20%), so a
    repeated pair is a no-op and never an illegal change (409). Each cell starts from empty
    swipe_history / user_matches / event_outbox; the outbox must drain before the next one.
  * the delay from a swipe to its `swipe.performed` event on the matching topic: a paced
    client posts swipes on fresh pairs while a consumer (all partitions, from the end) reads
    the topic; events are matched to swipes by a sequence number in the swipe's context.
    Once per relay mode (--relay), each with its own Serve: `listen:S` wakes on PostgreSQL
    NOTIFY with a fallback poll every S seconds (the default), `poll:S` only polls
    (MATCHING_RELAY_LISTEN=false), so both run side by side in one run.
Writes (replaces) its section of --out (BENCHMARKS.md), keeping the other sections and the
section's hand-written `### Reading` commentary, and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import api_key, prepare
from bench.discover import _noop_apps, _stop_serve, _user_ids
from bench.load import LoadResult, have_wrk, run_wrk, wrk_json
from bench.report import read_report, replace_section
from matching.core.settings import Settings

TOPIC = "matching.events"
SECTION = "## Swipes"
# one record seen by the consumer: (received at, record timestamp, partition, offset, event_id)
Copy = tuple[float, float, int, int, str]
TOPICS = {TOPIC: 3, "user.events": 1, "event.events": 1, "matching.errors": 1}
HOST = "127.0.0.1"

_SWIPE_LUA = r"""
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("BENCH_PREFIX")
local n = #ids
local hot_n = math.max(2, math.min(tonumber(os.getenv("BENCH_HOT")), n))
local hot_share = tonumber(os.getenv("BENCH_HOT_SHARE"))
local reply_share = tonumber(os.getenv("BENCH_REPLY_SHARE"))
local recent, recent_size, recent_pos = {}, 64, 0
local headers = {
  ["Content-Type"] = "application/json", ["X-API-Key"] = os.getenv("BENCH_API_KEY")
}
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1e6))
  ok, conflicts, client_errors, server_errors = 0, 0, 0, 0
end

-- a fixed action per ordered pair: repeating a pair repeats its action (a no-op)
local function action(i, j)
  local h = (i * 73856093 + j * 19349663 + (i * j) % 1000003) % 100
  if h < 75 then return "like" elseif h < 80 then return "super_like" end
  return "pass"
end

local function pick(size)
  local i = math.random(size)
  local j = math.random(size - 1)
  if j >= i then j = j + 1 end
  return i, j
end

request = function()
  local i, j
  local r = math.random()
  if r < reply_share and #recent > 0 then
    local p = recent[math.random(#recent)]  -- the other way round: a recent swipe answered
    i, j = p[2], p[1]
  elseif r < reply_share + hot_share then i, j = pick(hot_n)
  else i, j = pick(n) end
  recent_pos = recent_pos % recent_size + 1
  recent[recent_pos] = {i, j}
  local body = '{"swiper_id":"' .. ids[i] .. '","swiped_id":"' .. ids[j]
    .. '","action":"' .. action(i, j) .. '","context":{"source":"bench"}}'
  return wrk.format("POST", prefix .. "/v1/swipes", headers, body)
end

response = function(status, headers, body)
  if status < 300 then ok = ok + 1
  elseif status == 409 then conflicts = conflicts + 1
  elseif status < 500 then client_errors = client_errors + 1
  else server_errors = server_errors + 1 end
end

done = function(summary, latency, requests)
  local c = {ok = 0, conflicts = 0, client_errors = 0, server_errors = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"p50": %d, "p95": %d, "p99": %d, "requests": %d, "duration_us": %d, '
    .. '"socket_errors": %d, "ok": %d, "conflicts": %d, "client_errors": %d, '
    .. '"server_errors": %d}\n',
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, c.ok, c.conflicts,
    c.client_errors, c.server_errors))
end
"""


@dataclass(frozen=True, slots=True)
class SwipeLoad:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    ok: int
    conflicts: int  # 409: illegal swipe changes (none by construction)
    errors: int  # socket errors, other 4xx, 5xx


@dataclass(frozen=True, slots=True)
class Cell:
    clients: int
    floor: LoadResult
    load: SwipeLoad
    swipes: int  # distinct swipes stored (rows in swipe_history)
    matches: int
    events: int
    drain_s: float | None  # from the end of the run to an empty outbox; None: timed out


@dataclass(slots=True)
class Delay:
    listen: bool
    poll_s: float
    rate: float
    load: float = 0.0  # the machine's 1-minute load average as the measurement started
    sent: int = 0  # swipes answered 200
    failed: int = 0  # swipes not answered 200
    seen: int = 0
    republished: int = 0  # the same event_id again at another offset (at-least-once)
    reread: int = 0  # the same record (partition, offset) delivered to the consumer again
    other_events: int = 0  # another swipe.performed for the same swipe (should never happen)
    delays_ms: list[float] = field(default_factory=list)
    to_record_ms: list[float] = field(default_factory=list)  # POST sent -> record timestamp
    from_record_ms: list[float] = field(default_factory=list)  # record timestamp -> consumer
    post_ms: list[float] = field(default_factory=list)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _relay_mode(text: str) -> tuple[bool, float]:
    """`listen:S` or `poll:S` -> (LISTEN on, poll seconds)."""
    mode, _, seconds = text.partition(":")
    if mode not in ("listen", "poll"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected listen:SECONDS or poll:SECONDS")
    try:
        return mode == "listen", float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {seconds!r} is not seconds") from None


def _relay_arg(listen: bool, poll_s: float) -> str:
    return f"{'listen' if listen else 'poll'}:{poll_s:g}"


def _relay_label(listen: bool, poll_s: float) -> str:
    return f"LISTEN, fallback poll {poll_s:g} s" if listen else f"poll every {poll_s:g} s"


def _pair(values: list[float]) -> str:
    return f"{_pct(values, 50):.0f} / {_pct(values, 99):.0f}"


# ---------------------------------------------------------------- database


async def _with_conn(settings: Settings, sql: str) -> Any:
    from matching.core.storage.db import connect

    conn = await asyncio.wait_for(connect(settings.database), 30)
    try:
        return await conn.fetchrow(sql, timeout=120)
    finally:
        await conn.close()


def _reset(settings: Settings) -> None:
    """Empty the tables a swipe writes to, so each measurement starts clean."""
    asyncio.run(_with_conn(settings, "TRUNCATE swipe_history, user_matches, event_outbox CASCADE"))


def _counts(settings: Settings) -> tuple[int, int, int]:
    row = asyncio.run(
        _with_conn(
            settings,
            "SELECT (SELECT count(*) FROM swipe_history) AS swipes, "
            "(SELECT count(*) FROM user_matches) AS matches, "
            "(SELECT count(*) FROM event_outbox) AS events",
        )
    )
    return int(row["swipes"]), int(row["matches"]), int(row["events"])


def _drain(settings: Settings, timeout_s: float) -> float | None:
    """Seconds until the relay has published the whole outbox; None if it did not in time."""

    async def wait() -> float | None:
        from matching.core.storage.db import connect

        started = time.monotonic()
        conn = await asyncio.wait_for(connect(settings.database), 30)
        try:
            while time.monotonic() - started < timeout_s:
                pending = await conn.fetchval(
                    "SELECT count(*) FROM event_outbox WHERE published_at IS NULL", timeout=30
                )
                if not pending:
                    return time.monotonic() - started
                await asyncio.sleep(0.1)
            return None
        finally:
            await conn.close()

    return asyncio.run(wait())


# ---------------------------------------------------------------- serve


def _start_serve(env: dict[str, str], port: int, composition: str, timeout_s: float) -> None:
    """Like bench.discover's, with only the app under test and the plain no-op deployment."""
    import httpx
    import ray
    from ray import serve

    from serve_app.app import build_app

    os.environ.update(env)  # before ray.init: the local workers inherit it
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "30")  # 2 busy cores
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": HOST, "port": port})
    serve.run(_noop_apps()["noop"], name="noop", route_prefix="/noop", blocking=False)
    serve.run(
        build_app({"composition": composition}),
        name=composition,
        route_prefix=f"/{composition}",
        blocking=False,
    )
    deadline = time.monotonic() + timeout_s
    for path in (f"/{composition}/health/ready", "/noop/"):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{port}{path}", timeout=5).is_success:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} not ready after {timeout_s:.0f}s")
            time.sleep(2)


def _wait_relay_leader(port: int, composition: str, timeout_s: float = 30.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
            report = httpx.get(
                f"http://{HOST}:{port}/{composition}/health",
                headers={"X-API-Key": api_key()},
                timeout=10,
            ).json()
            if report["background"]["relay"]["leader"]:
                return True
        time.sleep(0.5)
    return False


# ---------------------------------------------------------------- throughput


def run_swipe_wrk(
    base: str,
    prefix: str,
    concurrency: int,
    duration_s: int,
    ids: list[str],
    hot: int,
    hot_share: float,
    reply_share: float,
) -> SwipeLoad:
    with tempfile.TemporaryDirectory() as tmp:
        script, id_file = Path(tmp) / "swipes.lua", Path(tmp) / "ids"
        script.write_text(_SWIPE_LUA)
        id_file.write_text("\n".join(ids) + "\n")
        env = {
            **os.environ,
            "BENCH_IDS": str(id_file),
            "BENCH_PREFIX": prefix,
            "BENCH_HOT": str(hot),
            "BENCH_HOT_SHARE": str(hot_share),
            "BENCH_REPLY_SHARE": str(reply_share),
            "BENCH_API_KEY": api_key(),
        }
        d = wrk_json(script, base, concurrency, duration_s, env)
    return SwipeLoad(
        rps=d["requests"] / (d["duration_us"] / 1e6),
        p50_ms=d["p50"] / 1000,
        p95_ms=d["p95"] / 1000,
        p99_ms=d["p99"] / 1000,
        requests=d["requests"],
        ok=d["ok"],
        conflicts=d["conflicts"],
        errors=d["socket_errors"] + d["client_errors"] + d["server_errors"],
    )


def _throughput(args: argparse.Namespace, settings: Settings, ids: list[str]) -> list[Cell]:
    base, prefix = f"http://{HOST}:{args.port}", f"/{args.composition}"
    run_wrk(base, "/noop", "noop", 1, 2, ids, [""])  # warm-up
    run_swipe_wrk(base, prefix, 4, 2, ids, args.hot, args.hot_share, args.reply_share)
    _drain(settings, args.drain_timeout)
    cells = []
    for c in args.concurrency:
        floor = run_wrk(base, "/noop", "noop", c, args.duration, ids, [""])
        _reset(settings)
        load = run_swipe_wrk(
            base, prefix, c, args.duration, ids, args.hot, args.hot_share, args.reply_share
        )
        drain_s = _drain(settings, args.drain_timeout)
        swipes, matches, events = _counts(settings)
        cells.append(Cell(c, floor, load, swipes, matches, events, drain_s))
        print(
            f"swipes c={c:<3} {load.rps:7.1f} req/s p50 {load.p50_ms:6.1f} "
            f"p99 {load.p99_ms:6.1f} err {load.errors} 409 {load.conflicts} | "
            f"noop {floor.rps:7.1f} req/s | {swipes} swipes {matches} matches "
            f"{events} events, drained {drain_s}s",
            flush=True,
        )
    return cells


# ---------------------------------------------------------------- swipe -> topic delay


def _fresh_pairs(ids: list[str], count: int, rng: random.Random) -> list[tuple[str, str]]:
    count = min(count, len(ids) * (len(ids) - 1) // 2)
    seen: set[tuple[int, int]] = set()
    while len(seen) < count:
        i, j = rng.sample(range(len(ids)), 2)
        seen.add((i, j))
    return [(ids[i], ids[j]) for i, j in seen]


async def _read(consumer: Any, received: dict[int, list[Copy]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=50)
        now = time.time()
        for tp, records in batches.items():
            for r in records:
                try:
                    value = json.loads(r.value)
                except (TypeError, ValueError):
                    continue
                if value.get("event_type") != "swipe.performed":
                    continue
                seq = (value.get("context") or {}).get("bench_seq")
                if isinstance(seq, int):
                    copy = (now, r.timestamp / 1000, tp.partition, r.offset, value.get("event_id"))
                    received.setdefault(seq, []).append(copy)


async def _post_paced(
    client: Any,
    path: str,
    pairs: list[tuple[str, str]],
    rate: float,
    seq0: int,
    sent: dict[int, float],
    posted: dict[int, tuple[int, float]],
) -> None:
    import httpx

    async def one(seq: int, a: str, b: str) -> None:
        body = {
            "swiper_id": a,
            "swiped_id": b,
            "action": "like",
            "context": {"source": "bench-delay", "bench_seq": seq},
        }
        sent[seq] = time.time()
        started = time.perf_counter()
        try:
            status = (await client.post(path, json=body)).status_code
        except httpx.HTTPError:
            status = 0
        posted[seq] = (status, (time.perf_counter() - started) * 1000)

    start = time.perf_counter()
    tasks = []
    for k, (a, b) in enumerate(pairs):
        wait = start + k / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(seq0 + k, a, b)))
    await asyncio.gather(*tasks)


async def _delay(
    args: argparse.Namespace, ids: list[str], bootstrap: str, listen: bool, poll_s: float
) -> Delay:
    import httpx
    from aiokafka import AIOKafkaConsumer, TopicPartition

    result = Delay(listen=listen, poll_s=poll_s, rate=args.delay_rate, load=os.getloadavg()[0])
    n = max(1, round(args.delay_rate * args.delay_seconds))
    warm = max(1, round(args.delay_rate))  # one second, not counted (producer start etc.)
    pairs = _fresh_pairs(ids, n + warm, random.Random(int(poll_s * 1e6) + listen))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="bench-swipes",
        enable_auto_commit=False,
        fetch_max_wait_ms=args.fetch_wait_ms,
        request_timeout_ms=10_000,
    )
    await asyncio.wait_for(consumer.start(), 30)
    sent: dict[int, float] = {}
    posted: dict[int, tuple[int, float]] = {}
    received: dict[int, list[Copy]] = {}
    stop = asyncio.Event()
    reader: asyncio.Task[None] | None = None
    try:
        deadline = time.monotonic() + 30
        partitions: set[int] | None = None
        while not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(TOPIC)
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {TOPIC} has no partitions")
            if not partitions:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(TOPIC, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the offsets now, not on the first fetch
            await asyncio.wait_for(consumer.position(tp), 30)
        reader = asyncio.create_task(_read(consumer, received, stop))
        base = f"http://{HOST}:{args.port}/{args.composition}"
        headers = {"X-API-Key": api_key()}  # one backend acting for many people
        async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
            await _post_paced(client, "/v1/swipes", pairs[n:], args.delay_rate, 10**9, {}, {})
            await asyncio.sleep(1)
            await _post_paced(client, "/v1/swipes", pairs[:n], args.delay_rate, 0, sent, posted)
        ok = {seq for seq, (status, _) in posted.items() if status == 200}
        deadline = time.monotonic() + args.delay_timeout
        while time.monotonic() < deadline and not ok <= received.keys():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a duplicate would show up here
    finally:
        stop.set()
        if reader is not None:
            try:
                await asyncio.wait_for(reader, 10)
            except Exception as exc:  # report it, the consumer still has to stop
                print(f"delay: consumer loop failed: {exc!r}", flush=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 10)
    result.sent = len(ok)
    result.failed = len(posted) - len(ok)
    for seq in sorted(ok):
        result.post_ms.append(posted[seq][1])
        copies = received.get(seq)
        if not copies:
            continue
        result.seen += 1
        records = {(c[2], c[3]): c[4] for c in copies}
        result.reread += len(copies) - len(records)
        result.republished += sum(e == copies[0][4] for e in records.values()) - 1
        result.other_events += sum(e != copies[0][4] for e in records.values())
        got, record_ts = copies[0][:2]
        result.delays_ms.append((got - sent[seq]) * 1000)
        result.to_record_ms.append((record_ts - sent[seq]) * 1000)
        result.from_record_ms.append((got - record_ts) * 1000)
    if result.other_events:
        print(f"warning: {result.other_events} extra swipe.performed events", flush=True)
    print(
        f"delay {_relay_label(listen, poll_s)}: sent {result.sent} seen {result.seen} "
        f"p50 {_pct(result.delays_ms, 50):.1f} ms p99 {_pct(result.delays_ms, 99):.1f} ms",
        flush=True,
    )
    return result


# ---------------------------------------------------------------- the run


def _run(
    args: argparse.Namespace, settings: Settings, ids: list[str], bootstrap: str
) -> tuple[list[Cell], list[Delay]]:
    cells: list[Cell] = []
    delays: list[Delay] = []
    for k, (listen, poll) in enumerate(args.relay):
        env = {"MATCHING_RELAY_LISTEN": str(listen).lower(), "MATCHING_RELAY_POLL_S": str(poll)}
        try:
            _start_serve(env, args.port, args.composition, args.ready_timeout)
            if not _wait_relay_leader(args.port, args.composition):
                print("warning: the outbox relay did not report leadership", flush=True)
            if k == 0 and not args.no_throughput:
                cells = _throughput(args, settings, ids)
            _drain(settings, args.drain_timeout)
            _reset(settings)
            delays.append(asyncio.run(_delay(args, ids, bootstrap, listen, poll)))
        finally:
            try:
                _stop_serve(env)
            except Exception as exc:
                print(f"warning: stopping Serve/Ray failed: {exc!r}", flush=True)
    return cells, delays


def _write(args: argparse.Namespace, n_users: int, cells: list[Cell], delays: list[Delay]) -> str:
    lines = [
        f"{SECTION}: POST /v1/swipes and swipe -> `{TOPIC}` delay",
        "",
        f"Written by `python -m bench.swipes --users {args.users} --duration {args.duration} "
        f"--concurrency {' '.join(map(str, args.concurrency))} --composition {args.composition} "
        f"--relay {' '.join(_relay_arg(*m) for m in args.relay)}` "
        f"on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{n_users:,} people, {os.cpu_count()} cores, composition `{args.composition}`, "
        f"Python {platform.python_version()}, wrk {args.duration}s per cell, PostgreSQL, "
        "Redis (rate limits off), tansu broker, all on the same machine.",
    ]
    if cells:
        lines += [
            "",
            "### Throughput beside the no-op floor",
            "",
            f"Random pairs: {args.reply_share:.0%} answer a recent swipe (the reverse pair, "
            f"so mutual likes form), {args.hot_share:.0%} inside a hot set of {args.hot} "
            "people, the rest uniform; the action is fixed per ordered pair (like 75%, "
            "super_like 5%, pass 20%), "
            "so a repeated pair is a no-op (200, nothing written). Errors: socket errors, "
            "4xx other than 409, 5xx. Swipes, matches and events: rows written during the "
            "cell. Drained: seconds after the run until the relay had published the outbox. "
            f"Relay: {_relay_label(*args.relay[0])}.",
            "",
            "| clients | swipes/s | p50 ms | p95 ms | p99 ms | errors | 409 | no-op req/s | "
            "no-op p50 ms | req/s ÷ no-op | p50 ÷ no-op p50 | new swipes | matches | "
            "events | drained s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in cells:
            r, f = c.load, c.floor
            drained = "timeout" if c.drain_s is None else f"{c.drain_s:.1f}"
            lines.append(
                f"| {c.clients} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.errors} | {r.conflicts} | {f.rps:.0f} | "
                f"{f.p50_ms:.1f} | {r.rps / f.rps:.2f} | {r.p50_ms / f.p50_ms:.1f} | "
                f"{c.swipes} | {c.matches} | {c.events} | {drained} |"
            )
    lines += [
        "",
        f"### Delay from a swipe to its event on `{TOPIC}`",
        "",
        f"A paced client posts likes on fresh pairs ({args.delay_rate:g}/s for "
        f"{args.delay_seconds:g}s after a 1s warm-up); a consumer on every partition, from "
        f"the end (fetch wait {args.fetch_wait_ms} ms), matches `swipe.performed` events by a "
        "sequence number in the swipe's context. Delay: consumer received - POST sent. "
        "Record ts: the Kafka record timestamp (set when the relay's producer sends). "
        "Republished: the same event_id again at another offset (at-least-once delivery: "
        "a relay resend or a producer-level retry); re-read: the same record handed to the "
        "consumer twice. The last three columns split the delay (p50 / p99): the POST's own "
        "latency, POST sent -> record timestamp, record timestamp -> consumer. Load: the "
        "machine's 1-minute load average as the measurement started (the machine is shared).",
        "",
        "| relay | load | sent | seen | republished | re-read | p50 ms | p95 ms | p99 ms | "
        "max ms | POST ms | POST -> record ts ms | record ts -> consumer ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in delays:
        failed = f" ({d.failed} failed)" if d.failed else ""
        reread = f"{d.reread}" + (f" (+{d.other_events} other events)" if d.other_events else "")
        lines.append(
            f"| {_relay_label(d.listen, d.poll_s)} | {d.load:.1f} | {d.sent}{failed} | {d.seen} | "
            f"{d.republished} | {reread} | "
            f"{_pct(d.delays_ms, 50):.1f} | {_pct(d.delays_ms, 95):.1f} | "
            f"{_pct(d.delays_ms, 99):.1f} | {max(d.delays_ms, default=float('nan')):.1f} | "
            f"{_pair(d.post_ms)} | {_pair(d.to_record_ms)} | {_pair(d.from_record_ms)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--no-seed", action="store_true", help="use the population already there")
    p.add_argument("--database", default="matching_bench_swipes")
    p.add_argument("--artifacts", default=".matching/bench-swipes-artifacts")
    p.add_argument("--composition", default="single", choices=["single", "pipeline"])
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--hot", type=int, default=50, help="size of the hot set")
    p.add_argument("--hot-share", type=float, default=0.2, help="share of pairs in the hot set")
    p.add_argument(
        "--reply-share", type=float, default=0.2, help="share of swipes answering a recent one"
    )
    p.add_argument("--no-throughput", action="store_true", help="only measure the delay")
    p.add_argument(
        "--relay",
        type=_relay_mode,
        nargs="+",
        default=[(True, 1.0), (False, 0.2)],
        help="relay modes, each listen:POLL_S or poll:POLL_S; throughput runs with the first",
    )
    p.add_argument("--delay-rate", type=float, default=30.0, help="swipes per second")
    p.add_argument("--delay-seconds", type=float, default=10.0)
    p.add_argument("--delay-timeout", type=float, default=20.0)
    p.add_argument("--fetch-wait-ms", type=int, default=10)
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument("--ready-timeout", type=float, default=600.0)
    p.add_argument("--port", type=int, default=8124)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    p.add_argument("--out", default="BENCHMARKS.md")
    args = p.parse_args()
    if not have_wrk():
        raise SystemExit("bench: wrk not found (apt-get install wrk)")

    from matching.devtools.services import TansuBroker

    settings = prepare(0 if args.no_seed else args.users, args.database, args.artifacts)
    ids = asyncio.run(_user_ids(settings))
    if len(ids) < 3:
        raise SystemExit(f"bench: {len(ids)} active people; seed more (--users)")
    _reset(settings)
    broker = TansuBroker(Path(args.artifacts) / "tansu", topics=TOPICS)
    env = {
        "REDIS_URL": args.redis_url,
        "MATCHING_RATE_LIMIT_SWIPES": "0",
        "MATCHING_DISCOVER_CACHE_TTL_S": "0",
    }
    try:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap = broker.start()
        os.environ.update(env)  # before ray.init: Ray's local workers inherit it
        cells, delays = _run(args, settings, ids, bootstrap)
    finally:
        broker.stop()
        for key in env:
            os.environ.pop(key, None)
    text = _write(args, len(ids), cells, delays)
    out = Path(args.out)
    out.write_text(replace_section(read_report(out), text, SECTION))
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
