"""Queries are values: their SQL and parameters, and their results on a real chDB warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import warehouse
from apim.event import AccessEvent
from processors.pipeline import BatchProcessor, RawMessage
from processors.sink import WarehouseSink
from warehouse.queries import (
    DataSpanQuery,
    DeadLetterQuery,
    QueryError,
    UsageQuery,
    granularity_for,
)


def test_the_coarsest_aligned_rollup_is_read():
    day = datetime(2026, 3, 1, tzinfo=UTC)
    assert granularity_for(None, None, None) == "day"
    assert granularity_for(day, day + timedelta(days=7), None) == "day"
    assert granularity_for(day + timedelta(hours=3), day + timedelta(days=1), None) == "hour"
    assert granularity_for(day + timedelta(minutes=5), None, None) == "minute"
    assert granularity_for(None, None, "minute") == "minute"
    assert granularity_for(day, None, "hour") == "hour"
    with pytest.raises(QueryError):
        granularity_for(day + timedelta(seconds=30), None, None)


def test_usage_sql_binds_every_value_as_a_parameter():
    start = datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    sql, parameters = UsageQuery(by=("consumer", "endpoint"), start=start, limit=10).to_sql()
    assert "FROM usage_day FINAL" in sql
    assert "window_start >= {start:DateTime64(3)}" in sql and "LIMIT {limit:UInt32}" in sql
    assert parameters == {"start": "2026-03-01 00:00:00.000", "limit": 10}
    assert "2026" not in sql


def test_segment_filters_are_bound_parameters():
    segment = (("plan", "pro'; DROP TABLE usage_day --"), ("endpoint", "GET /orders/{id}"))
    sql, parameters = UsageQuery(by=("organisation",), where=segment).to_sql()
    assert "WHERE plan = {where0:String} AND concat(method, ' ', endpoint) = {where1:String}" in sql
    assert parameters == {"where0": segment[0][1], "where1": "GET /orders/{id}"}
    assert "DROP" not in sql and "/orders" not in sql


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(QueryError, match="unknown dimension 'tier'"):
        UsageQuery(by=("tier",))
    with pytest.raises(QueryError, match="cannot filter on 'hour'"):
        UsageQuery(where=(("hour", "1"),))
    with pytest.raises(QueryError, match="at most one"):
        UsageQuery(by=("hour", "day"))
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(QueryError, match="empty"):
        UsageQuery(start=t, end=t)
    with pytest.raises(QueryError, match="time zone"):
        UsageQuery(start=datetime(2026, 1, 1))


def test_migrations_apply_once(wh):
    assert warehouse.migrate(wh, 30) == []
    tables = set(
        wh.query_df("SELECT name FROM system.tables WHERE database = currentDatabase()")["name"]
    )
    assert {"access_events", "usage_minute", "usage_hour", "usage_day", "dead_letters"} <= tables


def _line(consumer: str, minute: int, status: int, latency: int) -> bytes:
    import json

    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minute)
    return json.dumps(
        {
            "request": {"method": "GET", "uri": "/v1/items/7", "size": 10},
            "response": {"status": status, "size": 1000},
            "latencies": {"request": latency, "proxy": latency - 1, "kong": 1},
            "consumer": {"username": consumer},
            "service": {"name": "items"},
            "started_at": int(started.timestamp() * 1000) + 1500,
        }
    ).encode()


def test_usage_results_on_chdb_are_exact(wh):
    lines = [_line("acme", 0, 200, 10)] * 3 + [
        _line("acme", 1, 500, 100),
        _line("globex", 2, 404, 20),
    ]
    processor = BatchProcessor(WarehouseSink(wh), lambda c: "h")
    headers = {"format": b"kong", "source": b"t.log"}
    processor.process(
        [
            RawMessage("raw", 0, 0, b"\n".join(lines), headers),
            RawMessage("raw", 0, 1, b"oops", headers),
        ]
    )

    rows = {r["consumer"]: r for r in UsageQuery(by=("consumer",)).run(wh).to_dicts()}
    assert rows["acme"]["requests"] == 4 and rows["acme"]["status_5xx"] == 1
    assert rows["acme"]["status_2xx"] == 3 and rows["globex"]["status_4xx"] == 1
    assert rows["acme"]["bytes_out"] == 4000
    assert rows["acme"]["latency_p50_ms"] == pytest.approx(10, rel=0.01)
    assert rows["acme"]["latency_p99_ms"] == pytest.approx(100, rel=0.01)
    assert rows["acme"]["upstream_avg_ms"] == pytest.approx((9 * 3 + 99) / 4)

    total = UsageQuery().run(wh).to_dicts()[0]
    assert total["requests"] == 5 and total["consumers"] == 2

    series = UsageQuery(by=("minute",)).run(wh)
    assert series["requests"].to_list()[-1] == 3 and series["requests"].sum() == 5

    span = DataSpanQuery().run(wh).to_dicts()[0]
    assert span["events"] == 5
    letters = DeadLetterQuery(summary=True).run(wh).to_dicts()
    assert letters[0]["records"] == 1 and letters[0]["format"] == "kong"


def test_event_fields_match_the_raw_table(wh):
    columns = set(
        wh.query_df("SELECT name FROM system.columns WHERE table = 'access_events'")["name"]
    )
    assert set(AccessEvent.__struct_fields__) <= columns
