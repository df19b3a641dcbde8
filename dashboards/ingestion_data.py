"""The data of the ingestion health page, gathered from `warehouse.queries` values only.

Ingestion is measured by arrival time (`dead_letters.received_at`, `access_events.ingested_at`),
not by event time: a backfill of old logs shows when it arrived, and a warehouse holding
nothing but dead letters still shows (the overview would say "no data yet"). Presets resolve
against what arrived, as the overview's do against the usage data (`dashboards.timerange`).
Good records are counted from the raw events, so only within the raw-event TTL.

    ingestion = load(wh, "7d")         # None: nothing has arrived yet
    ingestion.totals["dead_letters"], ingestion.sources, ingestion.reasons, ingestion.latest
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from dashboards.timerange import DataSpan, TimeRange, resolve
from warehouse import Warehouse
from warehouse.queries import (
    DeadLetterQuery,
    DeadLetterSeriesQuery,
    IngestQuery,
    IngestSpanQuery,
)

REASONS_N = 50
"""Rows of the stream × format × reason table (largest first)."""
LATEST_N = 20
"""Newest dead letters listed with their record."""


@dataclass(frozen=True)
class Ingestion:
    """Everything the ingestion page shows for one range."""

    span: DataSpan
    """What arrived, ever: first and last minute (`events`: rows received, see
    `IngestSpanQuery`; the counts to show are in `totals`)."""
    range: TimeRange
    totals: dict[str, Any]
    """records, events (parsed), dead_letters, bad_share (None without records), sources
    (streams that sent anything) and affected_sources (streams with dead letters)."""
    sources: pl.DataFrame
    """`IngestQuery` rows: one per source stream that sent anything in the range."""
    reasons: pl.DataFrame
    """`DeadLetterQuery(summary=True)` rows: stream, format, reason, records, last_seen."""
    series: pl.DataFrame
    """bucket, format, records: every bucket of the range for every format seen in it."""
    latest: pl.DataFrame
    """`DeadLetterQuery` rows, newest first: received_at, source, format, reason, record."""

    @property
    def formats(self) -> list[str]:
        """Formats with dead letters in the range, most first."""
        if self.series.is_empty():
            return []
        totals = self.series.group_by("format").agg(pl.col("records").sum())
        return totals.sort(["records", "format"], descending=[True, False])["format"].to_list()


def load(wh: Warehouse, preset: str | None = None, now: datetime | None = None) -> Ingestion | None:
    """The ingestion health of `preset` (default: last 24 h); None if nothing has arrived."""
    span = DataSpan.from_frame(IngestSpanQuery().run(wh).rename({"records": "events"}))
    if span is None:
        return None
    tr = resolve(preset, span, now or datetime.now(UTC))
    sources = IngestQuery(start=tr.start, end=tr.end).run(wh)
    dead_letters = int(sources["dead_letters"].sum())
    records = int(sources["records"].sum())
    totals = {
        "records": records,
        "events": int(sources["events"].sum()),
        "dead_letters": dead_letters,
        "bad_share": dead_letters / records if records else None,
        "sources": sources.height,
        "affected_sources": int((sources["dead_letters"] > 0).sum()),
    }

    def letters(summary: bool, limit: int) -> pl.DataFrame:
        return DeadLetterQuery(summary=summary, limit=limit, start=tr.start, end=tr.end).run(wh)

    return Ingestion(
        span=span,
        range=tr,
        totals=totals,
        sources=sources,
        reasons=letters(True, REASONS_N),
        series=_complete(DeadLetterSeriesQuery(tr.bucket, tr.start, tr.end).run(wh), tr),
        latest=letters(False, LATEST_N),
    )


def _complete(series: pl.DataFrame, tr: TimeRange) -> pl.DataFrame:
    """`series` with a zero row for every bucket of the range a format has none in."""
    formats = series.select("format").unique()
    grid = tr.bucket_starts().to_frame().join(formats, how="cross")
    return (
        grid.join(series, on=["bucket", "format"], how="left")
        .with_columns(pl.col("records").fill_null(0).cast(pl.UInt64))
        .sort("bucket", "format")
    )
