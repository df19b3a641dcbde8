"""Prometheus metrics of every process, defined once, and the loopback `/metrics` server.

Stages are `ingest` (shippers and the simulator), then, in the worker, `parse`,
`aggregate` and `sink`. Every stage reports the same three counters, in log records
(a line, or one element of a Kong JSON array):

    apim_events_received_total{stage}       records that reached the stage
    apim_events_sent_total{stage}           records the stage passed on: ingest → shipped to
                                            Kafka, parse → parsed into events, aggregate →
                                            counted, sink → written to the warehouse
    apim_events_errors_total{stage,reason}  records the stage could not pass on; `reason` is
                                            one of `REASONS` (never free text). Exception:
                                            sink `batch_failed` counts failed attempts at a
                                            batch, which is then retried (nothing is lost)

Worker only (registered by `register_worker_metrics()`, so other processes do not show
them at 0):

    apim_dead_letters_total{format}         records sent to the dead-letter topic, by log
                                            format (`unknown`: missing or unknown header)
    apim_messages_received_total            raw-logs Kafka messages taken (re-deliveries too)
    apim_messages_skipped_total             re-delivered messages already counted, skipped
    apim_batches_retried_total              batches that failed at least once and were retried
    apim_sink_batch_seconds                 histogram: one successful batch through parse,
                                            aggregate and the warehouse write
    apim_consumer_lag{topic,partition}      messages of an owned partition not processed yet:
                                            log end offset − next offset to process (every 5 s)
    apim_last_complete_minute_seconds       start (epoch s) of the newest minute the worker
                                            knows is complete; see `last_complete_minute`

Each long-running process serves them with `publish()`: on loopback and a free port by
default (`APIM_METRICS_*`), its URL logged and written to `<data dir>/metrics/<name>.url`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from apim import logs
from apim.settings import ConfigError, Settings

log = logs.get(__name__)
disable_created_metrics()  # no `*_created` series next to every counter

INGEST, PARSE, AGGREGATE, SINK = "ingest", "parse", "aggregate", "sink"
STAGES = (INGEST, PARSE, AGGREGATE, SINK)
WORKER_STAGES = (PARSE, AGGREGATE, SINK)

TOO_LONG = "too_long"
"""ingest: a line longer than a Kafka message (sent to the dead-letter topic by the shipper)."""
MALFORMED = "malformed"
"""parse: the parser rejected the record (dead-lettered)."""
UNKNOWN_FORMAT = "unknown_format"
"""parse: the message has no or an unknown `format` header (dead-lettered)."""
BATCH_FAILED = "batch_failed"
"""sink: one failed attempt at a batch (warehouse down, …); the batch is retried."""
REASONS = {INGEST: (TOO_LONG,), PARSE: (MALFORMED, UNKNOWN_FORMAT), SINK: (BATCH_FAILED,)}

UNKNOWN = "unknown"
METRICS_DIR = "metrics"

EVENTS_RECEIVED = Counter(
    "apim_events_received", "Log records that reached a pipeline stage", ["stage"]
)
EVENTS_SENT = Counter(
    "apim_events_sent",
    "Log records a stage passed on (ingest: shipped to Kafka; parse: parsed into events; "
    "aggregate: counted; sink: written to the warehouse)",
    ["stage"],
)
EVENTS_ERRORS = Counter(
    "apim_events_errors",
    "Log records a stage could not pass on, by bounded reason "
    "(sink batch_failed: failed attempts at a batch, retried)",
    ["stage", "reason"],
)
DEAD_LETTERS = Counter(
    "apim_dead_letters",
    "Malformed records sent to the dead-letter topic by the worker, by log format",
    ["format"],
    registry=None,
)
MESSAGES_RECEIVED = Counter(
    "apim_messages_received",
    "Raw-logs Kafka messages taken by the worker (re-deliveries too)",
    registry=None,
)
MESSAGES_SKIPPED = Counter(
    "apim_messages_skipped",
    "Re-delivered raw-logs messages already counted, skipped",
    registry=None,
)
BATCHES_RETRIED = Counter(
    "apim_batches_retried",
    "Batches whose processing failed at least once and was retried",
    registry=None,
)
SINK_BATCH_SECONDS = Histogram(
    "apim_sink_batch_seconds",
    "Seconds one batch takes through parse, aggregate and the warehouse write (successes)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=None,
)
CONSUMER_LAG = Gauge(
    "apim_consumer_lag",
    "Messages of an owned partition not processed yet (log end offset - next offset to process)",
    ["topic", "partition"],
    registry=None,
)
LAST_COMPLETE_MINUTE = Gauge(
    "apim_last_complete_minute_seconds",
    "Start (epoch s) of the newest minute the worker knows is complete: the minimum over its "
    "partitions of the newest event time seen, minus one minute, floored to the minute "
    "(0 until it has seen an event)",
    registry=None,
)
WORKER_METRICS = (
    DEAD_LETTERS,
    MESSAGES_RECEIVED,
    MESSAGES_SKIPPED,
    BATCHES_RETRIED,
    SINK_BATCH_SECONDS,
    CONSUMER_LAG,
    LAST_COMPLETE_MINUTE,
)
_registered: set[int] = set()


def register_worker_metrics(registry: CollectorRegistry = REGISTRY) -> None:
    """Expose the worker-only metrics in `registry` (once; later calls do nothing)."""
    if id(registry) in _registered:
        return
    for metric in WORKER_METRICS:
        registry.register(metric)
    _registered.add(id(registry))


def init_stages(*stages: str) -> None:
    """Create this process's label sets, so they are scraped (at 0) before the first event."""
    for stage in stages:
        EVENTS_RECEIVED.labels(stage=stage)
        EVENTS_SENT.labels(stage=stage)
        for reason in REASONS.get(stage, ()):
            EVENTS_ERRORS.labels(stage=stage, reason=reason)


def count_errors(stage: str, reason: str, n: int = 1) -> None:
    """Count `n` errors; `reason` must be one of the stage's `REASONS` (bounded cardinality)."""
    if reason not in REASONS.get(stage, ()):
        raise ValueError(f"unknown error reason {reason!r} for stage {stage!r}")
    if n:
        EVENTS_ERRORS.labels(stage=stage, reason=reason).inc(n)


class RunningTotal:
    """Turns a running total (e.g. `LineSender.sent_lines`) into counter increments."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._seen = 0

    def update(self, total: int) -> None:
        if total > self._seen:
            self._counter.inc(total - self._seen)
            self._seen = total


def last_complete_minute(watermarks: Iterable[int]) -> int | None:
    """The start of the newest minute known complete, from per-partition watermarks.

    A partition's watermark is the newest event time (epoch s) it delivered. Events of a
    partition arrive roughly in time order, so every minute that ends before the minute
    holding the watermark is taken as complete: `floor_to_minute(watermark - 60)`. Over
    several partitions the slowest one decides (the minimum). Partitions that delivered
    no event yet (watermark 0 or less) are left out; None when none is left. A late event
    can still change a "complete" minute: the rows are cumulative and get rewritten.
    """
    owned = [w for w in watermarks if w > 0]
    if not owned:
        return None
    newest = min(owned) - 60
    return newest - newest % 60


def serve(
    host: str = "127.0.0.1", port: int = 0, registry: CollectorRegistry = REGISTRY
) -> tuple[str, Callable[[], None]]:
    """Serve `registry` at http://host:port/metrics in a daemon thread (port 0: a free one).

    Returns the URL (with the real port) and a function that stops the server.
    """
    server, thread = start_http_server(port, addr=host, registry=registry)
    real_port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{shown}:{real_port}/metrics", stop


def url_file(data_dir: Path, name: str) -> Path:
    """Where a process named `name` publishes its metrics URL (`worker-<pid>`, `stack`)."""
    return data_dir.resolve() / METRICS_DIR / f"{name}.url"


def publish(settings: Settings, name: str) -> tuple[str | None, Callable[[], None]]:
    """Serve this process's metrics as configured, log the URL and write it to `url_file`.

    Returns the URL (None when disabled) and the function that stops serving and removes
    the file (a no-op when disabled).
    Raises `ConfigError` naming the variables when the address cannot be listened on.
    """
    m = settings.metrics
    if not m.enabled:
        log.info("metrics endpoint disabled", setting="APIM_METRICS_ENABLED")
        return None, lambda: None
    try:
        url, stop_server = serve(m.host, m.port)
    except OSError as exc:
        raise ConfigError(
            f"APIM_METRICS_HOST / APIM_METRICS_PORT: cannot listen on {m.host}:{m.port} "
            f"for /metrics ({exc.strerror or exc}); choose another port, 0 for any free one, "
            "or set APIM_METRICS_ENABLED=false"
        ) from None
    path = url_file(settings.data_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(url + "\n")
    temporary.replace(path)  # readers never see a half-written file
    log.info("metrics serving", url=url, file=str(path))

    def stop() -> None:
        path.unlink(missing_ok=True)
        stop_server()

    return url, stop
