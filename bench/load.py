"""Load generation with wrk (C, so the generator does not eat the cores it measures)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import api_key

_SCRIPT = r"""
local ids, prompts = {}, {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
for line in io.lines(os.getenv("BENCH_PROMPTS")) do prompts[#prompts + 1] = line end
local prefix, kind = os.getenv("BENCH_PREFIX"), os.getenv("BENCH_KIND")
local key = os.getenv("BENCH_API_KEY")
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
request = function()
  if kind == "discover" then
    return wrk.format("GET", prefix .. "/v1/users/" .. ids[math.random(#ids)]
      .. "/discover?limit=20", {["X-API-Key"] = key})
  elseif kind == "search" then
    local body = '{"prompt": "' .. prompts[math.random(#prompts)] .. '", "limit": 20}'
    return wrk.format("POST", prefix .. "/v1/search",
      {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
  end
  return wrk.format("GET", prefix .. "/")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"p50": %d, "p95": %d, "p99": %d, "requests": %d, "duration_us": %d, '
    .. '"errors": %d, "non2xx": %d}\n',
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk_json(
    script: Path, base: str, concurrency: int, duration_s: int, env: dict[str, str]
) -> dict[str, Any]:
    """Run wrk with a Lua script whose done() prints one `BENCH {json}` line; parse it."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, concurrency)}",
            f"-c{concurrency}",
            f"-d{duration_s}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=duration_s + 60,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    return data


def run_wrk(
    base: str,
    prefix: str,
    kind: str,
    concurrency: int,
    duration_s: int,
    ids: list[str],
    prompts: list[str],
) -> LoadResult:
    """`kind`: noop | discover | search, against `base` + `prefix`."""
    with tempfile.TemporaryDirectory() as tmp:
        script, id_file, prompt_file = (Path(tmp) / n for n in ("b.lua", "ids", "prompts"))
        script.write_text(_SCRIPT)
        id_file.write_text("\n".join(ids) + "\n")
        prompt_file.write_text("\n".join(p.replace('"', "") for p in prompts) + "\n")
        env = {
            **os.environ,
            "BENCH_IDS": str(id_file),
            "BENCH_PROMPTS": str(prompt_file),
            "BENCH_PREFIX": prefix,
            "BENCH_KIND": kind,
            "BENCH_API_KEY": api_key(),
        }
        data = wrk_json(script, base, concurrency, duration_s, env)
    return LoadResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        requests=data["requests"],
        errors=data["errors"] + data["non2xx"],
    )
