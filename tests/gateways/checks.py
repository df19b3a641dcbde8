"""What the warehouse must hold after known traffic through a real gateway: exact rows and
usage, bytes, latencies in milliseconds, times, sources, and no dead letter."""

from __future__ import annotations

import asyncio
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, timedelta

from warehouse.queries import UsageQuery

from .ingesting import end_offsets
from .traffic import (
    FAST_P50_BOUND_MS,
    SLOW_BOUND_MS,
    SLOW_ENDPOINT,
    SLOW_MS,
    Event,
    Expected,
    Sent,
    reached_upstream,
    row_key,
)

QUANTILE_BOUND = 0.02
"""The product promises quantiles within 2 % of the true value of the same rank."""
COLUMNS = (
    "request_id, event_time, gateway, api, method, path, concat(method, ' ', endpoint) AS endpoint, "
    "status, latency_ms, "
    "upstream_latency_ms, bytes_in, bytes_out, consumer, client_ip, user_agent, source"
)


def stored_events(pipeline) -> list[dict]:
    """The raw events; `endpoint` as `UsageQuery` shows it: "GET /api/orders/{id}"."""
    return pipeline.query(f"SELECT {COLUMNS} FROM access_events FINAL").to_dicts()


def assert_stored_exactly(
    pipeline, upstream, events: list[Event], apis: Counter | None = None
) -> list[dict]:
    """Each request the gateway logged stored once with its exact fields and counted in the
    usage rollups, the upstream hit exactly as often as the log says, no dead letter; returns
    the stored rows for the gateway-specific checks."""
    assert sum(upstream.seen.values()) == sum(e.upstream for e in events)
    rows = stored_events(pipeline)
    assert_no_dead_letters(pipeline)
    assert_rows(rows, events)
    assert_usage(pipeline, events, apis=Counter({"": len(events)}) if apis is None else apis)
    return rows


def assert_no_dead_letters(pipeline) -> None:
    letters = pipeline.query("SELECT source, reason, record FROM dead_letters FINAL")
    assert len(letters) == 0, f"{len(letters)} dead letters, e.g. {letters.head(5).to_dicts()}"
    dlq = asyncio.run(end_offsets(pipeline.broker.url, pipeline.dlq_topic))
    assert sum(dlq.values()) == 0, f"messages on the dead-letter topic: {dlq}"


def assert_rows(rows: list[dict], events: list[Event]) -> None:
    """Every request exactly once, with its consumer, method, path, endpoint and status;
    its bytes out within the event's bounds (matched in order within equal rows)."""
    got = Counter((r["consumer"], r["method"], r["path"], r["endpoint"], r["status"]) for r in rows)
    want = Expected.of(events).rows
    missing, extra = want - got, got - want
    assert not missing and not extra, (
        f"{sum(missing.values())} expected rows missing, e.g. {list(missing.items())[:8]}\n"
        f"{sum(extra.values())} unexpected rows, e.g. {list(extra.items())[:8]}"
    )
    stored: dict[tuple, list[int]] = defaultdict(list)
    for r in rows:
        key = (r["consumer"], r["method"], r["path"], r["endpoint"], r["status"])
        stored[key].append(r["bytes_out"])
    bounds: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    for e in events:
        bounds[row_key(e)].append(e.bytes_out)
    for key, sizes in stored.items():
        for size, (low, high) in zip(sorted(sizes), sorted(bounds[key]), strict=True):
            assert size is not None and low <= size <= high, (key, size, (low, high))


def assert_by_request_id(
    rows: list[dict], events: list[Event], bytes_in: Callable[[Event], int | None]
) -> None:
    """For gateways that log the client's X-Request-Id: each request's own row."""
    by_id = {r["request_id"]: r for r in rows}
    assert len(by_id) == len(rows) == len(events)
    assert set(by_id) == {e.request.request_id for e in events}
    for e in events:
        r = by_id[e.request.request_id]
        assert row_key(e) == (r["consumer"], r["method"], r["path"], r["endpoint"], r["status"])
        assert e.bytes_out[0] <= r["bytes_out"] <= e.bytes_out[1], (e.request, r)
        assert r["bytes_in"] == bytes_in(e), (e.request, e.response, r)


def assert_usage(pipeline, events: list[Event], apis: Counter | None = None) -> None:
    """Usage rollups (`UsageQuery`, the API behind `apim usage` and the dashboards)."""
    expected = Expected.of(events)
    for table in ("usage_minute", "usage_hour", "usage_day"):
        total = pipeline.query(f"SELECT sum(requests) AS n FROM {table} FINAL")["n"][0]
        assert total == expected.total, table
    by_consumer = {
        r["consumer"]: r for r in UsageQuery(by=("consumer",)).run(pipeline.wh).to_dicts()
    }
    assert {c: r["requests"] for c, r in by_consumer.items()} == dict(expected.by_consumer)
    for consumer, classes in expected.classes_by_consumer.items():
        for column in ("status_2xx", "status_3xx", "status_4xx", "status_5xx"):
            assert by_consumer[consumer][column] == classes[column], (consumer, column)
        low, high = expected.bytes_out_by_consumer[consumer]
        assert low <= by_consumer[consumer]["bytes_out"] <= high, consumer

    by_endpoint = {
        r["endpoint"]: r for r in UsageQuery(by=("endpoint",)).run(pipeline.wh).to_dicts()
    }
    assert {e: r["requests"] for e, r in by_endpoint.items()} == dict(expected.by_endpoint)
    for endpoint, classes in expected.classes_by_endpoint.items():
        for column in ("status_2xx", "status_3xx", "status_4xx", "status_5xx"):
            assert by_endpoint[endpoint][column] == classes[column], (endpoint, column)

    pairs = UsageQuery(by=("consumer", "endpoint")).run(pipeline.wh).to_dicts()
    assert {(r["consumer"], r["endpoint"]): r["requests"] for r in pairs} == dict(
        expected.by_consumer_endpoint
    )
    if apis is not None:
        by_api = UsageQuery(by=("api",)).run(pipeline.wh).to_dicts()
        assert {r["api"]: r["requests"] for r in by_api} == dict(apis)


def assert_latencies(
    pipeline, rows: list[dict], events: list[Event], *, upstream_logged: bool
) -> None:
    """Total latency known for every row, in ms: the slow endpoint's within
    [SLOW_MS, SLOW_BOUND_MS), the others' median under FAST_P50_BOUND_MS; the upstream time
    (where the gateway logs one) likewise, unknown when no upstream was reached; the usage
    quantiles within 2 % of the exact ones."""
    assert all(r["latency_ms"] is not None and r["latency_ms"] >= 0 for r in rows)
    slow = [r for r in rows if _slow(r)]
    assert len(slow) == sum(e.slow for e in events) > 0
    for r in slow:
        assert SLOW_MS <= r["latency_ms"] < SLOW_BOUND_MS, r
    fast = [r["latency_ms"] for r in rows if not _slow(r)]
    assert statistics.median(fast) < FAST_P50_BOUND_MS, sorted(fast)[-10:]

    for r in rows:
        if not upstream_logged or not reached_upstream(r["path"], r["status"]):
            assert r["upstream_latency_ms"] is None, r
        else:
            assert r["upstream_latency_ms"] is not None and r["upstream_latency_ms"] >= 0, r
            if _slow(r):
                assert SLOW_MS <= r["upstream_latency_ms"] < SLOW_BOUND_MS, r

    by_endpoint = {
        r["endpoint"]: r for r in UsageQuery(by=("endpoint",)).run(pipeline.wh).to_dicts()
    }
    latencies: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        latencies[r["endpoint"]].append(r["latency_ms"])
    for endpoint, values in latencies.items():
        for q in (0.5, 0.95, 0.99):
            true = exact_quantile(values, q)
            got = by_endpoint[endpoint][f"latency_p{round(q * 100)}_ms"]
            assert abs(got - true) <= QUANTILE_BOUND * true + 0.001, (endpoint, q, got, true)
    slow_row = by_endpoint[SLOW_ENDPOINT]
    for q in ("p50", "p95", "p99"):  # only 200s reach the slow endpoint's upstream
        got = slow_row[f"latency_{q}_ms"]
        assert SLOW_MS * (1 - QUANTILE_BOUND) <= got < SLOW_BOUND_MS, (q, got)


def assert_no_latencies(pipeline, rows: list[dict]) -> None:
    """For logs without timings: unknown, not zero."""
    assert all(r["latency_ms"] is None and r["upstream_latency_ms"] is None for r in rows)
    usage = UsageQuery(by=("endpoint",)).run(pipeline.wh).to_dicts()
    assert all(r["latency_p50_ms"] is None for r in usage)


def _slow(row: dict) -> bool:
    return row["endpoint"] == SLOW_ENDPOINT and reached_upstream(row["path"], row["status"])


def exact_quantile(values: list[float], q: float) -> float:
    """The value of rank ⌈q·n⌉, the definition the warehouse uses."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_common(
    rows: list[dict],
    sent: Sent,
    *,
    gateway: str,
    sources: list[str],
    user_agent: str,
) -> None:
    """Gateway name, client address (stored truncated to its /24, the default privacy
    rule), user agent, one source per line (file:line numbers
    or the syslog source's message numbers, each once) and UTC event times within the
    sending window (seconds-resolution gateways round down)."""
    assert {r["gateway"] for r in rows} == {gateway}
    assert {r["client_ip"] for r in rows} == {"127.0.0.0"}
    assert {r["user_agent"] for r in rows} == {user_agent}
    assert sorted(r["source"] for r in rows) == sorted(sources)
    earliest, latest = sent.started - timedelta(seconds=2), sent.ended + timedelta(seconds=1)
    for r in rows:
        when = r["event_time"]
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        assert earliest <= when <= latest, (r, sent.started, sent.ended)
