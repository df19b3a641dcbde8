"""Real chDB warehouses for the dashboard tests, filled through the real aggregator and sink.

`usage_wh` (and the module-scoped `usage_wh_module`) holds `KNOWN`: 1,234 requests over the last
~20 minutes from three identified consumers plus anonymous callers, with exact status counts
per endpoint and consumer, and the segment dimensions the enrichment fills in (API, API
version, organisation, plan, country, client family, application), "" for the anonymous
health checks where they are unknown.

`ingest_wh` (and `ingest_wh_module`) holds the same requests, sent by two source streams,
plus `DEAD_LETTERS`: 11 rejected records received now and 4 received three days ago.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from msgspec.structs import replace

import warehouse
from apim.event import AccessEvent
from processors.aggregate import UsageAggregator
from processors.sink import DeadLetter, SinkBatch, WarehouseSink, dead_letters_table


@dataclass(frozen=True)
class Calls:
    consumer: str
    method: str
    path: str
    """A path template; `{n}` becomes the call's number (templated back to `{id}`)."""
    statuses: dict[int, int]
    """status → number of calls."""
    latency_ms: float
    organisation: str = ""
    plan: str = ""
    country: str = ""
    client_family: str = ""
    application: str = ""
    api: str = "shop"
    api_version: str = "v1"


CALLS = (
    Calls(
        "acme", "GET", "/v1/orders/{n}", {200: 490, 500: 10}, 20.0,
        "Acme Corp", "pro", "DE", "okhttp", "acme-mobile",
    ),
    Calls(
        "acme", "GET", "/v1/orders/{n}", {200: 200}, 20.0,
        "Acme Corp", "pro", "GB", "Chrome", "acme-web",
    ),
    Calls(
        "globex", "POST", "/v1/payments", {201: 380, 429: 20}, 80.0,
        "Globex", "free", "US", "python-requests", "globex-billing",
    ),
    Calls(
        "initech", "GET", "/v1/orders/{n}", {200: 100}, 20.0,
        "Initech", "pro", "GB", "curl", "initech-batch",
    ),
    Calls(
        "anonymous", "GET", "/v1/status", {200: 34}, 2.0,
        client_family="curl", api="health", api_version="",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Known:
    requests: int = 1234
    consumers: int = 3
    status_4xx: int = 20
    status_5xx: int = 10
    top_endpoints: tuple[tuple[str, int], ...] = (
        ("GET /v1/orders/{id}", 800),
        ("POST /v1/payments", 400),
        ("GET /v1/status", 34),
    )
    top_consumers: tuple[tuple[str, int], ...] = (
        ("acme", 700),
        ("globex", 400),
        ("initech", 100),
        ("anonymous", 34),
    )
    segment_values: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
        ("api", (("shop", 1200), ("health", 34))),
        ("api_version", (("v1", 1200), ("", 34))),
        ("plan", (("pro", 800), ("free", 400), ("", 34))),
        ("organisation", (("Acme Corp", 700), ("Globex", 400), ("Initech", 100), ("", 34))),
        ("country", (("DE", 500), ("US", 400), ("GB", 300), ("", 34))),
        (
            "client_family",
            (("okhttp", 500), ("python-requests", 400), ("Chrome", 200), ("curl", 134)),
        ),
    )
    """Each segment dimension's values and their requests, busiest first."""


KNOWN = Known()
SRC = "apim.raw-logs/0"


def known_events(now: datetime) -> list[AccessEvent]:
    """`CALLS` spread over minutes now-20 … now-2 (recent: raw events have a TTL)."""
    events = []
    i = 0
    for calls in CALLS:
        for status, count in calls.statuses.items():
            for _ in range(count):
                events.append(
                    AccessEvent(
                        event_time=now - timedelta(minutes=2 + i % 19, seconds=i % 50),
                        gateway="kong",
                        api=calls.api,
                        api_version=calls.api_version,
                        method=calls.method,
                        path=calls.path.format(n=1000 + i),
                        status=status,
                        latency_ms=calls.latency_ms,
                        bytes_out=512,
                        consumer=calls.consumer,
                        application=calls.application,
                        organisation=calls.organisation,
                        plan=calls.plan,
                        country=calls.country,
                        client_family=calls.client_family,
                        source=f"test:{i}",
                    )
                )
                i += 1
    return events


def write_events(wh: warehouse.Warehouse, events: list[AccessEvent], offset: int = 0) -> None:
    """Count `events` as one source message at `offset` and write them like the worker does."""
    aggregator = UsageAggregator()
    aggregator.apply(SRC, offset, events)
    WarehouseSink(wh).write(
        SinkBatch(
            events=[(f"{SRC}/{offset}/{n}", e) for n, e in enumerate(events)],
            cells=list(aggregator.take_dirty(SRC)),
            progress={SRC: offset},
        )
    )


def open_warehouse(directory: Path) -> warehouse.Warehouse:
    wh = warehouse.open_chdb(directory / "warehouse")
    warehouse.migrate(wh, 30)
    return wh


@pytest.fixture
def empty_wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    wh = open_warehouse(tmp_path)
    yield wh
    wh.close()


@pytest.fixture
def usage_wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    wh = open_warehouse(tmp_path)
    write_events(wh, known_events(datetime.now(UTC)))
    yield wh
    wh.close()


@pytest.fixture
def old_usage_wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    """`KNOWN`, three days old: historical data, older than the default range."""
    wh = open_warehouse(tmp_path)
    write_events(wh, known_events(datetime.now(UTC) - timedelta(days=3)))
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def usage_wh_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[warehouse.Warehouse]:
    """Like `usage_wh`, shared by the tests of one module (chDB opens one directory per process:
    module fixtures end before the next module's start)."""
    wh = open_warehouse(tmp_path_factory.mktemp("dashboards"))
    write_events(wh, known_events(datetime.now(UTC)))
    yield wh
    wh.close()


@pytest.fixture
def known() -> Known:
    return KNOWN


# --- ingestion health: good records per source stream, and dead letters -------------------

LONG_RECORD = '{"request": {"method": "GET", "uri": "/v1/orders/' + "x" * 300 + '"'
"""A cut-off Kong JSON line, longer than a table row shows."""


@dataclass(frozen=True)
class Letters:
    format: str
    reason: str
    sources: tuple[str, ...]
    """Each dead letter's source (stream and position)."""
    record: str = "garbage"


DEAD_LETTERS = (
    Letters(
        "nginx",
        "not a combined log line",
        tuple(f"access.log:{n}" for n in range(1201, 1206)),
    ),
    Letters(
        "nginx",
        "status: 'abc' is not a number",
        ("access.log:1301", "access.log:1302"),
    ),
    Letters(
        "kong",
        "invalid JSON: unexpected end of data",
        ("kong-log:1337#0", "kong-log:1337#1", "kong-log:1337#2"),
        LONG_RECORD,
    ),
    Letters("", "message has no 'format' header", ("apim.raw-logs/0@7:1",)),
)
"""Received now (through the sink): 11 dead letters from three source streams."""
OLD_DEAD_LETTERS = Letters(
    "nginx",
    "not a combined log line",
    tuple(f"access.log:{n}" for n in range(1, 5)),
)
"""Received three days ago: only in the 7 d, 30 d and all-data ranges."""


def source_events(now: datetime) -> list[AccessEvent]:
    """`known_events`, the first 1,000 from `access.log`, the other 234 from `kong-log`."""
    return [
        replace(e, source=f"access.log:{10 + i}" if i < 1000 else f"kong-log:{i}#0")
        for i, e in enumerate(known_events(now))
    ]


def dead_letters(letters: tuple[Letters, ...], offset: int) -> list[DeadLetter]:
    return [
        DeadLetter(
            "apim.raw-logs/1", offset + n, i, source, group.format, group.reason, group.record
        )
        for n, group in enumerate(letters)
        for i, source in enumerate(group.sources)
    ]


def write_old_dead_letters(wh: warehouse.Warehouse, received_at: datetime) -> None:
    """`OLD_DEAD_LETTERS`, received at `received_at` (the sink always stamps now)."""
    letters = dead_letters((OLD_DEAD_LETTERS,), offset=100)
    stamped = pa.array(
        [received_at.replace(microsecond=0)] * len(letters), pa.timestamp("ms", "UTC")
    )
    table = dead_letters_table(letters).append_column("received_at", stamped)
    wh.insert_arrow("dead_letters", table)


def fill_ingestion(wh: warehouse.Warehouse) -> None:
    now = datetime.now(UTC)
    write_events(wh, source_events(now))
    WarehouseSink(wh).write(SinkBatch(dead_letters=dead_letters(DEAD_LETTERS, offset=0)))
    write_old_dead_letters(wh, now - timedelta(days=3))


@dataclass(frozen=True)
class KnownIngestion:
    """What `ingest_wh` holds, written out (not derived from `DEAD_LETTERS`)."""

    records: int = 1245
    """Received in the last 24 h: 1,234 parsed + 11 dead letters."""
    events: int = 1234
    dead_letters: int = 11
    old_dead_letters: int = 4
    sources: tuple[tuple[str, int, int, int], ...] = (
        ("access.log", 1007, 1000, 7),
        ("kong-log", 237, 234, 3),
        ("apim.raw-logs/0", 1, 0, 1),
    )
    """stream, received, parsed, dead letters (last 24 h), most dead letters first."""
    reasons: tuple[tuple[str, str, str, int], ...] = (
        ("access.log", "nginx", "not a combined log line", 5),
        ("kong-log", "kong", "invalid JSON: unexpected end of data", 3),
        ("access.log", "nginx", "status: 'abc' is not a number", 2),
        ("apim.raw-logs/0", "", "message has no 'format' header", 1),
    )
    """stream, format, reason, records (last 24 h), most first."""
    long_record: str = LONG_RECORD


@pytest.fixture
def known_ingestion() -> KnownIngestion:
    return KnownIngestion()


@pytest.fixture
def ingest_wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    wh = open_warehouse(tmp_path)
    fill_ingestion(wh)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def ingest_wh_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[warehouse.Warehouse]:
    wh = open_warehouse(tmp_path_factory.mktemp("ingestion"))
    fill_ingestion(wh)
    yield wh
    wh.close()
