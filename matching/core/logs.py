"""Structured logs: one JSON object per line in every process (CLI, jobs, replicas), with no
personal data in the fields this module adds.

In a Serve replica the service's loggers write through Serve's own handlers (its
`logging_config`, JSON in serve_config.yaml), which add the request id, route, application
and replica; elsewhere `configure` installs `JsonFormatter` on the root logger.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

Encoding = Literal["JSON", "TEXT"]
# The service's own top-level packages: their loggers are the ones routed and levelled here.
OWN_LOGGERS = ("matching", "serve_app", "deployments", "training")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, exception, and the `extra`
    fields the call passed (ids and counts, never profile content)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str = "INFO", encoding: Encoding = "JSON") -> None:
    """Log lines to stderr in `encoding` (a CLI command or a job's driver)."""
    handler = logging.StreamHandler(sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if encoding == "JSON" else text)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def route_through(parent: str, level: str) -> bool:
    """Give the service's loggers the handlers of `parent` (Serve's "ray.serve" in a replica),
    so their lines get its encoding and request context; False when it has none."""
    handlers = logging.getLogger(parent).handlers
    for name in OWN_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if handlers:
            logger.handlers = list(handlers)
            logger.propagate = False
    return bool(handlers)
