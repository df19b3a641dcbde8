"""The data of the overview page, gathered from `warehouse.queries` values only.

Kept out of `dashboards/pages/overview.py` so it imports (and tests) without a Dash app:
Dash runs page files itself and a page cannot be imported before `create_app`.

    overview = load(wh, "7d")        # None: the warehouse holds no data yet
    overview.totals["requests"], overview.series, overview.top_endpoints

A *segment* narrows everything to the calls whose key dimensions have given values, in
`SEGMENT_DIMENSIONS` order: `(("plan", "pro"), ("country", "GB"))`; "" is a value too (the
calls where the dimension is unknown). It travels in the page's query string next to the
range, `?range=7d&plan=pro&country=GB` (`query_string`, `segment_of`), and reaches every
`UsageQuery` as its `where`.

    overview = load(wh, "7d", segment=(("plan", "pro"),))
    filters = load_filters(wh, "7d", segment=(("plan", "pro"),))   # dropdown options
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import polars as pl

from dashboards.timerange import DEFAULT_PRESET, PRESETS, DataSpan, TimeRange, resolve
from warehouse import Warehouse
from warehouse.queries import DataSpanQuery, UsageQuery

TOP_N = 10
OPTIONS_N = 500
"""Values offered per segment filter (busiest first); a selected value is always offered."""
_COUNTS = ("requests", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "consumers")

SEGMENT_DIMENSIONS = ("api", "api_version", "plan", "organisation", "country", "client_family")
"""The dimensions the overview filters on, in the order of the filters and the query string."""
SEGMENT_LABELS = {
    "api": "API",
    "api_version": "API version",
    "plan": "Plan",
    "organisation": "Organisation",
    "country": "Country",
    "client_family": "Client family",
}
NONE = "(none)"
"""How an empty value (the dimension is unknown for those calls) shows."""

Segment = tuple[tuple[str, str], ...]
"""(dimension, value) pairs in `SEGMENT_DIMENSIONS` order, each dimension at most once."""


@dataclass(frozen=True)
class Overview:
    """Everything the overview shows for one range and segment."""

    span: DataSpan
    range: TimeRange
    totals: dict[str, Any] | None
    """The `UsageQuery` row of the whole range; None when it holds no requests."""
    series: pl.DataFrame
    """One row per bucket of the range (`bucket` column), empty buckets as zero requests."""
    top_endpoints: pl.DataFrame
    top_consumers: pl.DataFrame
    by_plan: pl.DataFrame
    by_country: pl.DataFrame
    segment: Segment = ()


def load(
    wh: Warehouse,
    preset: str | None = None,
    now: datetime | None = None,
    segment: Segment = (),
) -> Overview | None:
    """The overview of `preset` (default: last 24 h of data) for the calls of `segment`
    (default: all); None if the warehouse is empty."""
    span = DataSpan.from_frame(DataSpanQuery().run(wh))
    if span is None:
        return None
    tr = resolve(preset, span, now or datetime.now(UTC))

    def usage(*by: str, limit: int | None = None) -> pl.DataFrame:
        return UsageQuery(by=by, start=tr.start, end=tr.end, limit=limit, where=segment).run(wh)

    totals = usage()
    series = (
        tr.bucket_starts()
        .to_frame()
        .join(usage(tr.bucket).rename({tr.bucket: "bucket"}), on="bucket", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in _COUNTS)
        .sort("bucket")
    )
    return Overview(
        span=span,
        range=tr,
        totals=totals.row(0, named=True) if totals.height else None,
        series=series,
        top_endpoints=usage("endpoint", limit=TOP_N),
        top_consumers=usage("consumer", limit=TOP_N),
        by_plan=usage("plan", limit=TOP_N),
        by_country=usage("country", limit=TOP_N),
        segment=segment,
    )


def load_filters(
    wh: Warehouse,
    preset: str | None = None,
    now: datetime | None = None,
    segment: Segment = (),
) -> dict[str, list[tuple[str, int]]]:
    """The values each segment filter offers: (value, requests) present in the range of
    `preset`, busiest first (up to `OPTIONS_N`), whatever the other filters; a value of
    `segment` the range does not hold is offered last, with 0 requests. Empty lists when the
    warehouse is empty."""
    span = DataSpan.from_frame(DataSpanQuery().run(wh))
    if span is None:
        return only_selected(segment)
    tr = resolve(preset, span, now or datetime.now(UTC))
    options = {}
    for d in SEGMENT_DIMENSIONS:
        frame = UsageQuery(by=(d,), start=tr.start, end=tr.end, limit=OPTIONS_N).run(wh)
        present = list(zip(frame[d].to_list(), frame["requests"].to_list(), strict=True))
        options[d] = _with_selected(present, d, segment)
    return options


def only_selected(segment: Segment) -> dict[str, list[tuple[str, int]]]:
    """What the filters offer without data (an empty or unreachable warehouse): the
    selected values, with 0 requests."""
    return {d: _with_selected([], d, segment) for d in SEGMENT_DIMENSIONS}


def _with_selected(
    present: list[tuple[str, int]], dimension: str, segment: Segment
) -> list[tuple[str, int]]:
    selected = dict(segment).get(dimension)
    if selected is None or any(value == selected for value, _ in present):
        return present
    return [*present, (selected, 0)]


def preset_of(query: Mapping[str, Any]) -> str:
    """The range preset of a page's query parameters; the default when missing or unknown."""
    preset = _first(query.get("range"))
    return preset if isinstance(preset, str) and preset in PRESETS else DEFAULT_PRESET


def segment_of(query: Mapping[str, Any]) -> Segment:
    """The segment of a page's query parameters (as Dash Pages passes them to `layout`: a
    string each, a list when repeated, "" when blank): the `SEGMENT_DIMENSIONS` given."""
    segment = []
    for d in SEGMENT_DIMENSIONS:
        value = _first(query.get(d))
        if isinstance(value, str):
            segment.append((d, value))
    return tuple(segment)


def _first(value: Any) -> Any:
    """A repeated query parameter's first value."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def segment_from_values(values: Sequence[str | None]) -> Segment:
    """The segment of the filters' values, one per `SEGMENT_DIMENSIONS` (None: not filtered)."""
    return tuple(
        (d, v) for d, v in zip(SEGMENT_DIMENSIONS, values, strict=False) if isinstance(v, str)
    )


def query_string(preset: str, segment: Segment = ()) -> str:
    """The page's query string for a range and segment: `?range=7d&plan=pro&country=GB`."""
    return "?" + urlencode([("range", preset), *segment])


def describe(segment: Segment) -> str:
    """A readable segment: `Plan: pro, Country: GB` (empty values as "(none)")."""
    return ", ".join(f"{SEGMENT_LABELS[d]}: {v or NONE}" for d, v in segment)
