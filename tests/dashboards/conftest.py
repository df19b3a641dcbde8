"""Real chDB warehouses for the dashboard tests, filled through the real aggregator and sink.

`usage_wh` (and the module-scoped `usage_wh_module`) holds `KNOWN`: 1,234 requests over the last ~20 minutes from three identified
consumers plus anonymous callers, with exact status counts per endpoint and consumer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import warehouse
from apim.event import AccessEvent
from processors.aggregate import UsageAggregator
from processors.sink import SinkBatch, WarehouseSink


@dataclass(frozen=True)
class Calls:
    consumer: str
    method: str
    path: str
    """A path template; `{n}` becomes the call's number (templated back to `{id}`)."""
    statuses: dict[int, int]
    """status → number of calls."""
    latency_ms: float


CALLS = (
    Calls("acme", "GET", "/v1/orders/{n}", {200: 690, 500: 10}, 20.0),
    Calls("globex", "POST", "/v1/payments", {201: 380, 429: 20}, 80.0),
    Calls("initech", "GET", "/v1/orders/{n}", {200: 100}, 20.0),
    Calls("anonymous", "GET", "/v1/status", {200: 34}, 2.0),
)


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
                        api="shop",
                        method=calls.method,
                        path=calls.path.format(n=1000 + i),
                        status=status,
                        latency_ms=calls.latency_ms,
                        bytes_out=512,
                        consumer=calls.consumer,
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
