"""Structured logs: JSON lines with the caller's extra fields, the root handler for CLI and
jobs, and the service's loggers routed through Serve's handlers in a replica."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from matching.cli import main as cli
from matching.core import logs
from matching.core.settings import Settings, SettingsError


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def restored() -> Iterator[None]:
    saved = {
        n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate)
        for n in logs.OWN_LOGGERS
    }
    root = logging.getLogger().handlers[:]
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers, logging.getLogger(name).propagate = handlers, propagate
    logging.getLogger().handlers = root


def test_a_record_is_one_json_line_with_its_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "matching.x", "levelname": "WARNING", "msg": "lag %d", "args": (3,), "topic": "t"}
    )
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "lag 3" and out["level"] == "WARNING" and out["logger"] == "matching.x"
    assert out["topic"] == "t" and out["ts"].endswith("+00:00")


def test_an_exception_is_kept_in_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("matching.y").makeRecord(
            "matching.y", logging.ERROR, __file__, 1, "failed", (), exc_info=True
        )
        record.exc_info = __import__("sys").exc_info()
    out = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError: boom" in out["exc_info"]


@pytest.mark.usefixtures("restored")
def test_cli_logs_json_by_default_and_text_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "JSON")
    logging.getLogger("matching.cli.test").info("hello", extra={"job": "embed"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert json.loads(line)["job"] == "embed"
    logs.configure("INFO", "TEXT")
    logging.getLogger("matching.cli.test").info("plain")
    assert capsys.readouterr().err.strip().endswith("matching.cli.test plain")


def test_the_cli_reads_its_encoding_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHING_LOG_ENCODING", "text")
    assert cli.parser(found=()).parse_args(["migrate"]).log_encoding == "TEXT"
    args = cli.parser(found=()).parse_args(["--log-encoding", "json", "migrate"])
    assert args.log_encoding == "JSON"


def test_the_setting_is_validated_by_name() -> None:
    assert Settings.from_env({"MATCHING_LOG_ENCODING": "text"}).serving.log_encoding == "TEXT"
    with pytest.raises(SettingsError, match="MATCHING_LOG_ENCODING='xml'"):
        Settings.from_env({"MATCHING_LOG_ENCODING": "xml"})


@pytest.mark.usefixtures("restored")
def test_in_a_replica_the_service_logs_through_serves_handlers() -> None:
    serve = logging.getLogger("test.serve.parent")
    keep = _Keep()
    serve.handlers = [keep]
    try:
        assert logs.route_through("test.serve.parent", "WARNING")
        logging.getLogger("matching.discovery.service").warning("slow")
        logging.getLogger("deployments.retriever").info("not at WARNING")
        assert [r.getMessage() for r in keep.records] == ["slow"]
    finally:
        serve.handlers = []
    assert not logs.route_through("test.serve.nobody", "INFO")
