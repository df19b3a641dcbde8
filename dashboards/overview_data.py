"""The data of the overview page, gathered from `warehouse.queries` values only.

Kept out of `dashboards/pages/overview.py` so it imports (and tests) without a Dash app:
Dash runs page files itself and a page cannot be imported before `create_app`.

    overview = load(wh, "7d")        # None: the warehouse holds no data yet
    overview.totals["requests"], overview.series, overview.top_endpoints
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from dashboards.timerange import DataSpan, TimeRange, resolve
from warehouse import Warehouse
from warehouse.queries import DataSpanQuery, UsageQuery

TOP_N = 10
_COUNTS = ("requests", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "consumers")


@dataclass(frozen=True)
class Overview:
    """Everything the overview shows for one range."""

    span: DataSpan
    range: TimeRange
    totals: dict[str, Any] | None
    """The `UsageQuery` row of the whole range; None when it holds no requests."""
    series: pl.DataFrame
    """One row per bucket of the range (`bucket` column), empty buckets as zero requests."""
    top_endpoints: pl.DataFrame
    top_consumers: pl.DataFrame


def load(wh: Warehouse, preset: str | None = None, now: datetime | None = None) -> Overview | None:
    """The overview of `preset` (default: last 24 h of data); None if the warehouse is empty."""
    span = DataSpan.from_frame(DataSpanQuery().run(wh))
    if span is None:
        return None
    tr = resolve(preset, span, now or datetime.now(UTC))

    def usage(*by: str, limit: int | None = None) -> pl.DataFrame:
        return UsageQuery(by=by, start=tr.start, end=tr.end, limit=limit).run(wh)

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
    )
