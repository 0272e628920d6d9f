"""The service's own metrics, through Ray's metrics API (`ray.util.metrics`).

Every metric is declared once, in CATALOGUE; code records by name, and the dashboard and the
alert rules in k8s/ are checked against these names (tests/unit/test_observability.py). Inside
Ray (a Serve replica, a job's driver or workers) each record also goes to a Ray instrument,
exported on every node's metrics port as `ray_<name>`, so a scrape of each pod sees every
replica on it. Every process also keeps the values in memory (`snapshot()`), which the admin
page and the tests read. Tags carry routes, modes, stages and topics, never a person's id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["counter", "gauge", "histogram"]
EXPORT_PREFIX = "ray_"  # what Ray's exporter puts before every application metric's name
LATENCY_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LONG_S = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


@dataclass(frozen=True)
class Spec:
    """One metric: Prometheus-style name (units in it, `_total` for counters), its tags."""

    name: str
    kind: Kind
    description: str
    tags: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = field(default=LATENCY_S)


def _c(name: str, description: str, *tags: str) -> Spec:
    return Spec(name, "counter", description, tags)


def _g(name: str, description: str, *tags: str) -> Spec:
    return Spec(name, "gauge", description, tags)


def _h(name: str, description: str, *tags: str, boundaries: tuple[float, ...] = LATENCY_S) -> Spec:
    return Spec(name, "histogram", description, tags, boundaries)


CATALOGUE: tuple[Spec, ...] = (
    # HTTP, per route template and mode (Serve itself has the latency per route).
    _c("matching_http_requests_total", "Requests answered", "route", "method", "mode", "status"),
    _c("matching_http_errors_total", "Requests answered 5xx", "route", "method", "mode", "status"),
    _h("matching_stage_seconds", "Time in a stage call", "stage", "method"),
    _c("matching_stage_unavailable_total", "Stage calls that timed out or failed", "stage"),
    _c("matching_cache_requests_total", "Cache lookups", "cache", "result"),
    _c("matching_rate_limited_total", "Calls refused by the rate limit", "endpoint"),
    # Events.
    _g("matching_outbox_pending_rows", "Outbox rows not yet published"),
    _g("matching_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row"),
    _c("matching_relay_published_total", "Outbox events published", "topic"),
    _c("matching_relay_publish_failures_total", "Outbox publish attempts that failed"),
    _g(
        "matching_consumer_lag_messages",
        "Messages behind the partition's end",
        "topic",
        "partition",
    ),
    _c("matching_consumer_messages_total", "Messages consumed", "topic", "result"),
    _c("matching_dead_letters_total", "Messages dead-lettered", "topic"),
    _c("matching_erasures_total", "People erased", "source"),
    # Models.
    _g("matching_live_version_info", "1 for the live model and index versions", "kind", "version"),
    _g("matching_model_accuracy_ratio", "Live accuracy of served predictions", "version"),
    _g("matching_model_flagged", "1 when a live model's accuracy is below the floor", "version"),
    # Modes.
    _h("matching_request_matching_seconds", "Request matching latency", "transport"),
    _h(
        "matching_kafka_reply_lag_seconds",
        "Kafka request received to reply stored",
        boundaries=LONG_S,
    ),
    _g("matching_queue_depth_tickets", "Tickets waiting", "criteria"),
    _h("matching_queue_time_to_match_seconds", "Ticket created to match", boundaries=LONG_S),
    _h("matching_pairing_cycle_seconds", "Pairing cycle duration", "pool", boundaries=LONG_S),
    _g("matching_pairing_total_weight", "Total weight of a cycle's pairing", "pool", "algorithm"),
    _c("matching_pairing_cycles_total", "Pairing cycles", "pool", "status"),
)
BY_NAME = {spec.name: spec for spec in CATALOGUE}


class _Series:
    """One metric's values in this process, by tag values."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.values: dict[tuple[str, ...], Any] = {}
        self.ray: Any = None  # the Ray instrument, once Ray is up in this process


_lock = threading.Lock()
_series: dict[str, _Series] = {}


def _get(name: str, tags: dict[str, str]) -> tuple[_Series, tuple[str, ...]]:
    spec = BY_NAME[name]  # KeyError: a metric that is not in the catalogue
    if set(tags) != set(spec.tags):
        raise ValueError(f"{name} takes tags {spec.tags}, got {tuple(tags)}")
    series = _series.get(name)
    if series is None:
        series = _series.setdefault(name, _Series(spec))
    if series.ray is None:
        series.ray = _ray_instrument(spec)
    return series, tuple(str(tags[k]) for k in spec.tags)


def _ray_instrument(spec: Spec) -> Any:
    try:
        import ray
        from ray.util import metrics as ray_metrics
    except ImportError:  # a process without Ray keeps the values in memory only
        return None
    if not ray.is_initialized():
        return None
    if spec.kind == "counter":
        return ray_metrics.Counter(spec.name, description=spec.description, tag_keys=spec.tags)
    if spec.kind == "gauge":
        return ray_metrics.Gauge(spec.name, description=spec.description, tag_keys=spec.tags)
    return ray_metrics.Histogram(
        spec.name,
        description=spec.description,
        boundaries=list(spec.boundaries),
        tag_keys=spec.tags,
    )


def inc(name: str, value: float = 1.0, **tags: str) -> None:
    """Add to a counter (nothing to add is a no-op: Ray's counters refuse 0)."""
    if value == 0:
        return
    with _lock:
        series, key = _get(name, tags)
        series.values[key] = series.values.get(key, 0.0) + value
    if series.ray is not None:
        series.ray.inc(value, tags=tags or None)


def set_gauge(name: str, value: float, **tags: str) -> None:
    """Set a gauge."""
    with _lock:
        series, key = _get(name, tags)
        series.values[key] = float(value)
    if series.ray is not None:
        series.ray.set(value, tags=tags or None)


def observe(name: str, value: float, **tags: str) -> None:
    """Record one observation of a histogram."""
    with _lock:
        series, key = _get(name, tags)
        count, total = series.values.get(key, (0, 0.0))
        series.values[key] = (count + 1, total + value)
    if series.ray is not None:
        series.ray.observe(value, tags=tags or None)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """This process's values: per metric, one entry per tag combination (histograms as
    count and sum)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with _lock:
        for name, series in sorted(_series.items()):
            rows = []
            for key, value in series.values.items():
                row: dict[str, Any] = dict(zip(series.spec.tags, key, strict=True))
                if series.spec.kind == "histogram":
                    row |= {"count": value[0], "sum": value[1]}
                else:
                    row["value"] = value
                rows.append(row)
            out[name] = rows
    return out


def value(name: str, **tags: str) -> float:
    """A counter's or gauge's value in this process (0 when never recorded); for tests."""
    series = _series.get(name)
    if series is None:
        return 0.0
    key = tuple(str(tags[k]) for k in series.spec.tags)
    found = series.values.get(key, 0.0)
    return float(found[0] if isinstance(found, tuple) else found)
