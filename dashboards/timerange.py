"""Time ranges of the dashboards: presets, how they resolve against the data, and the bucket.

A preset ("last 24 h") ends at the newest data when that is older than now, so a backfilled
or historical data set still shows; otherwise it ends now. Its bucket follows its length
(minute up to 6 h, hour up to 14 d, else day), and both ends are rounded out to whole
buckets, so every bucket of a chart is complete and `warehouse.queries.UsageQuery` reads
the coarsest rollup that fits. All times are timezone-aware UTC.

    span = DataSpan.from_frame(DataSpanQuery().run(wh))   # None: no data yet
    time_range = resolve("24h", span, datetime.now(UTC))
    UsageQuery(by=(time_range.bucket,), start=time_range.start, end=time_range.end).run(wh)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

MINUTE = timedelta(minutes=1)
BUCKETS: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
_POLARS_INTERVAL = {"minute": "1m", "hour": "1h", "day": "1d"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    length: timedelta | None
    """None: all data."""


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("1h", "Last 1 h", timedelta(hours=1)),
        Preset("24h", "Last 24 h", timedelta(hours=24)),
        Preset("7d", "Last 7 d", timedelta(days=7)),
        Preset("30d", "Last 30 d", timedelta(days=30)),
        Preset("all", "All data", None),
    )
}
DEFAULT_PRESET = "24h"


def bucket_for(length: timedelta) -> str:
    """Minute buckets up to 6 h, hours up to 14 d, days beyond."""
    if length <= timedelta(hours=6):
        return "minute"
    if length <= timedelta(days=14):
        return "hour"
    return "day"


def floor_to(t: datetime, bucket: str) -> datetime:
    """The start of the UTC bucket holding `t`."""
    step = BUCKETS[bucket]
    return _EPOCH + ((t.astimezone(UTC) - _EPOCH) // step) * step


def ceil_to(t: datetime, bucket: str) -> datetime:
    """`t` if it starts a bucket, else the start of the next one."""
    floor = floor_to(t, bucket)
    return floor if floor == t else floor + BUCKETS[bucket]


@dataclass(frozen=True)
class DataSpan:
    """What the warehouse holds: first and last minute with data, and the total events."""

    first: datetime
    last: datetime
    events: int

    @property
    def end(self) -> datetime:
        """The end of the newest minute with data (exclusive)."""
        return self.last + MINUTE

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> DataSpan | None:
        """From a `DataSpanQuery` result; None when the warehouse holds no data yet."""
        if frame.height == 0:
            return None
        row = frame.row(0, named=True)
        if not row["events"] or row["first"] is None or row["last"] is None:
            return None
        return cls(_utc(row["first"]), _utc(row["last"]), int(row["events"]))


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in whole buckets; `until` is where the data (or now) ends inside it."""

    preset: str
    start: datetime
    end: datetime
    bucket: str
    until: datetime

    def bucket_starts(self) -> pl.Series:
        """Every bucket of the range, as UTC datetimes (ms), for gap-free charts."""
        return pl.datetime_range(
            self.start,
            self.end,
            interval=_POLARS_INTERVAL[self.bucket],
            closed="left",
            time_unit="ms",
            time_zone="UTC",
            eager=True,
        ).alias("bucket")

    @property
    def label(self) -> str:
        """A readable description, e.g. "23 Nov 08:00 – 24 Nov 07:28 UTC · per hour"."""
        last_minute = self.until - MINUTE
        fmt = "%d %b %H:%M" if self.start.year == last_minute.year else "%d %b %Y %H:%M"
        return f"{self.start:{fmt}} – {last_minute:{fmt}} UTC · per {self.bucket}"


def resolve(preset: str | None, span: DataSpan, now: datetime) -> TimeRange:
    """The range a preset means now, for data spanning `span` (unknown presets: the default)."""
    choice = PRESETS.get(preset or "", PRESETS[DEFAULT_PRESET])
    now_end = floor_to(now, "minute") + MINUTE
    if choice.length is None:
        bucket = bucket_for(span.end - span.first)
        return TimeRange(
            choice.key,
            floor_to(span.first, bucket),
            ceil_to(span.end, bucket),
            bucket,
            span.end,
        )
    until = min(now_end, span.end)
    bucket = bucket_for(choice.length)
    end = ceil_to(until, bucket)
    return TimeRange(choice.key, end - choice.length, end, bucket, until)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
