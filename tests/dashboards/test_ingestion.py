"""The ingestion health page on a real chDB warehouse: exact dead-letter counts per source
stream, format and reason, the range filter, the page's components, and the app over HTTP."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from types import ModuleType

import dash
import polars as pl
import pytest
from dash import html
from dash_tree import (
    body_rows,
    find,
    open_page,
    page_module,
    post_callback,
    table_rows,
    text,
)

import warehouse
from dashboards import create_app, serve
from dashboards.ingestion_data import LATEST_N, load
from processors.sink import DeadLetter, SinkBatch, WarehouseSink
from warehouse.queries import (
    DeadLetterQuery,
    DeadLetterSeriesQuery,
    IngestQuery,
    IngestSpanQuery,
    QueryError,
)

PAGE = "dashboards.pages.ingestion"


# --- helpers ------------------------------------------------------------------------------


def reason_rows(frame) -> list[tuple]:
    return [(r["stream"], r["format"], r["reason"], r["records"]) for r in frame.to_dicts()]


def source_rows(frame) -> list[tuple]:
    return [(r["stream"], r["records"], r["events"], r["dead_letters"]) for r in frame.to_dicts()]


@pytest.fixture
def page(ingest_wh: warehouse.Warehouse) -> ModuleType:
    return page_module(ingest_wh, PAGE)


# --- data: exact counts per source stream, format and reason ------------------------------


def test_totals_are_exact(ingest_wh, known_ingestion):
    k = known_ingestion
    i = load(ingest_wh)
    assert i is not None
    assert i.range.preset == "24h"
    assert i.totals == {
        "records": k.records,
        "events": k.events,
        "dead_letters": k.dead_letters,
        "bad_share": pytest.approx(k.dead_letters / k.records),
        "sources": 3,
        "affected_sources": 3,
    }
    assert i.span.events == k.records + k.old_dead_letters  # everything that ever arrived


def test_counts_per_stream_format_and_reason(ingest_wh, known_ingestion):
    i = load(ingest_wh)
    assert reason_rows(i.reasons) == list(known_ingestion.reasons)
    assert source_rows(i.sources) == list(known_ingestion.sources)
    shares = [round(r["bad_share"], 6) for r in i.sources.to_dicts()]
    assert shares == [round(7 / 1007, 6), round(3 / 237, 6), 1.0]
    assert i.sources["last_dead_letter"].null_count() == 0
    assert i.reasons["last_seen"].max() == i.latest["received_at"].max()


def test_series_counts_every_dead_letter_by_format_in_whole_buckets(ingest_wh, known_ingestion):
    i = load(ingest_wh, "1h")
    assert i.range.bucket == "minute"
    assert i.formats == ["nginx", "kong", ""]
    s = i.series
    assert s.height == 60 * 3  # every minute, for each format
    totals = dict(s.group_by("format").agg(pl.col("records").sum()).iter_rows())
    assert totals == {"nginx": 7, "kong": 3, "": 1}
    assert s.filter(s["format"] == "kong")["bucket"].to_list() == (
        i.range.bucket_starts().to_list()
    )


@pytest.mark.parametrize(
    ("preset", "dead_letters", "not_combined"),
    [("1h", 11, 5), ("24h", 11, 5), ("7d", 15, 9), ("30d", 15, 9), ("all", 15, 9)],
)
def test_range_filter(ingest_wh, known_ingestion, preset, dead_letters, not_combined):
    """The four dead letters received three days ago count only in ranges reaching back."""
    i = load(ingest_wh, preset)
    t = i.totals
    assert t["dead_letters"] == dead_letters
    assert t["records"] == known_ingestion.events + dead_letters
    assert t["bad_share"] == pytest.approx(dead_letters / (known_ingestion.events + dead_letters))
    assert i.reasons.row(0, named=True)["records"] == not_combined
    assert i.reasons["records"].sum() == dead_letters
    assert i.series["records"].sum() == dead_letters
    assert i.latest.height == dead_letters
    assert i.sources.row(0, named=True)["dead_letters"] == dead_letters - 4


def test_queries_filter_by_arrival_time(ingest_wh, known_ingestion):
    now = datetime.now(UTC)
    old = {"start": now - timedelta(days=4), "end": now - timedelta(days=2)}
    assert reason_rows(DeadLetterQuery(summary=True, **old).run(ingest_wh)) == [
        ("access.log", "nginx", "not a combined log line", 4)
    ]
    assert source_rows(IngestQuery(**old).run(ingest_wh)) == [("access.log", 4, 0, 4)]
    assert DeadLetterSeriesQuery("day", **old).run(ingest_wh)["records"].to_list() == [4]
    recent = {"start": now - timedelta(hours=1), "end": now + timedelta(minutes=1)}
    assert source_rows(IngestQuery(**recent).run(ingest_wh)) == list(known_ingestion.sources)
    assert IngestQuery(**recent, limit=1).run(ingest_wh).height == 1
    span = IngestSpanQuery().run(ingest_wh).row(0, named=True)
    assert span["records"] == known_ingestion.records + known_ingestion.old_dead_letters
    assert span["first"] <= now - timedelta(days=3) < span["last"]


def test_latest_dead_letters_newest_first(ingest_wh, known_ingestion):
    latest = load(ingest_wh, "all").latest
    assert latest.height == 15 <= LATEST_N
    assert latest["received_at"].is_sorted(descending=True)
    assert latest.tail(4)["source"].to_list() == [f"access.log:{n}" for n in range(1, 5)]
    kong = latest.filter(latest["source"] == "kong-log:1337#1").row(0, named=True)
    assert kong["record"] == known_ingestion.long_record


def test_queries_bind_every_value():
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    sql, parameters = IngestQuery(start=start, end=end, limit=5).to_sql()
    assert "2026" not in sql
    assert parameters == {
        "start": "2026-03-01 00:00:00.000",
        "end": "2026-03-02 00:00:00.000",
        "limit": 5,
    }
    sql, parameters = DeadLetterSeriesQuery("minute", start, end).to_sql()
    assert "toStartOfMinute(received_at)" in sql and "2026" not in sql
    assert set(parameters) == {"start", "end"}
    with pytest.raises(QueryError, match="unknown bucket"):
        DeadLetterSeriesQuery("week")
    with pytest.raises(QueryError, match="range is empty"):
        IngestQuery(start=end, end=start)
    with pytest.raises(QueryError, match="time zone"):
        DeadLetterSeriesQuery(start=datetime(2026, 3, 1))


# --- the page: components with stable ids -------------------------------------------------


def test_layout_shows_kpis_and_tables(page, known_ingestion):
    root = page.layout()
    assert find(root, "ingestion-range").value == "24h"
    assert text(find(root, "ingestion-kpi-dead-letters")) == "11"
    assert text(find(root, "ingestion-kpi-bad-share")) == "0.88%"
    assert text(find(root, "ingestion-kpi-affected-sources")) == "3"
    kpis = text(find(root, "ingestion-kpis"))
    assert "of 1,245 records received" in kpis and "of 3 sending" in kpis
    assert text(find(root, "ingestion-data-note")).startswith("Records received up to ")
    assert table_rows(find(root, "ingestion-sources")) == [
        ["access.log", "1,007", "1,000", "7", "0.70%"],
        ["kong-log", "237", "234", "3", "1.27%"],
        ["apim.raw-logs/0", "1", "0", "1", "100.00%"],
    ]
    reasons = table_rows(find(root, "ingestion-reasons"))
    expected = [
        [stream, fmt or "(none)", reason, str(n)]
        for stream, fmt, reason, n in known_ingestion.reasons
    ]
    assert [r[:4] for r in reasons] == expected
    assert all(re.fullmatch(r"\d\d [A-Z][a-z]{2} \d\d:\d\d:\d\d", r[4]) for r in reasons)
    assert find(root, "ingestion-graph-dead-letters") is not None
    assert find(root, "ingestion-refresh").interval == 10_000


def test_latest_table_cuts_long_records_and_expands_them(page, known_ingestion):
    table = find(page.layout(), "ingestion-latest")
    rows = body_rows(table)
    assert len(rows) == known_ingestion.dead_letters
    by_source = {text(row.children[1]): row.children[4].children for row in rows}
    assert text(by_source["access.log:1201"]) == "garbage"
    details = by_source["kong-log:1337#0"]
    assert isinstance(details, html.Details)
    summary, full = details.children[0], details.children[1]
    long = known_ingestion.long_record
    assert text(summary) == long[: page.RECORD_PREVIEW] + "…"
    assert full.children == long
    cut = page.record_cell("y" * (page.RECORD_SHOWN + 10))
    assert len(cut.children[1].children) == page.RECORD_SHOWN
    assert "10 more characters" in text(cut.children[2])


def test_chart_stacks_formats_to_the_dead_letters(page):
    fig = find(page.layout(range="1h"), "ingestion-graph-dead-letters").figure
    assert fig.layout.barmode == "stack"
    assert {t.name: sum(t.y) for t in fig.data} == {"nginx": 7, "kong": 3, "(none)": 1}
    assert len(fig.data[0].x) == 60


def test_range_comes_from_the_query_string(page):
    root = page.layout(range="7d")
    assert find(root, "ingestion-range").value == "7d"
    assert text(find(root, "ingestion-kpi-dead-letters")) == "15"
    assert find(page.layout(range="nonsense"), "ingestion-range").value == "24h"


def test_refresh_callback_renders_the_chosen_range(page):
    body, note, latest, key = page.refresh("all", 3)
    assert text(find(body, "ingestion-kpi-dead-letters")) == "15"
    assert text(find(body, "ingestion-kpi-bad-share")) == "1.20%"
    assert "per hour" in text(find(body, "ingestion-range-label"))
    assert note.startswith("Records received up to ")
    assert len(body_rows(find(latest, "ingestion-latest"))) == 15
    assert key.startswith("all|")


def test_refresh_keeps_the_latest_records_while_they_are_unchanged(page, ingest_wh):
    """Re-sending them would collapse a record the user expanded."""
    *_, key = page.refresh("24h", 1)
    body, _note, latest, same_key = page.refresh("24h", 2, key)
    assert (latest, same_key) == (dash.no_update, dash.no_update)
    assert text(find(body, "ingestion-kpi-dead-letters")) == "11"
    letter = DeadLetter("raw/9", 1, 0, "new.log:1", "nginx", "bad", "x")
    WarehouseSink(ingest_wh).write(SinkBatch(dead_letters=[letter]))
    body, _note, latest, new_key = page.refresh("24h", 3, key)
    assert new_key not in (key, dash.no_update)
    assert text(body_rows(find(latest, "ingestion-latest"))[0].children[1]) == "new.log:1"
    assert page.refresh("7d", 4, key)[3].startswith("7d|")  # another range: re-sent


def test_clean_range_says_so_and_lists_the_sources(usage_wh, known):
    page = page_module(usage_wh, PAGE)
    root = page.layout()
    assert text(find(root, "ingestion-kpi-dead-letters")) == "0"
    assert text(find(root, "ingestion-kpi-bad-share")) == "0.00%"
    assert "No bad records" in text(find(root, "ingestion-clean"))
    assert table_rows(find(root, "ingestion-sources")) == [
        ["test", f"{known.requests:,}", f"{known.requests:,}", "0", "0.00%"]
    ]
    assert find(root, "ingestion-latest") is None


def test_only_dead_letters_still_show(empty_wh):
    """A warehouse holding nothing but rejected records is what this page is for."""
    letters = [DeadLetter("raw/0", n, 0, f"app.log:{n}", "nginx", "bad", "x") for n in range(3)]
    WarehouseSink(empty_wh).write(SinkBatch(dead_letters=letters))
    root = page_module(empty_wh, PAGE).layout()
    assert text(find(root, "ingestion-kpi-dead-letters")) == "3"
    assert text(find(root, "ingestion-kpi-bad-share")) == "100.00%"
    assert table_rows(find(root, "ingestion-sources")) == [["app.log", "3", "0", "3", "100.00%"]]


def test_empty_warehouse_says_nothing_received_yet(empty_wh):
    assert load(empty_wh) is None
    page = page_module(empty_wh, PAGE)
    root = page.layout()
    assert "Nothing received yet" in text(find(root, "ingestion-empty"))
    assert find(root, "ingestion-kpi-dead-letters") is None
    body, note, latest, key = page.refresh("all", 1)
    assert find(body, "ingestion-empty") is not None
    assert (note, latest, key) == ("Nothing received yet", None, None)


def test_unreachable_warehouse_is_a_message_not_an_error(tmp_path):
    wh = warehouse.open_chdb(tmp_path / "not-migrated")  # no tables: every query fails
    try:
        root = page_module(wh, PAGE).layout()
        assert "not reachable" in text(find(root, "ingestion-unavailable"))
        assert text(find(root, "ingestion-data-note")) == "Warehouse unavailable"
    finally:
        wh.close()


# --- the app: navigation and the page over HTTP -------------------------------------------


def test_nav_links_both_pages_in_order(ingest_wh):
    shell = create_app(ingest_wh).layout()
    links = [find(shell, {"type": "nav-link", "index": path}) for path in ("/", "/ingestion")]
    assert [(link.href, link.children) for link in links] == [
        ("/", "Overview"),
        ("/ingestion", "Ingestion health"),
    ]
    assert text(shell).index("Overview") < text(shell).index("Ingestion health")


def test_served_page_and_refresh(ingest_wh):
    with serve(create_app(ingest_wh), "127.0.0.1", 0) as server:
        with urllib.request.urlopen(server.url + "_dash-dependencies", timeout=30) as r:
            outputs = [d["output"] for d in json.loads(r.read())]
        assert len(outputs) == len(set(outputs))
        refresh = (
            "..ingestion-content.children...ingestion-data-note.children..."
            "ingestion-latest-box.children...ingestion-latest-key.data.."
        )
        assert refresh in outputs
        page = open_page(server.url, "/ingestion", "?range=7d")
        content = json.dumps(page)
        assert '"ingestion-kpi-dead-letters"' in content and '"15"' in content
        refreshed = post_callback(
            server.url,
            {
                "output": refresh,
                "outputs": [
                    {"id": "ingestion-content", "property": "children"},
                    {"id": "ingestion-data-note", "property": "children"},
                    {"id": "ingestion-latest-box", "property": "children"},
                    {"id": "ingestion-latest-key", "property": "data"},
                ],
                "inputs": [
                    {"id": "ingestion-range", "property": "value", "value": "1h"},
                    {"id": "ingestion-refresh", "property": "n_intervals", "value": 1},
                ],
                "changedPropIds": ["ingestion-refresh.n_intervals"],
                "state": [{"id": "ingestion-latest-key", "property": "data", "value": None}],
            },
        )
        response = refreshed["response"]
        content = json.dumps(response["ingestion-content"])
        assert '"11"' in content and "per minute" in content
        assert "kong-log:1337#2" in json.dumps(response["ingestion-latest-box"])
        assert response["ingestion-latest-key"]["data"].startswith("1h|")
