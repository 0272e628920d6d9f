"""`matching up`: everything a newcomer needs, locally, in one command.

Uses DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS when set; starts an embedded
PostgreSQL, a redis-server and a tansu broker under the data folder for those that are not.
While it runs, `<data folder>/env` holds the settings other `matching` commands (simulate,
jobs, models) need to work on this service: `source .matching/env` in another shell.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shlex
import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from matching.core.auth.tokens import mint_token
from matching.core.ml import artifacts
from matching.core.retrieval.candidates import KIND
from matching.core.settings import Settings
from matching.devtools import demo_queue


def _start_services(home: Path, stack: contextlib.ExitStack) -> None:
    """Fill in every unset service variable with an embedded service under `home`."""
    from matching.devtools import services as ls

    if not os.environ.get("DATABASE_URL"):
        pg = ls.EmbeddedPostgres(home / "postgres")
        pg.start()
        stack.callback(pg.stop)
        os.environ["DATABASE_URL"] = pg.ensure_database("matching")
        print(f"  postgres  {os.environ['DATABASE_URL']} (data in {home / 'postgres'})")
    if not os.environ.get("REDIS_URL"):
        redis = ls.LocalRedis(home / "redis")
        os.environ["REDIS_URL"] = redis.start()
        stack.callback(redis.stop)
        print(f"  redis     {os.environ['REDIS_URL']}")
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        broker = ls.TansuBroker(home / "kafka")
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.start()
        stack.callback(broker.stop)
        print(f"  kafka     {os.environ['KAFKA_BOOTSTRAP_SERVERS']} (tansu, in memory)")


async def _prepare(settings: Settings, users: int) -> str | None:
    """Migrate, seed, build a snapshot; returns one demo user's id."""
    from matching.core.storage.db import connect
    from matching.devtools.demo_requests import seed_providers
    from matching.devtools.seed import seed
    from training.build_index import build_index

    report = await seed(settings, users)
    print(f"  seeded    {report.inserted} new, {report.skipped} existing ({report.seconds:.0f}s)")
    print(f"  providers {await seed_providers(settings)} new (request matching's demo catalogue)")
    if report.inserted or artifacts.latest(settings.index.artifacts_dir, KIND) is None:
        folder, manifest = await build_index(settings)
        print(
            f"  index     {folder.name}: {manifest['live_count']} people, "
            f"{manifest['params']['kind']}, recall@10 {manifest['metrics']['recall_at_10']}"
        )
    conn = await connect(settings.database)
    try:
        user = await conn.fetchval("SELECT id FROM profiles ORDER BY created_at, id LIMIT 1")
    finally:
        await conn.close()
    return None if user is None else str(user)


# What another shell needs to run simulate, jobs, models and token against this service.
SHARED_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "MATCHING_ARTIFACTS_DIR",
    "AUTH_ALGORITHM",
    "AUTH_ACCESS_SECRET",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "INTERNAL_API_KEY",
)


def ensure_credentials(environ: MutableMapping[str, str]) -> list[str]:
    """Generate AUTH_ACCESS_SECRET and INTERNAL_API_KEY when unset; returns what it set."""
    generated: list[str] = []
    if environ.get("MATCHING_AUTH_DISABLED", "").lower() in ("1", "true", "yes"):
        return generated
    keyed = any(environ.get(n) for n in ("AUTH_PUBLIC_KEY_FILE", "AUTH_JWKS_FILE"))
    if not keyed and not environ.get("AUTH_ACCESS_SECRET"):
        environ["AUTH_ACCESS_SECRET"] = secrets.token_urlsafe(48)
        generated.append("AUTH_ACCESS_SECRET")
    if not environ.get("INTERNAL_API_KEY"):
        environ["INTERNAL_API_KEY"] = secrets.token_urlsafe(32)
        generated.append("INTERNAL_API_KEY")
    return generated


def write_env_file(path: Path, environ: dict[str, str]) -> Path:
    """`export NAME=value` lines for SHARED_ENV, readable by the owner only (DSNs, secrets)."""
    lines = [f"export {k}={shlex.quote(environ[k])}" for k in SHARED_ENV if environ.get(k)]
    text = "\n".join(["# written by `matching up`; removed when it stops", *lines, ""])
    path.unlink(missing_ok=True)
    # Created 0600, never readable by others even for a moment: it holds the secrets.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def _wait_ready(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        time.sleep(1)
    raise SystemExit(f"matching: the service at {url} did not become ready")


def _serve(args: argparse.Namespace, composition: str) -> None:
    import ray

    from matching.core.ml.registry import Registry
    from serve_app.deploy import app_config, deploy, live_user_config

    # On small, busy machines the proxy can take longer than the 5 s default to answer.
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "30")
    ray.init(include_dashboard=False, configure_logging=False, namespace="serve")
    # Declarative, like `serve deploy`: `matching models promote` can then swap models in
    # with a lightweight user_config update.
    live = live_user_config(Registry.from_settings(Settings.from_env()))
    deploy([app_config("matching", "/", composition, live)], args.host, args.port, wait=False)


def run_up(args: argparse.Namespace) -> int:
    home = Path(args.home or os.environ.get("MATCHING_HOME") or ".matching").absolute()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MATCHING_ARTIFACTS_DIR", str(home / "artifacts"))
    composition = args.composition
    if composition == "auto":
        composition = "single" if (os.cpu_count() or 1) <= 4 else "pipeline"
    print(f"matching up: data in {home}")
    with contextlib.ExitStack() as stack:
        _start_services(home, stack)
        for name in ensure_credentials(os.environ):
            print(f"  auth      generated {name} (in {home / 'env'} while this runs)")
        settings = Settings.from_env()
        demo_user = asyncio.run(_prepare(settings, args.users))
        _serve(args, composition)
        url = f"http://{args.host}:{args.port}"
        _wait_ready(url)
        env_file = write_env_file(home / "env", dict(os.environ))
        stack.callback(env_file.unlink, missing_ok=True)
        _print_banner(url, composition, demo_user, env_file, settings)
        _wait_for_signal()
        _shutdown()
    return 0


def _print_banner(
    url: str, composition: str, demo_user: str | None, env_file: Path, settings: Settings
) -> None:
    print(f"\nmatching service is up ({composition} composition)")
    print(f"  API docs  {url}/docs  (Authorize: the token below, or the X-API-Key)")
    auth = "" if settings.auth.disabled else ' -H "X-API-Key: $INTERNAL_API_KEY"'
    user = ""
    if demo_user and settings.auth.access_secret is not None and not settings.auth.disabled:
        token = mint_token(settings.auth, uuid.UUID(demo_user), ttl_s=24 * 3600)
        print(f"  token     export TOKEN={token}  (the demo user {demo_user}, 24 h)")
        user = ' -H "Authorization: Bearer $TOKEN"'
    print(f"  (source {env_file} first for $INTERNAL_API_KEY)")
    print(f"  health    curl{auth} {url}/health")
    if demo_user:
        print(f"  discover  curl{user} '{url}/v1/users/{demo_user}/discover?limit=5'")
    print(
        f"  search    curl{user} -X POST {url}/v1/search -H 'content-type: application/json' "
        '-d \'{"prompt": "hiking enthusiasts who mentor founders", '
        '"latitude": 37.77, "longitude": -122.42, "limit": 5}\''
    )
    print(f"  admin     curl{auth} {url}/v1/admin/models")
    print("\n".join(demo_queue.walkthrough(url, settings)))
    print(
        f"Offline path, in another shell: source {env_file}, then `matching simulate --users "
        "N --days 21`, `matching jobs all`, `matching models promote latest` (README)."
    )
    print("Ctrl-C stops the service and the embedded servers.", flush=True)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    stop.wait()


def _shutdown() -> None:
    import ray
    from ray import serve

    with contextlib.suppress(Exception):
        serve.shutdown()
    ray.shutdown()
