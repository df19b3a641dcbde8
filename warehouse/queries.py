"""Queries as values: each knows its SQL and parameters (`to_sql`) and runs on a `Warehouse`.

Dashboards, the CLI and exports call these; none of them holds SQL. Aggregates are read from
the coarsest rollup (day, hour, minute) whose windows line up with the requested range, so
long ranges stay fast and every count stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from apim.histogram import GAMMA, ZERO_BUCKET
from warehouse.client import Warehouse
from warehouse.schema import USAGE_COUNTERS

TIME_DIMENSIONS = {
    "minute": "toDateTime64(toStartOfMinute(window_start), 0, 'UTC')",
    "hour": "toDateTime64(toStartOfHour(window_start), 0, 'UTC')",
    "day": "toDateTime64(toStartOfDay(window_start), 0, 'UTC')",
}
KEY_DIMENSIONS = {
    "consumer": "consumer",
    "endpoint": "concat(method, ' ', endpoint)",
    "api": "api",
    "method": "method",
    "api_version": "api_version",
    "application": "application",
    "organisation": "organisation",
    "plan": "plan",
    "country": "country",
    "client_family": "client_family",
}
DIMENSIONS = tuple(TIME_DIMENSIONS) + tuple(KEY_DIMENSIONS)
_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
QUANTILES = (0.5, 0.95, 0.99)
USAGE_COLUMNS = (
    "requests",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "bytes_out",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
)


class QueryError(ValueError):
    """A query was asked for with arguments that make no sense; the message says which."""


def ts(value: datetime) -> str:
    """A UTC timestamp as ClickHouse parses it in a `{name:DateTime64(3)}` parameter."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def quantile_sql(hist: str, q: float) -> str:
    """The q-quantile of a merged latency histogram column: the bucket holding rank ⌈q·n⌉."""
    counts = f"mapValues({hist})"
    bucket = (
        f"mapKeys({hist})[arrayFirstIndex(c -> c >= {q!r} * arraySum({counts}), "
        f"arrayCumSum({counts}))]"
    )
    value = f"if({bucket} = {ZERO_BUCKET}, 0, 2 * pow({GAMMA!r}, {bucket}) / ({GAMMA!r} + 1))"
    return f"if(empty({hist}), NULL, round({value}, 3))"


def granularity_for(start: datetime | None, end: datetime | None, bucket: str | None) -> str:
    """The coarsest rollup whose windows align with the range and the time bucket."""
    for granularity in ("day", "hour", "minute"):
        if bucket is not None and _STEP[bucket] < _STEP[granularity]:
            continue
        if all(t is None or _aligned(t, granularity) for t in (start, end)):
            return granularity
    raise QueryError("range boundaries must be whole minutes (UTC)")


def _aligned(t: datetime, granularity: str) -> bool:
    t = t.astimezone(UTC)
    if t.second or t.microsecond:
        return False
    if granularity == "minute":
        return True
    return t.minute == 0 and (granularity == "hour" or t.hour == 0)


class Query:
    """A read of the warehouse: `to_sql()` gives the SQL and its bound parameters (values are
    never formatted into the SQL), `run(wh)` its result."""

    def to_sql(self) -> tuple[str, dict[str, object]]:
        raise NotImplementedError

    def run(self, wh: Warehouse) -> pl.DataFrame:
        sql, parameters = self.to_sql()
        return wh.query_df(sql, parameters)


@dataclass(frozen=True)
class UsageQuery(Query):
    """Usage grouped by any of `DIMENSIONS`, over [start, end), busiest first; `where` keeps
    only the rows whose key dimensions have the given values (a segment: plan "pro" and
    country "DE"; an endpoint is given as "GET /orders/{id}").

    Columns: the group keys, then `USAGE_COLUMNS`, then `status_1xx`, `bytes_in`,
    `spec_unmatched`,
    `consumers` (distinct non-anonymous consumers), `error_rate` (5xx share),
    `client_error_rate` (4xx share) and `latency_avg_ms`, `upstream_avg_ms`, `gateway_avg_ms`.
    """

    by: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int | None = None
    where: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        unknown = [d for d in self.by if d not in DIMENSIONS]
        if unknown:
            raise QueryError(
                f"unknown dimension {unknown[0]!r}: choose from {', '.join(DIMENSIONS)}"
            )
        unknown = [d for d, _ in self.where if d not in KEY_DIMENSIONS]
        if unknown:
            raise QueryError(
                f"cannot filter on {unknown[0]!r}: choose from {', '.join(KEY_DIMENSIONS)}"
            )
        if len([d for d in self.by if d in TIME_DIMENSIONS]) > 1:
            raise QueryError("group by at most one of minute, hour, day")
        if self.start and self.end and self.start >= self.end:
            raise QueryError("the range is empty: --from must be before --to")
        for name, t in (("from", self.start), ("to", self.end)):
            if t is not None and t.tzinfo is None:
                raise QueryError(f"{name}: give a time zone (e.g. 2026-01-01T00:00:00Z)")

    def to_sql(self) -> tuple[str, dict[str, object]]:
        bucket = next((d for d in self.by if d in TIME_DIMENSIONS), None)
        table = f"usage_{granularity_for(self.start, self.end, bucket)}"
        keys = [f"{(TIME_DIMENSIONS | KEY_DIMENSIONS)[d]} AS {d}" for d in self.by]
        where, parameters = _time_filter("window_start", self.start, self.end)
        for i, (dimension, value) in enumerate(self.where):
            where += " AND " if where else " WHERE "
            where += f"{KEY_DIMENSIONS[dimension]} = {{where{i}:String}}"
            parameters[f"where{i}"] = value
        inner = f"SELECT {', '.join([*keys, _SUMS])} FROM {table} FINAL{where}" + (
            f" GROUP BY {', '.join(self.by)}" if self.by else ""
        )
        quantiles = [
            f"{quantile_sql('hist', q)} AS latency_p{round(q * 100)}_ms" for q in QUANTILES
        ]
        order = ", ".join(
            [d for d in self.by if d in TIME_DIMENSIONS] + ["requests DESC", *self.by]
        )
        sql = (
            f"SELECT {', '.join([*self.by, *_OUTER, *quantiles])} FROM ({inner})"
            f" WHERE requests > 0 ORDER BY {order}"
        )
        if self.limit is not None:
            sql += " LIMIT {limit:UInt32}"
            parameters["limit"] = int(self.limit)
        return sql, parameters

    def run(self, wh: Warehouse) -> pl.DataFrame:
        frame = super().run(wh)
        leading = [*self.by, *USAGE_COLUMNS]
        return frame.select(leading + [c for c in frame.columns if c not in leading])


_SUMS = ", ".join(
    [
        *(f"sum({c}) AS {c}" for c in USAGE_COUNTERS),
        "uniqExactIf(consumer, consumer != 'anonymous') AS consumers",
        "sumMap(latency_hist) AS hist",
    ]
)
_OUTER = [
    *(c for c in USAGE_COLUMNS if not c.startswith("latency_p")),
    "status_1xx",
    "bytes_in",
    "spec_unmatched",
    "consumers",
    "round(status_5xx / requests, 6) AS error_rate",
    "round(status_4xx / requests, 6) AS client_error_rate",
    "if(latency_count = 0, NULL, round(latency_sum_ms / latency_count, 3)) AS latency_avg_ms",
    "if(upstream_count = 0, NULL, round(upstream_sum_ms / upstream_count, 3)) AS upstream_avg_ms",
    "if(gateway_count = 0, NULL, round(gateway_sum_ms / gateway_count, 3)) AS gateway_avg_ms",
]


@dataclass(frozen=True)
class DeadLetterQuery(Query):
    """Dead-lettered records, newest first; with `summary`, a count per source stream (the
    file, topic or sender, without the line position), format and reason."""

    summary: bool = False
    limit: int = 100
    start: datetime | None = None
    end: datetime | None = None

    def to_sql(self) -> tuple[str, dict[str, object]]:
        where, parameters = _time_filter("received_at", self.start, self.end)
        parameters["limit"] = self.limit
        if self.summary:
            return (
                f"SELECT {_STREAM} AS stream, format, reason, count() AS records,"
                " max(received_at) AS last_seen"
                f" FROM dead_letters FINAL{where}"
                " GROUP BY stream, format, reason ORDER BY records DESC, stream, reason"
                " LIMIT {limit:UInt32}",
                parameters,
            )
        return (
            "SELECT received_at, source, format, reason,"
            f" record FROM dead_letters FINAL{where}"
            " ORDER BY received_at DESC, source LIMIT {limit:UInt32}",
            parameters,
        )


_STREAM = "replaceRegexpOne(source, '(@[0-9]+)?:[0-9]+(#[0-9]+)?$', '')"
"""The source without its position: `access.log:42#3` -> `access.log`, and a message
without a source header, `raw/0@1337:1` -> `raw/0`."""
_BUCKET_START = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toStartOfDay"}


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start and end and start >= end:
        raise QueryError("the range is empty: --from must be before --to")
    for name, t in (("from", start), ("to", end)):
        if t is not None and t.tzinfo is None:
            raise QueryError(f"{name}: give a time zone (e.g. 2026-01-01T00:00:00Z)")


@dataclass(frozen=True)
class DeadLetterSeriesQuery(Query):
    """Dead letters per time bucket (`minute`, `hour`, `day`) and format, by arrival time,
    over [start, end). Columns: bucket, format, records; buckets without any are left out."""

    bucket: str = "hour"
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.bucket not in _BUCKET_START:
            raise QueryError(
                f"unknown bucket {self.bucket!r}: choose from {', '.join(_BUCKET_START)}"
            )
        _check_range(self.start, self.end)

    def to_sql(self) -> tuple[str, dict[str, object]]:
        where, parameters = _time_filter("received_at", self.start, self.end)
        return (
            f"SELECT toDateTime64({_BUCKET_START[self.bucket]}(received_at), 0, 'UTC') AS bucket,"
            f" format, count() AS records FROM dead_letters FINAL{where}"
            " GROUP BY bucket, format ORDER BY bucket, format",
            parameters,
        )


@dataclass(frozen=True)
class IngestQuery(Query):
    """Records received over [start, end) per source stream (as in `DeadLetterQuery`), by
    arrival time: `events` parsed (raw events, so only within the raw TTL), `dead_letters`
    rejected, their sum `records`, `bad_share` (dead letters / records) and `last_dead_letter`
    (NULL when none). Most dead letters first, then busiest."""

    start: datetime | None = None
    end: datetime | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        _check_range(self.start, self.end)

    def to_sql(self) -> tuple[str, dict[str, object]]:
        events_where, parameters = _time_filter("ingested_at", self.start, self.end)
        letters_where, _ = _time_filter("received_at", self.start, self.end)
        sql = (
            "SELECT stream, sum(good) AS events, sum(bad) AS dead_letters,"
            " events + dead_letters AS records, round(dead_letters / records, 6) AS bad_share,"
            " max(last_bad) AS last_dead_letter FROM ("
            f"SELECT {_STREAM} AS stream, count() AS good, toUInt64(0) AS bad,"
            " CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS last_bad"
            f" FROM access_events FINAL{events_where} GROUP BY stream"
            " UNION ALL "
            f"SELECT {_STREAM} AS stream, toUInt64(0) AS good, count() AS bad,"
            " CAST(max(received_at) AS Nullable(DateTime64(3, 'UTC'))) AS last_bad"
            f" FROM dead_letters FINAL{letters_where} GROUP BY stream"
            ") GROUP BY stream ORDER BY dead_letters DESC, records DESC, stream"
        )
        if self.limit is not None:
            sql += " LIMIT {limit:UInt32}"
            parameters["limit"] = int(self.limit)
        return sql, parameters


@dataclass(frozen=True)
class IngestSpanQuery(Query):
    """First and last minute anything arrived (parsed or dead-lettered) and the rows
    received: what `all data` means by arrival time. Columns: first, last, records.

    Read without FINAL (ten times cheaper on the raw table, and a replayed row leaves min and
    max as they are), so `records` counts a replayed record twice until merged: a "has
    anything arrived" figure, not a count to show; `IngestQuery` counts exactly."""

    def to_sql(self) -> tuple[str, dict[str, object]]:
        return (
            "SELECT toDateTime64(toStartOfMinute(min(t)), 0, 'UTC') AS first,"
            " toDateTime64(toStartOfMinute(max(t)), 0, 'UTC') AS last, count() AS records"
            " FROM (SELECT ingested_at AS t FROM access_events"
            " UNION ALL SELECT received_at AS t FROM dead_letters)",
            {},
        )


def _time_filter(
    column: str, start: datetime | None, end: datetime | None
) -> tuple[str, dict[str, object]]:
    """` WHERE` clause (or "") for [start, end) on `column`, with its bound parameters."""
    conditions: list[str] = []
    parameters: dict[str, object] = {}
    if start is not None:
        conditions.append(f"{column} >= {{start:DateTime64(3)}}")
        parameters["start"] = ts(start)
    if end is not None:
        conditions.append(f"{column} < {{end:DateTime64(3)}}")
        parameters["end"] = ts(end)
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), parameters


@dataclass(frozen=True)
class DataSpanQuery(Query):
    """First and last minute with data, and the total events: what `all data` means."""

    def to_sql(self) -> tuple[str, dict[str, object]]:
        return (
            "SELECT toDateTime64(min(window_start), 0, 'UTC') AS first,"
            " toDateTime64(max(window_start), 0, 'UTC') AS last, sum(requests) AS events"
            " FROM usage_minute FINAL",
            {},
        )


@dataclass(frozen=True)
class UnknownCredentialsQuery(Query):
    """Credentials the registry did not know when their calls were processed (consumer
    `unknown:<hash prefix>`), busiest first, over [start, end) of event time. Columns:
    consumer, credential_hash, gateway, calls, first_seen, last_seen."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        _check_range(self.start, self.end)

    def to_sql(self) -> tuple[str, dict[str, object]]:
        where, parameters = _time_filter("event_time", self.start, self.end)
        where += (" AND " if where else " WHERE ") + "startsWith(consumer, 'unknown:')"
        return (
            "SELECT consumer, credential_hash, any(gateway) AS gateway, count() AS calls,"
            " min(event_time) AS first_seen, max(event_time) AS last_seen"
            f" FROM access_events FINAL{where}"
            " GROUP BY consumer, credential_hash ORDER BY calls DESC, consumer",
            parameters,
        )
