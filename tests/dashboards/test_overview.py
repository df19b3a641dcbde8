"""The overview page on a real chDB warehouse: exact numbers from known usage, time ranges,
the empty and failing warehouse, and the app served over HTTP."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from dash_tree import find, open_page, page_module, post_callback, table_rows, text

import warehouse
from apim.histogram import bucket_of, value_of
from dashboards import create_app, serve
from dashboards.components import fmt_count, fmt_ms, fmt_rate
from dashboards.overview_data import load
from dashboards.timerange import PRESETS, DataSpan, bucket_for, resolve
from warehouse.queries import UsageQuery

PAGE = "dashboards.pages.overview"
FILTER_IDS = (
    "overview-filter-api",
    "overview-filter-api-version",
    "overview-filter-plan",
    "overview-filter-organisation",
    "overview-filter-country",
    "overview-filter-client-family",
)
"""The segment filters, inputs of the refresh callback after the range and the tick."""


# --- helpers ------------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def page(usage_wh: warehouse.Warehouse) -> ModuleType:
    """The overview page module, as Dash loaded it for an app on `usage_wh`."""
    return page_module(usage_wh, PAGE)


@pytest.fixture
def served(usage_wh: warehouse.Warehouse) -> Iterator[str]:
    server = serve(create_app(usage_wh), "127.0.0.1", 0)
    yield server.url
    server.shutdown()


# --- data: exact numbers from the real pipeline pieces ------------------------------------


def test_totals_are_exact(usage_wh, known):
    o = load(usage_wh)
    assert o is not None
    assert o.range.preset == "24h"
    t = o.totals
    assert t["requests"] == known.requests
    assert t["consumers"] == known.consumers
    assert t["status_4xx"] == known.status_4xx
    assert t["status_5xx"] == known.status_5xx
    assert t["error_rate"] == pytest.approx(known.status_5xx / known.requests, abs=1e-6)
    assert t["client_error_rate"] == pytest.approx(known.status_4xx / known.requests, abs=1e-6)
    assert t["latency_p50_ms"] == pytest.approx(value_of(bucket_of(20.0)), abs=1e-3)
    assert t["latency_p95_ms"] == pytest.approx(value_of(bucket_of(80.0)), abs=1e-3)
    assert t["latency_p99_ms"] == pytest.approx(value_of(bucket_of(80.0)), abs=1e-3)
    assert o.span.events == known.requests


def test_top_endpoints_and_consumers_busiest_first(usage_wh, known):
    o = load(usage_wh)
    endpoints = [(r["endpoint"], r["requests"]) for r in o.top_endpoints.iter_rows(named=True)]
    consumers = [(r["consumer"], r["requests"]) for r in o.top_consumers.iter_rows(named=True)]
    assert endpoints == list(known.top_endpoints)
    assert consumers == list(known.top_consumers)
    acme = o.top_consumers.row(0, named=True)
    assert (acme["status_4xx"], acme["status_5xx"]) == (0, 10)


@pytest.mark.parametrize(
    ("preset", "bucket", "buckets"),
    [("1h", "minute", 60), ("24h", "hour", 24), ("7d", "hour", 168), ("30d", "day", 30)],
)
def test_every_preset_counts_everything_in_whole_buckets(usage_wh, known, preset, bucket, buckets):
    o = load(usage_wh, preset)
    assert o.range.bucket == bucket
    assert o.totals["requests"] == known.requests
    s = o.series
    assert s.height == buckets
    assert s["bucket"].to_list() == o.range.bucket_starts().to_list()
    assert s["requests"].sum() == known.requests
    assert s["status_5xx"].sum() == known.status_5xx
    assert s["requests"].null_count() == 0
    assert s["consumers"].max() <= known.consumers


def test_all_data_covers_the_span(usage_wh, known):
    o = load(usage_wh, "all")
    assert o.range.bucket == "minute"
    assert o.range.start <= o.span.first
    assert o.range.end == o.span.end
    assert o.series["requests"].sum() == known.requests


def test_historical_data_still_shows_by_default(old_usage_wh, known):
    """The default range ends at the newest data when that is older than now."""
    o = load(old_usage_wh)
    assert o.range.preset == "24h"
    assert o.range.until == o.span.end
    assert o.range.until < datetime.now(UTC) - timedelta(days=2)
    assert o.totals["requests"] == known.requests
    root = page_module(old_usage_wh, PAGE).layout()
    assert text(find(root, "overview-kpi-requests")) == "1,234"
    note = text(find(root, "overview-data-note"))
    assert note.startswith(f"Data up to {o.span.last:%d %b %Y %H:%M} UTC (3 d ago")


# --- the page: components with stable ids -------------------------------------------------


def test_layout_shows_the_kpis_and_top_tables(page, known):
    root = page.layout()
    assert find(root, "overview-range").value == "24h"
    assert text(find(root, "overview-kpi-requests")) == "1,234"
    assert text(find(root, "overview-kpi-consumers")) == "3"
    assert text(find(root, "overview-kpi-error-rate")) == "0.81%"
    assert text(find(root, "overview-kpi-client-error-rate")) == "1.62%"
    assert text(find(root, "overview-kpi-p50")) == fmt_ms(value_of(bucket_of(20.0)))
    assert text(find(root, "overview-kpi-p99")) == fmt_ms(value_of(bucket_of(80.0)))
    assert text(find(root, "overview-data-note")).startswith("Data up to ")
    endpoints = table_rows(find(root, "overview-top-endpoints"))
    assert [r[:2] for r in endpoints] == [[e, fmt_count(n)] for e, n in known.top_endpoints]
    assert endpoints[1] == ["POST /v1/payments", "400", "20", "0", "80.6"]
    consumers = table_rows(find(root, "overview-top-consumers"))
    assert [r[:2] for r in consumers] == [[c, fmt_count(n)] for c, n in known.top_consumers]
    for graph in ("requests", "errors", "latency", "consumers"):
        assert find(root, f"overview-graph-{graph}") is not None
    assert find(root, "overview-refresh").interval == 10_000


def test_range_comes_from_the_query_string(page):
    assert find(page.layout(range="7d"), "overview-range").value == "7d"
    assert find(page.layout(range="nonsense"), "overview-range").value == "24h"


def test_requests_chart_stacks_status_classes_to_the_total(page, known):
    fig = find(page.layout(range="1h"), "overview-graph-requests").figure
    assert fig.layout.barmode == "stack"
    by_name = {trace.name: sum(trace.y) for trace in fig.data}
    assert by_name == {"2xx": 1204, "3xx": 0, "4xx": known.status_4xx, "5xx": known.status_5xx}
    assert sum(by_name.values()) == known.requests
    assert len(fig.data[0].x) == 60


def test_refresh_callback_renders_the_chosen_range(page, known):
    body, note = page.refresh("1h", 3)
    assert text(find(body, "overview-kpi-requests")) == fmt_count(known.requests)
    assert "per minute" in text(find(body, "overview-range-label"))
    assert note.startswith("Data up to ")


def test_empty_warehouse_says_no_data_yet(empty_wh):
    assert load(empty_wh) is None
    create_app(empty_wh)
    root = sys.modules[PAGE].layout()
    assert "No data yet" in text(find(root, "overview-empty"))
    assert find(root, "overview-kpi-requests") is None
    body, note = sys.modules[PAGE].refresh("all", 1)
    assert find(body, "overview-empty") is not None
    assert note == "No data yet"


def test_unreachable_warehouse_is_a_message_not_an_error(tmp_path):
    wh = warehouse.open_chdb(tmp_path / "not-migrated")  # no tables: every query fails
    try:
        root = page_module(wh, PAGE).layout()
        assert "not reachable" in text(find(root, "overview-unavailable"))
        assert text(find(root, "overview-data-note")) == "Warehouse unavailable"
    finally:
        wh.close()


# --- time ranges --------------------------------------------------------------------------

NOW = utc(2026, 3, 15, 10, 37, 25)
SPAN = DataSpan(first=utc(2026, 3, 1, 0, 0), last=utc(2026, 3, 15, 10, 36), events=5)


@pytest.mark.parametrize(
    ("preset", "bucket", "start", "end", "table"),
    [
        ("1h", "minute", utc(2026, 3, 15, 9, 37), utc(2026, 3, 15, 10, 37), "usage_minute"),
        ("24h", "hour", utc(2026, 3, 14, 11), utc(2026, 3, 15, 11), "usage_hour"),
        ("7d", "hour", utc(2026, 3, 8, 11), utc(2026, 3, 15, 11), "usage_hour"),
        ("30d", "day", utc(2026, 2, 14), utc(2026, 3, 16), "usage_day"),
        ("all", "day", utc(2026, 3, 1), utc(2026, 3, 16), "usage_day"),
    ],
)
def test_presets_resolve_to_whole_buckets(preset, bucket, start, end, table):
    tr = resolve(preset, SPAN, NOW)
    assert (tr.bucket, tr.start, tr.end, tr.until) == (bucket, start, end, SPAN.end)
    sql, _ = UsageQuery(by=(tr.bucket,), start=tr.start, end=tr.end).to_sql()
    assert f"FROM {table} FINAL" in sql
    assert UsageQuery(start=tr.start, end=tr.end).to_sql()[0].count(f"FROM {table} ") == 1


def test_live_data_ranges_end_now_and_old_data_at_its_end():
    live = DataSpan(first=utc(2026, 3, 15), last=utc(2026, 3, 15, 10, 40), events=1)
    assert resolve("1h", live, NOW).until == utc(2026, 3, 15, 10, 38)
    old = DataSpan(first=utc(2025, 6, 1), last=utc(2025, 6, 1, 12, 0), events=1)
    tr = resolve(None, old, NOW)
    assert (tr.preset, tr.start, tr.end) == ("24h", utc(2025, 5, 31, 13), utc(2025, 6, 1, 13))
    assert tr.label == "31 May 13:00 – 01 Jun 12:00 UTC · per hour"


def test_bucket_follows_the_range_length():
    assert bucket_for(timedelta(hours=6)) == "minute"
    assert bucket_for(timedelta(hours=6, minutes=1)) == "hour"
    assert bucket_for(timedelta(days=14)) == "hour"
    assert bucket_for(timedelta(days=14, minutes=1)) == "day"
    assert list(PRESETS) == ["1h", "24h", "7d", "30d", "all"]


def test_span_from_an_empty_warehouse_is_none():
    frame = pl.DataFrame({"first": [utc(1970, 1, 1)], "last": [utc(1970, 1, 1)], "events": [0]})
    assert DataSpan.from_frame(frame) is None


def test_number_formats():
    assert fmt_count(1234) == "1,234"
    assert fmt_rate(10 / 1234) == "0.81%"
    assert (fmt_ms(None), fmt_ms(0.84), fmt_ms(19.9), fmt_ms(412.3)) == (
        "–",
        "0.84 ms",
        "19.9 ms",
        "412 ms",
    )


# --- the app and its server ---------------------------------------------------------------


def test_app_shell_has_title_and_nav_from_the_page_registry(usage_wh):
    app = create_app(usage_wh)
    assert app.title == "API analytics"
    shell = app.layout()
    assert "API analytics" in text(shell)
    link = find(shell, {"type": "nav-link", "index": "/"})
    assert (link.href, link.children) == ("/", "Overview")


def test_serve_on_any_port_then_shut_down(served):
    assert not served.endswith(":0/")
    with urllib.request.urlopen(served, timeout=30) as response:
        assert response.status == 200
        assert "<title>API analytics</title>" in response.read().decode()
    with urllib.request.urlopen(served + "assets/style.css", timeout=30) as response:
        assert response.status == 200


def test_server_shutdown_releases_the_port(usage_wh):
    server = serve(create_app(usage_wh), "127.0.0.1", 0)
    server.shutdown()
    server.shutdown()  # twice is fine
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=5)


def test_served_page_and_refresh_use_the_apps_warehouse(usage_wh, known):
    create_app(usage_wh)  # an earlier app that never served: its callbacks must not linger
    with serve(create_app(usage_wh), "127.0.0.1", 0) as server:
        with urllib.request.urlopen(server.url + "_dash-dependencies", timeout=30) as r:
            outputs = [d["output"] for d in json.loads(r.read())]
        assert len(outputs) == len(set(outputs))
        refresh = "..overview-content.children...overview-data-note.children.."
        assert refresh in outputs
        page = open_page(server.url, "/", "?range=1h")
        assert '"1,234"' in json.dumps(page)
        refreshed = post_callback(
            server.url,
            {
                "output": refresh,
                "outputs": [
                    {"id": "overview-content", "property": "children"},
                    {"id": "overview-data-note", "property": "children"},
                ],
                "inputs": [
                    {"id": "overview-range", "property": "value", "value": "7d"},
                    {"id": "overview-refresh", "property": "n_intervals", "value": 1},
                    *({"id": i, "property": "value", "value": None} for i in FILTER_IDS),
                ],
                "changedPropIds": ["overview-refresh.n_intervals"],
                "state": [],
            },
        )
        content = json.dumps(refreshed["response"]["overview-content"])
        assert '"1,234"' in content
        assert "per hour" in content
        assert refreshed["response"]["overview-data-note"]["children"].startswith("Data up to")


def test_no_network_resources(served):
    with urllib.request.urlopen(served, timeout=30) as response:
        index = response.read().decode()
    assert "http://" not in index.replace(served.rstrip("/"), "")
    assert "https://" not in index
    assert Path(sys.modules["dashboards.app"].__file__).with_name("assets").is_dir()
